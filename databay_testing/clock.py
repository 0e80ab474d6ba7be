"""VirtualClock: run hours of a planner's schedule in milliseconds, deterministically.

A planner built with ``SchedulePlanner(..., clock=VirtualClock())`` reads the
time and waits only through its clock (the clock protocol: ``now``, ``wall``,
``wait``, ``hold``, ``release``). Virtual time stands still until the test
calls :meth:`VirtualClock.advance` or :meth:`VirtualClock.run_until`; those
move it from one due time to the next, and at each one wait until the planner
has dispatched everything due and every transfer it handed off has ended.
Nothing sleeps for virtual time: the only real waiting is for work to finish.
"""

from __future__ import annotations

import datetime as _datetime
import math
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Union

__all__ = ["ClockStalled", "VirtualClock"]

#: Where ``now()`` starts: an arbitrary monotonic reading, deliberately not the wall time.
MONOTONIC_START = 1000.0
#: The default wall time at ``now() == MONOTONIC_START``: 2030-01-01 00:00:00 UTC.
DEFAULT_START = _datetime.datetime(2030, 1, 1, tzinfo=_datetime.timezone.utc)
#: Real seconds between re-checks while settling (a planner thread that ends sends no notice).
_SETTLE_STEP = 0.005


class ClockStalled(TimeoutError):
    """The planner did not finish the work due at an instant within the real-time guard."""


class _Waiter:
    """A thread that waits on the clock: its deadline and wake-up event while in ``wait``."""

    __slots__ = ("thread", "waiting", "deadline", "wake")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.waiting = False
        self.deadline: Optional[float] = None
        self.wake: Optional[threading.Event] = None


