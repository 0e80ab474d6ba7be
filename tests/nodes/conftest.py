"""Fixtures for the built-in node tests: a real HTTP server, records, a planner run."""

from __future__ import annotations

import http.server
import json
import sys
import threading

import pytest

from databay import Inlet, Link, Record, Update
from databay.planners import SchedulePlanner


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes of the test server; ``server.release`` lets /slow answer."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        path, _, query = self.path.partition("?")
        routes = {
            "/json": (200, "application/json", json.dumps({"a": 1, "b": [1, 2]}).encode()),
            "/json-list": (200, "application/json", b"[1, 2, 3]"),
            "/text": (200, "text/plain; charset=latin-1", "caf\xe9 ok".encode("latin-1")),
            "/empty": (200, "text/plain", b""),
            "/bad-json": (200, "application/json", b"<html>not json</html>"),
            "/404": (404, "text/plain", b"no such thing"),
            "/500": (500, "text/plain", b"server broke"),
        }
        if path == "/echo":
            body = json.dumps({"query": query,
                               "agent": self.headers.get("X-Test", "")}).encode()
            return self._send(200, "application/json", body)
        if path == "/slow":
            self.server.arrived.release()
            self.server.release.wait(10)
            return self._send(200, "application/json", b"{}")
        if path == "/redirect":
            return self._redirect("/json")
        if path == "/redirect-ftp":
            return self._redirect("ftp://127.0.0.1/secret")
        status, kind, body = routes.get(path, (404, "text/plain", b"unknown route"))
        self._send(status, kind, body)

    def _send(self, status, kind, body):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        """Keep the test output quiet."""


class _QuietServer(http.server.ThreadingHTTPServer):
    """Ignores clients that hang up early (the timeout tests do that on purpose)."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class ServerInfo:
    """What http_server yields: ``url`` (base URL), ``release`` (an Event letting /slow
    answer) and ``arrived`` (a Semaphore released as each /slow request arrives)."""

    def __init__(self, url, release, arrived):
        self.url = url
        self.release = release
        self.arrived = arrived


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 in a background thread; yields a ServerInfo."""
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.release = threading.Event()
    server.arrived = threading.Semaphore(0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="test-http", daemon=True)
    thread.start()
    try:
        yield ServerInfo("http://127.0.0.1:%d" % server.server_address[1], server.release,
                         server.arrived)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def update():
    """A plain Update for calling pull/push by hand."""
    return Update(tags=["test"], transfer_number=0)


@pytest.fixture
def make_records():
    """``make_records(payloads, **metadata)``: one Record per payload, each with its own metadata dict."""
    def make(payloads, **metadata):
        return [Record(payload, dict(metadata)) for payload in payloads]
    return make


class CountingInlet(Inlet):
    """Returns ``per_pull`` dict records per pull; ``enough`` is set after ``target`` pulls."""

    def __init__(self, per_pull=3, target=4, metadata=None):
        super().__init__(metadata)
        self.per_pull = per_pull
        self.target = target
        self.pulls = 0
        self.produced = 0
        self.enough = threading.Event()
        self._lock = threading.Lock()

    def pull(self, update):
        with self._lock:
            self.pulls += 1
            start = self.produced
            self.produced += self.per_pull
            if self.pulls >= self.target:
                self.enough.set()
        return [{"n": start + i, "pull": self.pulls} for i in range(self.per_pull)]


@pytest.fixture
def counting_inlet():
    """Factory for CountingInlet(per_pull=3, target=4, metadata=None)."""
    return CountingInlet


@pytest.fixture
def run_planner():
    """``run_planner(links, inlet)``: run a SchedulePlanner in the background until
    ``inlet.enough`` is set (generous 20 s bound), then shut it down (flush + on_shutdown)."""
    def run(links, inlet):
        with SchedulePlanner(links):
            assert inlet.enough.wait(20), "the planner did not run enough transfers"
    return run


@pytest.fixture
def link_factory():
    """``link_factory(inlets, outlets, **kwargs)``: a Link with a short interval (0.01 s)."""
    def make(inlets, outlets, **kwargs):
        kwargs.setdefault("interval", 0.01)
        return Link(inlets, outlets, **kwargs)
    return make
