"""Buffer: a processor that holds records back until a controller says release."""

from __future__ import annotations

import threading
import time

from .._log import get_logger
from .._validation import to_callables

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Union

    from ..record import Record

__all__ = ["Buffer"]

_LOGGER = get_logger("databay.Buffer")


class Buffer:
    """A processor that stores records and releases them all when its controllers agree.

    Use it as a link processor or an outlet processor. Each call adds the
    incoming records to :attr:`records`, then asks the controllers whether to
    release: with ``conjugate_controllers=False`` (default) any controller
    saying True releases, with True all of them must (and a conjugate buffer
    without controllers releases on every call, as in 0.3.0). Releasing returns
    every stored record and :meth:`reset`\\ s the buffer; otherwise the call
    returns ``[]``.

    * count controller: releases when more than ``count_threshold`` records are stored;
    * time controller: releases once ``time_threshold`` seconds have passed
      since the first record now stored arrived (the clock starts with that
      record, not with the first call);
    * custom controllers: ``controller(records) -> bool`` with the stored records.

    A controller that raises counts as "do not release"; the error is logged
    on ``databay.Buffer``. Setting :attr:`flush` to True releases everything on
    the next call whatever the controllers say (an empty buffer is just reset);
    planners do this at shutdown so held records are never lost. Calls are
    serialised by a lock, so one buffer may be shared by concurrent transfers.

    Args:
        count_threshold: an int >= 0, or None to disable the count controller.
        time_threshold: seconds (an int or float >= 0, or a timedelta), or
            None to disable the time controller.
        custom_controllers: a callable or a list of callables, or None.
        on_reset: called with no arguments after every reset, or None.
        conjugate_controllers: require all controllers (True) or any (False).
        clock: monotonic ``() -> float`` seconds used by the time controller
            (injectable for tests).

    Raises:
        TypeError/ValueError: an argument has the wrong type or range; the
            message names it.
    """

    def __init__(self,
                 count_threshold: Optional[int] = None,
                 time_threshold: Union[float, Any, None] = None,
                 custom_controllers: Union[Callable, List[Callable], None] = None,
                 on_reset: Optional[Callable[[], Any]] = None,
                 conjugate_controllers: bool = False,
                 *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.count_threshold: Optional[int] = _check_count(count_threshold)
        self.time_threshold: Optional[float] = _check_seconds(time_threshold)
        self.custom_controllers: List[Callable] = to_callables("custom_controllers",
                                                                custom_controllers)
        if on_reset is not None and not callable(on_reset):
            raise TypeError("on_reset=%r must be a callable taking no arguments, or None"
                            % (on_reset,))
        self.on_reset = on_reset
        if not isinstance(conjugate_controllers, bool):
            raise TypeError("conjugate_controllers=%r must be True or False"
                            % (conjugate_controllers,))
        self.conjugate_controllers = conjugate_controllers
        if not callable(clock):
            raise TypeError("clock=%r must be a callable returning seconds" % (clock,))
        self._clock = clock
        self.records: List[Record] = []
        #: When the first record now stored arrived (``clock()``), or None when empty.
        self.time_start: Optional[float] = None
        #: Set to True to release everything on the next call.
        self.flush = False
        self._lock = threading.RLock()

    def get_controllers(self) -> List[Callable[[List[Record]], Any]]:
        """Return the active controllers: the custom ones, then count, then time."""
        controllers: List[Callable[[List[Record]], Any]] = list(self.custom_controllers)
        if self.count_threshold is not None:
            controllers.append(self._count_controller)
        if self.time_threshold is not None:
            controllers.append(self._time_controller)
        return controllers

    databay_flushable = True
    """Marks the flush protocol: planners set :attr:`flush` at shutdown (see ``Link.flush``)."""

    def __call__(self, records: List[Record]) -> List[Record]:
        """Store ``records``; return everything stored if released, else ``[]``."""
        with self._lock:
            if records:
                if not self.records:
                    self.time_start = self._clock()
                self.records.extend(records)
            if self.flush:
                released = self.records
            elif self.records and self._should_release():
                released = self.records
            else:
                return []
            self.reset()
            return released

    def reset(self) -> None:
        """Empty the buffer, stop the time controller's clock, clear :attr:`flush`, call ``on_reset``."""
        with self._lock:
            self.records = []
            self.time_start = None
            self.flush = False
            if self.on_reset is not None:
                try:
                    self.on_reset()
                except Exception:  # noqa: BLE001 - the records being released must still go out
                    _LOGGER.exception("on_reset %r of %r raised; the buffer was reset anyway",
                                      self.on_reset, self)

    def _should_release(self) -> bool:
        for controller in self.get_controllers():
            try:
                decision = bool(controller(self.records))
            except Exception:  # noqa: BLE001 - a broken controller must not lose records
                _LOGGER.exception("Controller %r of %r raised; counting it as 'do not release' "
                                  "(%d records stay stored)", controller, self, len(self.records))
                decision = False
            if decision != self.conjugate_controllers:
                return decision  # any: first True releases; all: first False holds
        return self.conjugate_controllers

    def _count_controller(self, records: List[Record]) -> bool:
        return len(records) > self.count_threshold  # type: ignore[operator]

    def _time_controller(self, records: List[Record]) -> bool:
        if self.time_start is None:
            return False
        return self._clock() - self.time_start >= self.time_threshold  # type: ignore[operator]

    def __repr__(self) -> str:
        return "Buffer(count_threshold=%r, time_threshold=%r, custom_controllers=%r, " \
               "conjugate_controllers=%r, stored=%d)" % (
                   self.count_threshold, self.time_threshold, self.custom_controllers,
                   self.conjugate_controllers, len(self.records))


def _check_count(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("count_threshold=%r must be an int >= 0 or None" % (value,))
    if value < 0:
        raise ValueError("count_threshold=%r must be an int >= 0 or None" % (value,))
    return value


def _check_seconds(value: Any) -> Optional[float]:
    if value is None:
        return None
    accepted = "a number of seconds >= 0, a timedelta, or None"
    if hasattr(value, "total_seconds") and not isinstance(value, (int, float)):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError("time_threshold=%r must be %s" % (value, accepted))
    if not 0 <= seconds < float("inf"):
        raise ValueError("time_threshold=%r must be %s" % (value, accepted))
    return seconds
