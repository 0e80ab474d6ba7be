"""Fixtures for the 0.3.0 compatibility tests: a small local JSON server."""

from __future__ import annotations

import http.server
import json
import threading

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    """``/json`` answers a JSON object, ``/500`` a server error, anything else 404."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.startswith("/json"):
            status, body = 200, json.dumps({"answer": 42}).encode()
        elif self.path.startswith("/500"):
            status, body = 500, b"server broke"
        else:
            status, body = 404, b"no such thing"
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        """Keep the test output quiet."""


@pytest.fixture
def json_server():
    """Base URL of a JSON server on 127.0.0.1, shut down after the test."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, name="compat-http", daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