class VirtualClock:
    """A clock for planners whose time moves only when the test says so.

    Args:
        start: the wall time at the start, as a timezone-aware ``datetime`` or
            seconds since the epoch (default 2030-01-01 00:00 UTC). ``wall()``
            returns it until time is advanced; cron schedules and wall-clock
            alignment read it. A naive ``datetime`` is refused: its meaning
            would depend on the machine's time zone.
        guard: real seconds :meth:`advance` and :meth:`settle` wait for the
            planner to finish the work due at one instant before raising
            :class:`ClockStalled` (a hung transfer, or advance called from a
            transfer). Default 10.
        poll: real seconds between checks of a planner's wake-up event while
            it waits (so ``shutdown()`` and ``add_links`` are seen; default
            0.01). Advancing never waits for a poll.

    ``now()`` is monotonic (it starts at an arbitrary 1000.0, unrelated to the
    wall time); ``wall()`` is ``start`` plus the virtual seconds elapsed.
    Thread-safe; one clock may serve several planners.
    """

    def __init__(self, start: Union[_datetime.datetime, int, float, None] = None, *,
                 guard: float = 10.0, poll: float = 0.01) -> None:
        self._wall_start = _epoch_seconds(start)
        self._guard = _positive_seconds("guard", guard)
        self._poll = _positive_seconds("poll", poll)
        self._now = MONOTONIC_START
        self._held = 0
        self._target: Optional[float] = None  # where a running advance() is going
        self._waiters: Dict[threading.Thread, _Waiter] = {}
        self._condition = threading.Condition(threading.Lock())

    # -- the clock protocol (called by planners) ----------------------------

    def now(self) -> float:
        """Virtual monotonic seconds: every due time and lateness is measured in these."""
        return self._now

    def wall(self) -> float:
        """Virtual seconds since the epoch at ``now()``."""
        return self._wall_start + (self._now - MONOTONIC_START)

    def wait(self, deadline: Optional[float], wake: threading.Event) -> None:
        """Block until virtual time reaches ``deadline`` (None: no deadline) or ``wake`` is set.

        Blocks in real time only as long as nobody advances the clock and
        ``wake`` stays clear; ``wake`` is checked every ``poll`` seconds, and
        at once whenever the clock is advanced.
        """
        if deadline is not None and not isinstance(deadline, (int, float)):
            raise TypeError("deadline=%r must be a number of clock seconds or None" % (deadline,))
        me = threading.current_thread()
        with self._condition:
            waiter = self._waiters.get(me)
            if waiter is None:
                waiter = self._waiters[me] = _Waiter(me)
            waiter.waiting, waiter.deadline, waiter.wake = True, deadline, wake
            if not self._held:
                if self._target is not None:
                    self._step_locked()  # everything may be idle now: take the advance's next step
                self._condition.notify_all()  # an advance or settle may wait for this
            try:
                while not wake.is_set() and (deadline is None or self._now < deadline):
                    self._condition.wait(self._poll)
            finally:
                waiter.waiting, waiter.wake = False, None

    def hold(self) -> None:
        """A planner handed off a transfer: time stays put until the matching :meth:`release`."""
        with self._condition:
            self._held += 1

    def release(self) -> None:
        """A transfer handed off with :meth:`hold` has ended (ran, was skipped or dropped)."""
        with self._condition:
            if self._held <= 0:
                raise RuntimeError("VirtualClock.release() called more often than hold(): "
                                   "every release must end a transfer that hold() started")
            self._held -= 1
            if self._held == 0:
                if self._target is not None:
                    self._step_locked()
                self._condition.notify_all()

    # -- driving time (called by tests) ------------------------------------

    def advance(self, seconds: Union[float, _datetime.timedelta]) -> float:
        """Move virtual time forward by ``seconds``, running everything due on the way.

        Repeatedly: wait until every planner waits on the clock and no
        transfer is held; then jump to the earliest deadline a planner waits
        for, if it is not later than the target. Finally set the time to the
        target. Transfers therefore run in due-time order, each at its own
        due time, and all of them have ended when this returns.

        Returns the new ``now()``. Raises :class:`ClockStalled` if the
        planner has not settled after ``guard`` real seconds at one instant.
        """
        target = self._now + _non_negative_seconds("seconds", seconds)
        with self._condition:
            if self._target is not None:
                raise RuntimeError("advance() is already running in another thread; drive the "
                                   "clock from one thread at a time")
            # Whichever thread makes everything idle (a planner entering wait(), a transfer's
            # release()) takes the next step, so this thread is not woken at every instant.
            self._target = target
            try:
                progress = (self._now, time.monotonic())
                while True:
                    self._step_locked()
                    if self._now == target and not self._busy_locked():
                        return self._now
                    if self._now != progress[0]:
                        progress = (self._now, time.monotonic())
                    elif time.monotonic() - progress[1] > self._guard:
                        raise self._stalled(self._guard)
                    self._nudge_locked()
                    self._condition.wait(min(self._poll, _SETTLE_STEP))
            finally:
                self._target = None

    def advance_to(self, when: Union[float, _datetime.datetime]) -> float:
        """Advance to a clock reading (``now()`` seconds) or to an aware wall-clock ``datetime``."""
        if isinstance(when, _datetime.datetime):
            seconds = _epoch_seconds(when, name="when") - self.wall()
        elif isinstance(when, (int, float)) and not isinstance(when, bool):
            seconds = when - self._now
        else:
            raise TypeError("when=%r must be a clock reading (float) or an aware datetime" % (when,))
        if seconds < 0:
            raise ValueError("when=%r is in the past (now is %r); time only moves forward"
                             % (when, self._now))
        return self.advance(seconds)

    def run_until(self, predicate: Callable[[], Any], timeout: Union[float, _datetime.timedelta] = 3600.0
                  ) -> float:
        """Advance from due time to due time until ``predicate()`` is true; return ``now()``.

        ``predicate`` is checked once the planner has settled, before each
        jump and after it. ``timeout`` is in virtual seconds (default one
        hour): if the predicate is still false then, the clock stays there and
        :class:`ClockStalled` is raised. Real time is bounded by ``guard`` per
        instant, as for :meth:`advance`.
        """
        if not callable(predicate):
            raise TypeError("predicate=%r must be a callable returning true when done" % (predicate,))
        allowed = _non_negative_seconds("timeout", timeout)
        limit = self._now + allowed
        with self._condition:
            while True:
                self._settle_locked()
                if self._checked(predicate):
                    return self._now
                due = self._next_deadline_locked()
                if due is None or due > limit:
                    break
                self._set_locked(due)
            self._set_locked(limit)
            self._settle_locked()
            if self._checked(predicate):
                return self._now
            raise ClockStalled("run_until: %r was still false after %g virtual seconds (now %r)"
                               % (predicate, allowed, self._now))

    def settle(self, timeout: Optional[float] = None) -> None:
        """Wait (real time) until every planner waits on the clock and no transfer is held.

        ``timeout`` defaults to ``guard``; raises :class:`ClockStalled` after it.
        """
        with self._condition:
            self._settle_locked(timeout)

    def wait_for_waiter(self, thread: threading.Thread, timeout: Optional[float] = None) -> None:
        """Wait (real time) until ``thread`` blocks in :meth:`wait` with nothing held.

        Used to hand a planner that was just started to the test only once its
        loop is idle, so the first advance cannot overtake its start-up.
        """
        limit = time.monotonic() + (self._guard if timeout is None else timeout)
        with self._condition:
            while True:
                waiter = self._waiters.get(thread)
                if waiter is not None and waiter.waiting and not self._busy_locked():
                    return
                if not thread.is_alive():
                    raise RuntimeError("%r ended before it waited on the clock; did the planner "
                                       "fail to start or not use clock=?" % (thread,))
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    raise ClockStalled("%r did not wait on the clock within %g real seconds (%s)"
                                       % (thread, self._guard, self._describe_locked()))
                self._condition.wait(min(remaining, self._poll, _SETTLE_STEP))

    # -- views -------------------------------------------------------------

    @property
    def held(self) -> int:
        """How many transfers are held (handed off and not yet ended) right now."""
        return self._held

    def datetime(self, tz: Optional[_datetime.tzinfo] = None) -> _datetime.datetime:
        """The wall time as an aware ``datetime`` in ``tz`` (default UTC)."""
        return _datetime.datetime.fromtimestamp(self.wall(), tz or _datetime.timezone.utc)

    def __repr__(self) -> str:
        return "VirtualClock(now=%r, wall=%s, held=%d)" % (
            self._now, self.datetime().isoformat(), self._held)

    # -- internals (condition held) ------------------------------------------

    def _set_locked(self, value: float) -> None:
        if value > self._now:
            self._now = value
            self._condition.notify_all()

    def _step_locked(self) -> None:
        """While an advance runs and nothing is busy: jump to the next deadline or to the target."""
        target = self._target
        if target is None or self._now >= target or self._busy_locked():
            return
        due = self._next_deadline_locked()
        self._set_locked(target if due is None or due > target else due)

    def _next_deadline_locked(self) -> Optional[float]:
        deadlines = [w.deadline for w in self._waiters.values()
                     if w.waiting and w.deadline is not None]
        return min(deadlines) if deadlines else None

    def _busy_locked(self) -> bool:
        """Whether some work is still going on: a transfer held or a planner not waiting.

        A thread that once waited on the clock counts as a planner loop until it
        waits again or ends; the calling thread never does.
        """
        if self._held:
            return True
        me = threading.current_thread()  # the thread driving time is no planner loop right now
        for thread, waiter in list(self._waiters.items()):
            if not waiter.waiting:
                if thread is me:
                    continue
                if not thread.is_alive():  # its planner stopped and the thread is gone
                    del self._waiters[thread]
                    continue
                return True
            if (waiter.wake is not None and waiter.wake.is_set()) or \
                    (waiter.deadline is not None and waiter.deadline <= self._now):
                return True  # it will return from wait() and do something
        return False

    def _settle_locked(self, timeout: Optional[float] = None) -> None:
        seconds = self._guard if timeout is None else timeout
        limit = time.monotonic() + seconds
        while self._busy_locked():
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise self._stalled(seconds)
            self._nudge_locked()
            self._condition.wait(min(remaining, self._poll, _SETTLE_STEP))

    def _nudge_locked(self) -> None:
        """Wake planners whose wake-up event is set now, rather than at their next poll."""
        if any(w.waiting and w.wake is not None and w.wake.is_set() for w in self._waiters.values()):
            self._condition.notify_all()

    def _stalled(self, seconds: float) -> ClockStalled:
        return ClockStalled(
            "the planner did not finish the work due at now=%r within %g real seconds (%s); a "
            "transfer may hang (give the link a timeout), or advance() was called from inside a "
            "transfer" % (self._now, seconds, self._describe_locked()))

    def _describe_locked(self) -> str:
        busy = [w.thread.name for w in self._waiters.values() if not w.waiting]
        return "%d transfer(s) held, %d planner thread(s) not waiting%s" % (
            self._held, len(busy), (": " + ", ".join(busy)) if busy else "")

    def _checked(self, predicate: Callable[[], Any]) -> bool:
        # The predicate runs without the lock: it may read state that transfers write.
        self._condition.release()
        try:
            return bool(predicate())
        finally:
            self._condition.acquire()


def _epoch_seconds(value: Any, name: str = "start") -> float:
    if value is None:
        return DEFAULT_START.timestamp()
    if isinstance(value, _datetime.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("%s=%r is a naive datetime; give it a time zone, e.g. "
                             "datetime(2030, 1, 1, tzinfo=timezone.utc)" % (name, value))
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise TypeError("%s=%r must be an aware datetime or seconds since the epoch" % (name, value))


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, _datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError("%s=%r must be a number of seconds or a timedelta" % (name, value))


def _non_negative_seconds(name: str, value: Any) -> float:
    seconds = _seconds(name, value)
    if not (0 <= seconds < math.inf):
        raise ValueError("%s=%r must be a finite number of seconds >= 0" % (name, value))
    return seconds


def _positive_seconds(name: str, value: Any) -> float:
    seconds = _seconds(name, value)
    if not (0 < seconds < math.inf):
        raise ValueError("%s=%r must be a finite number of seconds > 0" % (name, value))
    return seconds
