"""The attacks on HttpInlet against real local servers: credentials on redirects (http and
https), secrets in repr/metadata/logs, slow-drip and oversized bodies, odd responses."""

import http.server
import json
import logging
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error

import pytest

from databay.inlets import HttpInlet

SECRET_HEADERS = {"Authorization": "Bearer s3cr3t-token", "Cookie": "session=s3cr3t-cookie",
                  "Proxy-Authorization": "Basic s3cr3t-proxy", "X-Api-Key": "s3cr3t-key",
                  "X-Tenant": "s3cr3t-tenant"}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        if path == "/headers":  # what arrived, as JSON
            return self._send(200, "application/json", json.dumps(dict(self.headers)).encode())
        if path == "/to":  # redirect to the URL in the query
            self.send_response(302)
            self.send_header("Location", query)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if path == "/drip":  # 40 bytes, one every 0.25 s: 10 s in all
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                if self.server.stop.wait(0.25):
                    return None
                self.wfile.write(b" ")
                self.wfile.flush()
            return None
        if path == "/drip-headers":  # the status line and headers, one byte every 0.25 s
            self.close_connection = True
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 4:
                if self.server.stop.wait(0.25):
                    return None
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            return None
        if path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(1_500_000_000))
            self.end_headers()
            self.wfile.write(b"x" * 1024)
            return None
        if path == "/huge-chunked":  # no length: 3 MB in chunks
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            for _ in range(48):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if path == "/incomplete":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"[1, 2")
            self.close_connection = True
            return None
        routes = {
            "/bogus-charset": ("text/plain; charset=no-such-charset", b"hello"),
            "/bad-utf8": ("text/plain; charset=utf-8", b"caf\xff"),
            "/deep": ("application/json", b"[" * 100_000 + b"]" * 100_000),
        }
        kind, body = routes.get(path, ("text/plain", b"unknown"))
        return self._send(200, kind, body)

    def _send(self, status, kind, body):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Quiet."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _serve(context=None):
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stop = threading.Event()
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    scheme = "https" if context is not None else "http"
    return server, thread, "%s://127.0.0.1:%d" % (scheme, server.server_address[1])


