"""``planner.serve_status()``: a small HTTP server showing what a planner is doing.

Standard library ``http.server`` on its own daemon thread; one thread per
request, so a slow client never holds up another. Routes:

``/``         the status page (self-contained HTML, refreshes itself)
``/stats``    ``planner.stats()`` as JSON
``/metrics``  Prometheus text format (:mod:`databay.metrics`)
``/healthz``  200 while the planner runs and no link has been failing for longer
              than ``unhealthy_after`` seconds; 503 otherwise (JSON says why)

Only loopback addresses are served unless ``allow_remote=True``: the pages
show node names and error messages, which may be private. The server stops
when the planner stops, or with :meth:`StatusServer.close`.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from ._log import get_logger
from ._status_page import render_page
from .metrics import CONTENT_TYPE, render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

_LOGGER = get_logger("databay.status")

_PAGE_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'")


class StatusServer:
    """A running status server; ``url``, ``host`` and ``port`` say where it listens.

    Args:
        planner: the planner to show.
        host: the address to bind; loopback (``127.0.0.1``, ``::1``,
            ``localhost``) unless ``allow_remote`` is True.
        port: the TCP port; 0 picks a free one (read it back from ``port``).
        allow_remote: bind to a non-loopback address, which makes the pages
            visible to the network (default False).
        unhealthy_after: seconds a link may keep failing before ``/healthz``
            answers 503 (default 60).

    Raises:
        TypeError / ValueError: an argument is out of range (the message names it).
        OSError: the address cannot be bound (e.g. the port is taken).
    """

    def __init__(self, planner: Any, host: str = "127.0.0.1", port: int = 0, *,
                 allow_remote: bool = False, unhealthy_after: float = 60.0) -> None:
        _check_args(host, port, allow_remote, unhealthy_after)
        self.planner = planner
        self.unhealthy_after = float(unhealthy_after)
        host = host.strip("[]")
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.status = self  # type: ignore[attr-defined]
        address = self._server.server_address
        self.host: str = str(address[0])
        self.port: int = int(address[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="databay-status", daemon=True)
        self._thread.start()
        _LOGGER.info("Status page of %r on %s", planner, self.url)

    @property
    def address(self) -> Tuple[str, int]:
        """``(host, port)`` the server is bound to."""
        return self.host, self.port

    @property
    def url(self) -> str:
        """The status page's URL, e.g. ``http://127.0.0.1:8000/``."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d/" % (host, self.port)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop serving and release the port; idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        if threading.current_thread() is not self._thread:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        _LOGGER.info("Status server on %s stopped", self.url)

    def __enter__(self) -> StatusServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def health(self) -> Tuple[int, Dict[str, Any]]:
        """The ``/healthz`` answer: HTTP status and a JSON-ready body."""
        stats = self.planner.stats()
        problems = []
        if not stats["planner"]["running"]:
            problems.append("the planner is %s, not running" % (stats["planner"]["state"] or "stopped"))
        for link in stats["links"]:
            failing_for = _failing_for(link, stats["planner"]["time"])
            if failing_for is not None and failing_for > self.unhealthy_after:
                error = link["last_error"] or {}
                problems.append("link %s has been failing for %.0f s (last error: %s: %s)"
                                % (link["name"], failing_for, error.get("type"), error.get("message")))
        body = {"status": "unhealthy" if problems else "ok", "problems": problems,
                "unhealthy_after_seconds": self.unhealthy_after, "links": stats["planner"]["health"]}
        return (503 if problems else 200), body

    def __repr__(self) -> str:
        return "StatusServer(%s%s)" % (self.url, ", closed" if self.closed else "")


def _failing_for(link: Dict[str, Any], now: float) -> Optional[float]:
    since = link["failing_since"]
    return None if since is None else max(0.0, now - since)


class _IPv6Server(ThreadingHTTPServer):
    import socket

    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "databay-status"
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status: StatusServer = self.server.status  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        try:
            if path == "/":
                stats = status.planner.stats()
                self._send(200, "text/html; charset=utf-8",
                           render_page(stats, status.unhealthy_after).encode("utf-8"),
                           {"Content-Security-Policy": _PAGE_POLICY})
            elif path == "/stats":
                self._send(200, "application/json", _json(status.planner.stats()))
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE, render(status.planner.stats()).encode("utf-8"))
            elif path == "/healthz":
                code, body = status.health()
                self._send(code, "application/json", _json(body))
            else:
                self._send(404, "text/plain; charset=utf-8",
                           b"Not found. Try /, /stats, /metrics or /healthz.\n")
        except Exception as error:  # noqa: BLE001 - one bad request must not stop the server
            _LOGGER.error("Status request %s failed: %r", self.path, error, exc_info=error)
            self._send(500, "text/plain; charset=utf-8", b"Internal error; see the databay.status log.\n")

    def _send(self, code: int, content_type: str, body: bytes,
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        _LOGGER.debug("%s " + format, self.address_string(), *args)


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str, allow_nan=False).encode("utf-8")


def _check_args(host: Any, port: Any, allow_remote: Any, unhealthy_after: Any) -> None:
    if not isinstance(allow_remote, bool):
        raise TypeError("allow_remote=%r: expected True or False" % (allow_remote,))
    if not isinstance(host, str) or not host:
        raise TypeError("host=%r: expected an address or host name as a non-empty str, e.g. '127.0.0.1'"
                        % (host,))
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("port=%r: expected an int from 0 to 65535 (0 picks a free port)" % (port,))
    if not 0 <= port <= 65535:
        raise ValueError("port=%r: expected an int from 0 to 65535 (0 picks a free port)" % (port,))
    if isinstance(unhealthy_after, bool) or not isinstance(unhealthy_after, (int, float)):
        raise TypeError("unhealthy_after=%r: expected seconds as an int or float >= 0" % (unhealthy_after,))
    if not 0 <= unhealthy_after < float("inf"):
        raise ValueError("unhealthy_after=%r: expected seconds as a finite number >= 0" % (unhealthy_after,))
    if not allow_remote and not is_loopback(host):
        raise ValueError("host=%r is not a loopback address; the status pages show node names and errors, "
                         "so serving them beyond this machine must be asked for with allow_remote=True"
                         % (host,))


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
