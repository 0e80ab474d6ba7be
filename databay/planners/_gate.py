"""The transfer gate: the one place that decides whether a link's transfer may start.

Each link a planner holds has an entry saying whether its transfer is idle,
queued (handed to a worker, not started yet) or running. Every decision is
taken under one lock:

* ``queue(link)`` claims an idle link for a transfer; a link whose transfer
  is queued or running is not claimed again (the caller skips that slot).
  One call per link, not one for a whole due batch: holding the lock over a
  thousand links starves the workers, which need it to begin and end their
  transfers (1,000 links at 1 ms: 1.5 k against 17 k transfers/s).
* ``begin(link, ticket)`` turns the claim into a running transfer, unless the
  gate closed, the link was removed or the claim was dropped meanwhile.
* ``end(link)`` makes the link idle again.

A claim is a ticket; closing the gate or removing a link drops the tickets
of queued transfers, so a transfer queued before ``shutdown()`` or
``remove_links()`` never runs. Each claim calls the clock's ``hold()`` and
exactly one of ``end``/drop calls its ``release()``.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional

IDLE, QUEUED, RUNNING = 0, 1, 2


class _Entry:
    __slots__ = ("state", "ticket", "after")

    def __init__(self) -> None:
        self.state = IDLE
        self.ticket = 0
        self.after: Any = None  # run when the running transfer ends (a deferred removal)


#: The entry of every link never claimed since it was added: idle. Shared, so never written:
#: ``queue`` gives a link its own entry at its first claim (no object per link at add_links).
_UNCLAIMED = _Entry()


class TransferGate:
    """Who may transfer now; see the module docstring."""

    def __init__(self, clock: Any) -> None:
        from .clock import SystemClock

        self._clock = clock
        self._counting = type(clock) is not SystemClock  # the system clock's hold/release do nothing
        self._waiters = 0  # threads in wait_idle: end() notifies only if there are any
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)
        self._entries: Dict[Any, _Entry] = {}
        self._open = False
        self._tickets = 0
        self._running = 0  # entries in RUNNING: lets waiting skip the walk over every link
        self._queued = 0  # entries in QUEUED: lets close() skip the walk over every link

    # -- membership and the planner's state ---------------------------------

    def add(self, link: Any) -> None:
        self.add_many((link,))

    def add_many(self, links: Iterable[Any]) -> None:
        fresh = dict.fromkeys(links, _UNCLAIMED)
        with self._lock:
            entries = self._entries
            if entries.keys().isdisjoint(fresh):  # the usual case: all new, one update
                entries.update(fresh)
                return
            for link in fresh:
                entry = entries.get(link)
                if entry is None:
                    entries[link] = _UNCLAIMED
                elif entry.ticket < 0:  # re-added while its old transfer still runs
                    entry.ticket = 0

    def remove(self, link: Any) -> Optional[str]:
        """Forget ``link``; returns its state name if a transfer was running or queued."""
        with self._lock:
            entry = self._entries.get(link)
            if entry is None:
                return None
            if entry.state == RUNNING:  # kept until end(), so waiters still see it
                entry.ticket = -1  # marks "removed while running"
                return "running"
            del self._entries[link]
            if entry.state == QUEUED:
                entry.state = IDLE
                self._queued -= 1
                if self._counting:
                    self._clock.release()
                return "queued"
            return None

    def open(self) -> None:
        with self._lock:
            self._open = True

    def close(self) -> None:
        """No transfer starts from now on; queued ones are dropped."""
        with self._lock:
            self._open = False
            if self._queued:  # usually none: no walk over 10,000 links at shutdown
                for entry in self._entries.values():
                    if entry.state == QUEUED:
                        entry.state = IDLE
                        if self._counting:
                            self._clock.release()
                self._queued = 0
            self._ended.notify_all()

    def refuse(self) -> None:
        """Start no transfer from now on, without taking the lock (safe in a signal handler);
        ``close()`` follows and drops the queued ones."""
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    # -- one transfer --------------------------------------------------------

    def queue(self, link: Any) -> int:
        """Claim ``link`` for a transfer: a ticket > 0; -1 if busy (its previous transfer
        is queued or running: the caller skips this slot); 0 if closed or absent."""
        with self._lock:
            entry = self._entries.get(link)
            if entry is None:
                return 0
            if entry.state != IDLE:
                return -1
            if not self._open or entry.ticket < 0:
                return 0
            if entry is _UNCLAIMED:
                entry = self._entries[link] = _Entry()
            self._tickets += 1
            self._queued += 1
            entry.state = QUEUED
            entry.ticket = self._tickets
            if self._counting:
                self._clock.hold()
            return self._tickets

    def begin(self, link: Any, ticket: int) -> bool:
        """Start the transfer claimed by ``ticket``; False if the claim was dropped."""
        with self._lock:
            entry = self._entries.get(link)
            if entry is None or entry.state != QUEUED or entry.ticket != ticket:
                return False
            self._queued -= 1
            if not self._open:
                entry.state = IDLE
                if self._counting:
                    self._clock.release()
                return False
            entry.state = RUNNING
            self._running += 1
            return True

    def end(self, link: Any) -> Any:
        """The transfer of ``link`` ended; returns what was deferred to this moment, if anything."""
        with self._lock:
            entry = self._entries.get(link)
            if entry is None or entry.state != RUNNING:
                return None
            entry.state = IDLE
            self._running -= 1
            after, entry.after = entry.after, None
            if entry.ticket < 0:  # removed while running
                del self._entries[link]
            if self._waiters:
                self._ended.notify_all()
        if self._counting:
            self._clock.release()
        return after

    def defer(self, link: Any, action: Any) -> bool:
        """Run ``action`` when ``link``'s running transfer ends (False: none is running)."""
        with self._lock:
            entry = self._entries.get(link)
            if entry is None or entry.state != RUNNING:
                return False
            entry.after = action
            return True

    # -- waiting ---------------------------------------------------------------

    def running(self, links: Optional[Iterable[Any]] = None) -> List[Any]:
        """The links (of ``links``, or all) whose transfer is running now."""
        with self._lock:
            return self._running_locked(None if links is None else list(links))

    def wait_idle(self, links: Optional[Iterable[Any]], deadline: Optional[float],
                  give_up: Any = None, ignore: Iterable[Any] = ()) -> List[Any]:
        """Wait until none of ``links`` (None: any) is running, or real-time ``deadline``
        passes, or ``give_up()`` is true; returns the links still running (never ``ignore``)."""
        watched = None if links is None else list(links)
        skip = set(ignore)
        with self._lock:
            self._waiters += 1
            try:
                return self._wait_locked(watched, deadline, give_up, skip)
            finally:
                self._waiters -= 1

    def _wait_locked(self, watched: Optional[List[Any]], deadline: Optional[float], give_up: Any,
                     skip: set) -> List[Any]:
        import time

        while True:
            busy = [link for link in self._running_locked(watched) if link not in skip]
            if not busy or (give_up is not None and give_up()):
                return busy
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return busy
            # Short waits: a second signal sets give_up() from a handler, which cannot notify.
            self._ended.wait(0.2 if remaining is None else min(remaining, 0.2))

    def _running_locked(self, links: Optional[List[Any]]) -> List[Any]:
        if not self._running:  # the usual case at shutdown: no walk over 10,000 links
            return []
        entries = self._entries
        if links is None:
            return [link for link, entry in entries.items() if entry.state == RUNNING]
        return [link for link in links if link in entries and entries[link].state == RUNNING]