@pytest.fixture
def servers():
    """Two plain HTTP servers on different ports (two origins): yields their base URLs."""
    started = [_serve(), _serve()]
    yield [url for _, _, url in started]
    for server, thread, _ in started:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def tls_server(tmp_path):
    """An HTTPS server with a fresh self-signed certificate for 127.0.0.1: (url, cert path)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server, thread, url = _serve(context)
    yield url, str(cert)
    server.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


def _headers_after(inlet, update):
    return {name.lower(): value for name, value in inlet.pull(update).items()}


def test_same_origin_redirect_keeps_credentials(servers, update):
    """A redirect within one origin keeps every header."""
    first, _ = servers
    inlet = HttpInlet(first + "/to?" + first + "/headers", headers=SECRET_HEADERS)
    got = _headers_after(inlet, update)
    assert got["authorization"] == SECRET_HEADERS["Authorization"]
    assert got["x-tenant"] == SECRET_HEADERS["X-Tenant"]


def test_redirect_to_another_host_drops_credentials(servers, update):
    """A redirect to another origin (another port) drops Authorization, Cookie,
    Proxy-Authorization, secret-looking headers and the ones named in secrets."""
    first, second = servers
    inlet = HttpInlet(first + "/to?" + second + "/headers",
                      headers={**SECRET_HEADERS, "X-Plain": "kept"}, secrets=["X-Tenant"])
    got = _headers_after(inlet, update)
    assert got["x-plain"] == "kept"
    leaked = [name for name in SECRET_HEADERS if name.lower() in got]
    assert leaked == []


def test_https_to_http_redirect_drops_credentials(tls_server, servers, update):
    """From https to plain http (another origin) the credentials are never sent."""
    url, cert = tls_server
    inlet = HttpInlet(url + "/to?" + servers[0] + "/headers", cacert=cert,
                      headers={**SECRET_HEADERS, "X-Plain": "kept"}, secrets=["x-tenant"])
    got = _headers_after(inlet, update)
    assert got["x-plain"] == "kept"
    assert not [name for name in SECRET_HEADERS if name.lower() in got]
    direct = HttpInlet(url + "/headers", cacert=cert, headers=SECRET_HEADERS)
    assert _headers_after(direct, update)["authorization"] == SECRET_HEADERS["Authorization"]


def test_secrets_are_redacted_in_repr_metadata_and_logs(servers, update, caplog):
    """API keys in params or in the URL never show in repr, __inlet__, or log lines."""
    first, _ = servers
    inlet = HttpInlet("http://user:s3cr3t-password@127.0.0.1:1/x?api_key=s3cr3t-url&page=2",
                      params={"access_token": "s3cr3t-param", "q": "visible"},
                      headers=SECRET_HEADERS, timeout=5)
    shown = repr(inlet) + str(inlet.new_record(1).metadata)
    assert "s3cr3t" not in shown
    assert "page=2" in shown and "visible" in shown and "user" in shown
    caplog.set_level(logging.DEBUG, logger="databay")
    with pytest.raises(urllib.error.URLError) as info:
        inlet.pull(update)
    assert "127.0.0.1:1" in str(info.value)
    assert "s3cr3t" not in str(info.value) + caplog.text


def test_slow_drip_body_respects_the_total_deadline(servers, update):
    """A server dripping one byte every 0.25 s (10 s in all) is cut at timeout=1: TimeoutError
    naming the URL, well before the body would have ended."""
    inlet = HttpInlet(servers[0] + "/drip", timeout=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="/drip"):
        inlet.pull(update)
    assert time.monotonic() - started < 6


def test_slow_drip_headers_respect_the_total_deadline(servers, update, tls_server):
    """A server dripping its status line and headers (each byte well within the per-read
    timeout) is cut at timeout=1 too, over http and https."""
    for url, cert in ((servers[0], None), tls_server):
        inlet = HttpInlet(url + "/drip-headers", timeout=1, cacert=cert)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="/drip-headers"):
            inlet.pull(update)
        assert time.monotonic() - started < 6


def test_oversized_declared_body_is_refused_without_reading(servers, update):
    """A 1.5 GB Content-Length above max_bytes is refused at once, naming the URL."""
    with pytest.raises(ValueError, match="huge-declared.*max_bytes=1048576"):
        HttpInlet(servers[0] + "/huge-declared", max_bytes=1 << 20).pull(update)


def test_oversized_chunked_body_stops_at_max_bytes(servers, update):
    """A body without a length is read only up to max_bytes, then refused naming the URL."""
    with pytest.raises(ValueError, match="huge-chunked.*longer than max_bytes"):
        HttpInlet(servers[0] + "/huge-chunked", max_bytes=1 << 20).pull(update)
    assert len(HttpInlet(servers[0] + "/huge-chunked", json=False).pull(update)) == 48 * 65536


@pytest.mark.parametrize("route, error, words", [
    ("/incomplete", ConnectionError, "IncompleteRead"),
    ("/bogus-charset", ValueError, "no-such-charset"),
    ("/bad-utf8", ValueError, "not valid utf-8"),
    ("/deep", ValueError, "nested too deeply"),
])
def test_odd_responses_raise_errors_naming_the_url(servers, update, route, error, words):
    """Truncated bodies, unknown charsets, bad bytes and absurdly deep JSON each raise an error
    naming the URL and what went wrong (not a bare IncompleteRead/LookupError/...)."""
    json_mode = route in ("/incomplete", "/deep")
    with pytest.raises(error) as info:
        HttpInlet(servers[0] + route, json=json_mode).pull(update)
    assert servers[0] + route in str(info.value) and words in str(info.value)


def test_deep_json_batch_fails_only_the_deep_record(update):
    """A batch with a payload nested deeper than the recursion limit (JSON 700 deep already
    was on 3.11) between healthy records: the outlet still gets the healthy ones; the deep
    one is reported, not delivered."""
    from databay import Inlet, Link, Outlet

    deep: list = []
    for _ in range(sys.getrecursionlimit() + 100):  # built without recursion
        deep = [deep]

    class Mixed(Inlet):
        def pull(self, update):
            return [{"n": 1}, deep, {"n": 2}]

    class Keep(Outlet):
        def __init__(self):
            super().__init__()
            self.payloads = []

        def push(self, records, update):
            self.payloads.extend(record.payload for record in records)

    outlet = Keep()
    with pytest.raises(TypeError, match="cannot be deep-copied"):
        Link(Mixed(), outlet, interval=1).transfer()
    assert outlet.payloads == [{"n": 1}, {"n": 2}]
