"""The clock protocol a SchedulePlanner runs on, and the system clock it uses by default.

A planner never reads time or sleeps by itself: it asks its clock. Any object
with these five methods can be passed as ``SchedulePlanner(clock=...)``::

    now()                -> float  monotonic seconds: due times and lateness
    wall()               -> float  Unix seconds at now(): alignment, cron, time zones
    wait(deadline, wake) -> None   block until now() >= deadline (None: no deadline)
                                   or the threading.Event ``wake`` is set; may return early
    hold()               -> None   a transfer was handed off (called before it is queued or run)
    release()            -> None   that transfer has ended (ran, was skipped or dropped)

The planner's loop waits only through ``wait`` and dispatches everything that
is due before it waits again; every ``hold`` is matched by one ``release``. A
virtual clock can therefore tell when all work due at an instant has finished
and jump straight to the next deadline, running hours of schedule in
milliseconds. Node-call timeouts and ``shutdown(timeout=...)`` are real time,
never clock time.
"""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["SystemClock"]

_METHODS = ("now", "wall", "wait", "hold", "release")


#: The last seconds of a wait are slept (``time.sleep``), not waited on the wake Event: a
#: timed ``Event.wait`` returns 60-80 µs later than ``time.sleep`` for the same deadline (it
#: is a lock acquire with a timeout), and every due transfer starts that much later. A wake-up
#: (shutdown, add_links) in that last stretch waits for it: at most this long.
FINISH_BY_SLEEP = 0.001

#: After a wait long enough to go through the Event (the loop was idle), the last seconds are
#: spun on ``time.monotonic`` instead of slept: ``time.sleep`` itself returns 50-90 µs late (the
#: kernel's timer slack and the thread's wake-up), which every transfer of the slot inherits.
#: Spinning costs that much CPU once per idle wait; a loop that never idles (due times less than
#: :data:`FINISH_BY_SLEEP` apart) never spins. A SchedulePlanner on this clock hands the due times
#: it idles for to an idle worker (``WorkerPool.call_at``), which waits and spins the same way
#: and runs the transfers itself; then the planner's thread only sleeps, and one thread spins.
FINISH_BY_SPIN = 0.00012


class SystemClock:
    """Real time: ``time.monotonic``, ``time.time``, ``Event.wait``, then ``time.sleep`` for the
    last :data:`FINISH_BY_SLEEP` seconds and, after an idle wait, a spin for the last
    :data:`FINISH_BY_SPIN`; hold/release do nothing."""

    __slots__ = ()

    now = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    @staticmethod
    def wait(deadline: Optional[float], wake: threading.Event) -> None:
        if deadline is None:
            wake.wait()
            return
        monotonic = time.monotonic
        delay = deadline - monotonic()
        if delay <= FINISH_BY_SLEEP:  # busy: due times follow closely, sleep without spinning
            if delay > 0 and not wake.is_set():
                time.sleep(delay)
            return
        if wake.wait(min(delay - FINISH_BY_SLEEP, threading.TIMEOUT_MAX)):
            return
        delay = deadline - monotonic()
        if delay > FINISH_BY_SLEEP:  # the wait ended early (a capped or wall-clock-timed wait):
            return  # the loop calls again; a sleep that long could not be woken
        if wake.is_set():
            return
        finish(deadline)

    @staticmethod
    def hold() -> None:
        pass

    @staticmethod
    def release() -> None:
        pass

    def __repr__(self) -> str:
        return "SystemClock()"


def finish(deadline: float) -> None:
    """The last stretch of an idle wait, :data:`FINISH_BY_SLEEP` or less: slept, then the last
    :data:`FINISH_BY_SPIN` spun on ``time.monotonic``."""
    monotonic = time.monotonic
    delay = deadline - monotonic()
    if delay > FINISH_BY_SPIN:
        time.sleep(delay - FINISH_BY_SPIN)
    while monotonic() < deadline:
        pass


def _check_clock(name: str, clock: Any) -> Any:
    """Return ``clock`` if it has the protocol's five methods (or None: the system clock)."""
    if clock is None:
        return SystemClock()
    missing = [method for method in _METHODS if not callable(getattr(clock, method, None))]
    if missing:
        raise TypeError("%s=%r must be a clock with methods now(), wall(), wait(deadline, wake), "
                        "hold() and release() (missing: %s); omit it for the system clock"
                        % (name, clock, ", ".join(missing)))
    return clock
