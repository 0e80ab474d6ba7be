"""What a planner delegates to for ``stats()``, ``subscribe()`` and ``serve_status()``.

BasePlanner keeps one :class:`PlannerObservability` and calls it at the few
places where something observable happens (a link is added or removed, the
planner starts, stops). Links carry their own counters (``databay/_stats.py``);
while a planner holds a link, the link's counters point at the planner's
event hub, so transfer events reach the planner's subscribers.
"""

from __future__ import annotations

from time import monotonic

from ._stats import planner_snapshot
from .events import EventHub

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Union

    from ._status_server import StatusServer
    from .events import Subscription


class Observable:
    """The observing methods of every planner (BasePlanner inherits them)."""

    _observe: PlannerObservability

    def stats(self) -> Dict[str, Any]:
        """Every link's counters and this planner's state, as a JSON-ready dict."""
        return self._observe.stats()

    def subscribe(self, callback: Callable[[Any], Any],
                  kinds: Union[str, Iterable[str], None] = None) -> Subscription:
        """Call ``callback(event)`` for planner events (see :mod:`databay.events`); returns a
        Subscription whose ``unsubscribe()`` stops it. Callbacks run inline: keep them quick."""
        return self._observe.events.add(callback, kinds)

    def unsubscribe(self, callback: Callable[[Any], Any]) -> bool:
        """Stop calling ``callback``; False if it was not subscribed."""
        return self._observe.events.remove_callback(callback)

    def serve_status(self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False,
                     unhealthy_after: float = 60.0) -> StatusServer:
        """Serve /, /stats, /metrics and /healthz over HTTP until this planner stops.

        ``port=0`` picks a free port (read it from the returned server's
        ``port``); a host that is not loopback needs ``allow_remote=True``;
        ``/healthz`` answers 503 once a link has been failing for longer than
        ``unhealthy_after`` seconds. See ``databay/_status_server.py``.
        """
        return self._observe.serve_status(host, port, allow_remote, unhealthy_after)


class PlannerObservability:
    """One planner's event hub and status servers."""

    def __init__(self, planner: Any) -> None:
        self.planner = planner
        self.events = EventHub(planner)
        self.servers: List[StatusServer] = []

    def links_added(self, links: Any) -> None:
        """``links`` joined the planner: their stats report to its events and read its clock
        (one call per ``add_links``, however many links)."""
        hub = self.events
        clock = getattr(self.planner, "_clock", None)
        if clock is None:
            for link in links:
                link._stats.hub = hub
            return
        now = clock.now  # retry backoff and queue ages on the planner's clock (virtual time too)
        for link in links:
            stats = link._stats
            stats.hub = hub
            stats.clock = now
            if link._delivery is not None:
                link._delivery.clock = now

    def link_removed(self, link: Any) -> None:
        if link._stats.hub is self.events:
            link._stats.hub = None
        clock = getattr(self.planner, "_clock", None)
        if clock is not None and link._stats.clock == clock.now:  # back on real time, as before it was added
            link._stats.clock = monotonic
            if link._delivery is not None:
                link._delivery.clock = monotonic

    def emit(self, kind: str) -> None:
        """A planner event (planner_started / planner_stopping / planner_stopped)."""
        if self.events.active:
            self.events.emit(kind)
        if kind == "planner_stopped":
            servers, self.servers = self.servers, []
            for server in servers:  # stopped with the planner
                server.close()

    def stats(self) -> Dict[str, Any]:
        return planner_snapshot(self.planner)

    def serve_status(self, host: str, port: int, allow_remote: bool, unhealthy_after: float
                     ) -> StatusServer:
        from ._status_server import StatusServer

        server = StatusServer(self.planner, host, port, allow_remote=allow_remote,
                              unhealthy_after=unhealthy_after)
        self.servers.append(server)
        return server
