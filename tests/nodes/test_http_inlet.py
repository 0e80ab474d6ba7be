"""HttpInlet against a real http.server on 127.0.0.1."""

import time
import urllib.error

import pytest

from databay import Link, Outlet
from databay.inlets import HttpInlet


class _Collect(Outlet):
    def __init__(self):
        super().__init__()
        self.payloads = []

    def push(self, records, update):
        self.payloads.extend(record.payload for record in records)


def test_json_object_is_one_record(http_server, update):
    """A JSON object body becomes the parsed dict (one record)."""
    inlet = HttpInlet(http_server.url + "/json")
    payload = inlet.pull(update)
    assert payload == {"a": 1, "b": [1, 2]}
    assert len(inlet._to_records(payload)) == 1


def test_json_array_is_one_record_per_element(http_server, update):
    """A JSON array body gives one record per element (pull-return rules)."""
    inlet = HttpInlet(http_server.url + "/json-list")
    assert [r.payload for r in inlet._to_records(inlet.pull(update))] == [1, 2, 3]


def test_text_uses_declared_charset(http_server, update):
    """json=False returns the body decoded with the Content-Type charset."""
    assert HttpInlet(http_server.url + "/text", json=False).pull(update) == "café ok"


def test_empty_body_gives_no_records(http_server, update):
    """An empty body returns [] in both JSON and text mode."""
    assert HttpInlet(http_server.url + "/empty").pull(update) == []
    assert HttpInlet(http_server.url + "/empty", json=False).pull(update) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_names_status_and_url(http_server, update, status):
    """An error status raises HTTPError whose code is the status and whose message has the URL."""
    url = "%s/%d" % (http_server.url, status)
    with pytest.raises(urllib.error.HTTPError) as info:
        HttpInlet(url).pull(update)
    assert info.value.code == status
    assert url in str(info.value) and str(status) in str(info.value)
    assert info.value.read()  # the error body stays readable


def test_invalid_json_is_a_value_error_naming_url(http_server, update):
    """A body that is not JSON raises ValueError naming the URL and suggesting json=False."""
    with pytest.raises(ValueError, match="bad-json.*json=False"):
        HttpInlet(http_server.url + "/bad-json").pull(update)


def test_slow_server_times_out(http_server, update):
    """A server slower than timeout raises TimeoutError naming the URL, within a generous bound."""
    inlet = HttpInlet(http_server.url + "/slow", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="/slow"):
        inlet.pull(update)
    assert time.monotonic() - started < 8


def test_unreachable_server_is_url_error(update):
    """A refused connection raises URLError naming the URL."""
    import socket

    with socket.socket() as sock:  # find a free port, then close it: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = "http://127.0.0.1:%d/x" % port
    with pytest.raises(urllib.error.URLError, match=url):
        HttpInlet(url, timeout=5).pull(update)


def test_params_and_headers_are_sent(http_server, update):
    """params are URL-encoded into the query (after an existing one) and headers are sent."""
    inlet = HttpInlet(http_server.url + "/echo?x=1", params={"q": "a b", "n": [1, 2]},
                      headers={"X-Test": "yes"})
    assert inlet.pull(update) == {"query": "x=1&q=a+b&n=1&n=2", "agent": "yes"}


def test_redirects_are_followed_only_to_http(http_server, update):
    """An http redirect is followed; a redirect to ftp:// is refused with URLError."""
    assert HttpInlet(http_server.url + "/redirect").pull(update) == {"a": 1, "b": [1, 2]}
    with pytest.raises(urllib.error.URLError):
        HttpInlet(http_server.url + "/redirect-ftp").pull(update)


def test_pulls_of_one_link_run_concurrently(http_server):
    """Two blocking HttpInlet pulls of one link are in flight at the same time."""
    import threading

    outlet = _Collect()
    link = Link([HttpInlet(http_server.url + "/slow", timeout=20) for _ in range(2)], outlet,
                interval=1)
    worker = threading.Thread(target=link.transfer)
    worker.start()
    try:
        # /slow answers only after release, so both requests arriving proves concurrency.
        assert http_server.arrived.acquire(timeout=10)
        assert http_server.arrived.acquire(timeout=10), "second pull did not start while first waited"
    finally:
        http_server.release.set()
        worker.join(20)
    assert outlet.payloads == [{}, {}]


def test_is_a_sync_pull():
    """HttpInlet.pull is a plain def, so it runs on a worker thread, not on an event loop."""
    assert HttpInlet("http://example.invalid/")._uses_coroutine is False


@pytest.mark.parametrize("kwargs, error, name", [
    ({"url": "ftp://example.com/x"}, ValueError, "url"),
    ({"url": "file:///etc/passwd"}, ValueError, "url"),
    ({"url": "http://"}, ValueError, "url"),
    ({"url": b"http://x"}, TypeError, "url"),
    ({"url": "http://x", "json": "yes"}, TypeError, "json"),
    ({"url": "http://x", "cacert": 3}, TypeError, "cacert"),
    ({"url": "http://x", "params": "q=1"}, TypeError, "params"),
    ({"url": "http://x", "headers": ["X: 1"]}, TypeError, "headers"),
    ({"url": "http://x", "timeout": 0}, ValueError, "timeout"),
    ({"url": "http://x", "timeout": "5"}, TypeError, "timeout"),
    ({"url": "http://x", "timeout": 1e300}, ValueError, "timeout"),
    ({"url": "http://x", "timeout": float("nan")}, ValueError, "timeout"),
    ({"url": "http://x", "timeout": True}, TypeError, "timeout"),
    ({"url": "http://x", "max_bytes": 0}, ValueError, "max_bytes"),
    ({"url": "http://x", "max_bytes": 1.5}, TypeError, "max_bytes"),
    ({"url": "http://x", "secrets": "X-Key"}, TypeError, "secrets"),
    ({"url": "http://x", "metadata": 1}, TypeError, "metadata"),
])
def test_bad_arguments_name_the_parameter(kwargs, error, name):
    """Each bad argument (including a non-http scheme) raises at construction naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        HttpInlet(**kwargs)


def test_cacert_missing_file_fails_at_construction(tmp_path):
    """A cacert path that does not exist fails at construction with ValueError naming it."""
    with pytest.raises(ValueError, match="^cacert=.*missing.pem.*not an existing file"):
        HttpInlet("https://127.0.0.1/", cacert=str(tmp_path / "missing.pem"))


def test_cacert_that_is_not_pem_fails_at_construction(tmp_path):
    """A cacert file that is not a CA bundle fails at construction with ValueError naming it."""
    path = tmp_path / "junk.pem"
    path.write_text("not a certificate", encoding="utf-8")
    with pytest.raises(ValueError, match="^cacert=.*junk.pem"):
        HttpInlet("https://127.0.0.1/", cacert=str(path))


def test_cacert_false_means_default(update):
    """cacert=False is accepted as in 0.3.0 and means the default trust store."""
    assert HttpInlet("https://127.0.0.1/", cacert=False).cacert is None
