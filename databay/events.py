"""Planner events: what ``planner.subscribe(callback, kinds=None)`` delivers.

Callbacks run **inline**, in the thread where the event happened (a transfer's
worker thread, the planner's thread, the thread calling ``shutdown()``), right
after the counters were updated, so they see events in order and ``stats()``
already includes the event. Keep them quick: hand slow work (I/O, alerts) to a
queue or thread of your own. A callback that raises is logged on
``databay.events`` and never breaks the transfer or the planner. With nobody
subscribed, an event costs one attribute check.

Kinds (:data:`KINDS`)::

    transfer_started  transfer_finished  transfer_failed  transfer_skipped  transfer_missed
    records_retried   records_dropped    records_dead_lettered
    node_started      node_shut_down
    planner_started   planner_stopping   planner_stopped
"""

from __future__ import annotations

import threading
from time import time as wall_time

from ._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, FrozenSet, Iterable, Optional, Tuple, Union

__all__ = ["KINDS", "Event", "Subscription"]

_LOGGER = get_logger("databay.events")

KINDS = frozenset((
    "transfer_started", "transfer_finished", "transfer_failed", "transfer_skipped", "transfer_missed",
    "records_retried", "records_dropped", "records_dead_lettered",
    "node_started", "node_shut_down",
    "planner_started", "planner_stopping", "planner_stopped",
))


class Event:
    """One thing that happened in a planner.

    Attributes:
        kind: one of :data:`KINDS`.
        time: seconds since the epoch when it happened.
        planner: the planner.
        link: the Link concerned, or None for planner events.
        node: the inlet or outlet concerned (node and records events), else None.
        error: the exception a ``transfer_failed`` transfer raised (None when a
            node failed under ``ignore_exceptions=True``).
        records: how many records (transfer_finished: pulled; records_*: affected;
            transfer_missed: how many due transfers were coalesced).
        duration: seconds the transfer took (transfer_finished/transfer_failed).
        lateness: seconds after its due time a scheduled transfer started
            (transfer_started; None for a transfer run on demand).
    """

    __slots__ = ("kind", "time", "planner", "link", "node", "error", "records", "duration", "lateness")

    def __init__(self, kind: str, planner: Any, link: Any = None, node: Any = None,
                 error: Optional[BaseException] = None, records: Optional[int] = None,
                 duration: Optional[float] = None, lateness: Optional[float] = None) -> None:
        self.kind = kind
        self.time = wall_time()
        self.planner = planner
        self.link = link
        self.node = node
        self.error = error
        self.records = records
        self.duration = duration
        self.lateness = lateness

    def as_dict(self) -> Dict[str, Any]:
        """The event as plain JSON-ready values (objects as their repr)."""
        return {"kind": self.kind, "time": self.time,
                "link": None if self.link is None else repr(self.link),
                "node": None if self.node is None else repr(self.node),
                "error": None if self.error is None else "%s: %s" % (type(self.error).__name__,
                                                                      self.error),
                "records": self.records, "duration": self.duration, "lateness": self.lateness}

    def __repr__(self) -> str:
        return "Event(%s, link=%r, node=%r, error=%r, records=%r)" % (
            self.kind, self.link, self.node, self.error, self.records)


class Subscription:
    """Returned by ``planner.subscribe()``; ``unsubscribe()`` (or a ``with`` block) ends it."""

    def __init__(self, hub: EventHub, callback: Callable[[Event], Any]) -> None:
        self._hub = hub
        self.callback = callback

    def unsubscribe(self) -> bool:
        """Stop delivering events to the callback; False if it was already stopped."""
        return self._hub.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.unsubscribe()


class EventHub:
    """A planner's subscribers. Lock-free to emit: the subscriber tuple is replaced, never mutated."""

    def __init__(self, planner: Any) -> None:
        self.planner = planner
        self.active = False  # whether anyone listens: the only check an unobserved event costs
        self._subscribers: Tuple[Tuple[Subscription, Optional[FrozenSet[str]]], ...] = ()
        self._lock = threading.Lock()

    def add(self, callback: Callable[[Event], Any],
            kinds: Union[str, Iterable[str], None] = None) -> Subscription:
        """Subscribe ``callback`` to ``kinds`` (None: every kind); see :mod:`databay.events`."""
        if not callable(callback):
            raise TypeError("callback=%r is not callable; pass a function taking one Event" % (callback,))
        wanted = _check_kinds(kinds)
        subscription = Subscription(self, callback)
        with self._lock:
            self._subscribers = self._subscribers + ((subscription, wanted),)
            self.active = True
        return subscription

    def remove(self, subscription: Subscription) -> bool:
        with self._lock:
            kept = tuple(entry for entry in self._subscribers if entry[0] is not subscription)
            found = len(kept) < len(self._subscribers)
            self._subscribers = kept
            self.active = bool(kept)
        return found

    def remove_callback(self, callback: Callable[[Event], Any]) -> bool:
        """Remove every subscription of ``callback``; False if there was none."""
        found = False
        for subscription, _ in self._subscribers:
            if subscription.callback == callback:
                found = self.remove(subscription) or found
        return found

    def emit(self, kind: str, link: Any = None, **fields: Any) -> None:
        """Call every subscriber of ``kind`` with one Event; log what they raise."""
        event = None
        for subscription, wanted in self._subscribers:
            if wanted is not None and kind not in wanted:
                continue
            if event is None:
                event = Event(kind, self.planner, link, **fields)
            try:
                subscription.callback(event)
            except Exception as error:  # noqa: BLE001 - a subscriber never breaks a transfer
                _LOGGER.error("Event callback %r raised on %s: %r", subscription.callback, kind, error,
                              exc_info=error)


def _check_kinds(kinds: Union[str, Iterable[str], None]) -> Optional[FrozenSet[str]]:
    if kinds is None:
        return None
    names = [kinds] if isinstance(kinds, str) else kinds
    try:
        wanted = frozenset(names)
    except TypeError:
        raise TypeError("kinds=%r: expected None, a kind or a collection of kinds" % (kinds,)) from None
    unknown = sorted(str(name) for name in wanted - KINDS)
    if unknown or not wanted:
        raise ValueError("kinds=%r: %s; accepted: None or any of %s"
                         % (kinds, "unknown %s" % ", ".join(unknown) if unknown else "empty",
                            ", ".join(sorted(KINDS))))
    return wanted
