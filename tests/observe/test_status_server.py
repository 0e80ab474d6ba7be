"""planner.serve_status(): real HTTP requests (urllib) against a running planner's server."""

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest

from databay import Link
from databay.planners import SchedulePlanner


def _get(url):
    """(status, headers, body) of a GET, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def two_links(obs):
    ok = Link(obs.CountInlet(size=2), obs.KeepOutlet("ok"), interval=3600, tags=["orders"])
    bad = Link(obs.CountInlet(), obs.KeepOutlet("db", failing=True), interval=3600, tags=["weather"])
    return ok, bad


def test_routes_answer_while_the_planner_runs_and_the_server_stops_with_it(two_links):
    """/stats, /metrics, /healthz and / answer; after shutdown() the port is closed."""
    planner = SchedulePlanner(list(two_links), immediate_transfer=False, ignore_exceptions=True)
    server = planner.serve_status(port=0)
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.url == "http://127.0.0.1:%d/" % server.port
    code, _, body = _get(server.url + "healthz")
    assert code == 503 and "not running" in json.loads(body)["problems"][0]  # not started yet
    with planner:
        planner.force_transfer()
        code, headers, body = _get(server.url + "stats")
        assert code == 200 and headers["Content-Type"] == "application/json"
        stats = json.loads(body)
        assert [link["name"] for link in stats["links"]] == ["orders", "weather"]
        assert stats["links"][0]["transfers"]["succeeded"] == 1
        code, headers, body = _get(server.url + "metrics")
        assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b'databay_transfers_total{link="weather",result="failed"} 1' in body
        code, _, body = _get(server.url + "healthz")
        assert code == 200 and json.loads(body)["status"] == "ok"  # failing for < 60 s
        code, headers, body = _get(server.url)
        assert code == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert b'data-link="orders" data-health="ok"' in body
        assert b'data-link="weather" data-health="failing"' in body
        code, _, body = _get(server.url + "nope")
        assert code == 404 and b"/healthz" in body
    assert server.closed
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_healthz_turns_503_when_a_link_fails_longer_than_the_threshold(two_links):
    """unhealthy_after=0: the failing link makes /healthz 503 and says which link and why."""
    planner = SchedulePlanner(list(two_links), immediate_transfer=False, ignore_exceptions=True)
    with planner:
        server = planner.serve_status(port=0, unhealthy_after=0)
        planner.force_transfer()
        code, _, body = _get(server.url + "healthz")
    answer = json.loads(body)
    assert code == 503 and answer["status"] == "unhealthy"
    assert len(answer["problems"]) == 1
    assert answer["problems"][0].startswith("link weather has been failing for")
    assert "ValueError: database db refused the batch" in answer["problems"][0]


def test_page_is_self_contained_and_escapes_what_it_shows(obs):
    """No external asset on the page; a node name with markup is shown as text."""
    class Sneaky(type(obs.KeepOutlet())):
        def __repr__(self):
            return "<script>alert(1)</script>"

    link = Link(obs.CountInlet(), Sneaky(failing=True), interval=3600, tags=["x<y>"])
    planner = SchedulePlanner(link, immediate_transfer=False, ignore_exceptions=True)
    with planner:
        planner.force_transfer()
        server = planner.serve_status()
        _, _, body = _get(server.url)
    page = body.decode("utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "x&lt;y&gt;" in page
    for attribute in ("src=", "href=", "@import", "url("):
        assert attribute not in page, attribute
    assert page.count("<script>") == 1  # the page's own refresh script
    assert "<svg" in page


def test_a_remote_address_must_be_asked_for(two_links):
    """Non-loopback hosts are refused unless allow_remote=True (then they are served)."""
    planner = SchedulePlanner(list(two_links))
    for host in ("0.0.0.0", "", "::", "example.invalid", "10.1.2.3"):
        with pytest.raises((ValueError, TypeError), match="host="):
            planner.serve_status(host=host, port=0)
    server = planner.serve_status(host="0.0.0.0", port=0, allow_remote=True)
    try:
        code, _, _ = _get("http://127.0.0.1:%d/stats" % server.port)
        assert code == 200
    finally:
        server.close()
    for host in ("localhost", "127.0.0.2", "::1"):
        try:
            server = planner.serve_status(host=host, port=0)
        except OSError as error:  # e.g. no IPv6 on this machine
            pytest.skip("cannot bind %s here: %s" % (host, error))
        server.close()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"port": "8080"}, TypeError, "port='8080'"),
    ({"port": True}, TypeError, "port=True"),
    ({"port": 70000}, ValueError, "port=70000: expected an int from 0 to 65535"),
    ({"allow_remote": "yes"}, TypeError, "allow_remote='yes': expected True or False"),
    ({"unhealthy_after": -1}, ValueError, "unhealthy_after=-1"),
    ({"unhealthy_after": "60"}, TypeError, "unhealthy_after='60'"),
    ({"host": None}, TypeError, "host=None"),
])
def test_bad_arguments_are_refused_with_clear_messages(two_links, kwargs, error, message):
    planner = SchedulePlanner(list(two_links))
    with pytest.raises(error, match=message.replace("(", r"\(").replace("[", r"\[")):
        planner.serve_status(**kwargs)


def test_a_taken_port_raises_and_close_is_idempotent(two_links):
    planner = SchedulePlanner(list(two_links))
    first = planner.serve_status()
    try:
        with pytest.raises(OSError):
            planner.serve_status(port=first.port)
    finally:
        first.close()
        first.close()
    assert first.closed and "closed" in repr(first)


def test_concurrent_requests_are_served(two_links):
    """Several clients at once all get answers (one thread per request)."""
    planner = SchedulePlanner(list(two_links))
    with planner.serve_status() as server:
        codes = []

        def fetch():
            codes.append(_get(server.url + "metrics")[0])

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert codes == [200] * 8
