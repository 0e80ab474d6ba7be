"""The pipeline harness: capture what a link delivers, run transfers, run a planner safely.

- :class:`CaptureOutlet` keeps every pushed record with its update (and the
  clock's time), and can wait in real time for records to arrive.
- :func:`run_transfers` runs a link's transfers the way a planner does, in the
  calling thread: start, ``n`` transfers, flush, shut down.
- :func:`running_planner` starts any planner in a background thread and
  guarantees it is shut down and its thread joined, re-raising what stopped it;
  :func:`virtual_planner` does the same for a ``SchedulePlanner`` on a
  :class:`~databay_testing.VirtualClock`.
"""

from __future__ import annotations

import contextlib
import threading
import time

from databay import Outlet

from .clock import ClockStalled, VirtualClock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Union

    from databay import BasePlanner, Link, Record, Update
else:
    from typing import NamedTuple

__all__ = ["CaptureOutlet", "CapturedPush", "run_transfers", "running_planner", "virtual_planner"]


class CapturedPush(NamedTuple):
    """One push a :class:`CaptureOutlet` received."""

    records: List[Record]
    """The records, in the order pushed (the list is a copy; the records are the pushed objects)."""
    update: Update
    """The update of the transfer that pushed them."""
    now: Optional[float]
    """``clock.now()`` at the push, or None without a clock."""
    wall: Optional[float]
    """``clock.wall()`` at the push (seconds since the epoch), or None without a clock."""


class CaptureOutlet(Outlet):
    """An outlet that keeps everything pushed to it, for assertions.

    Args:
        processors: outlet processors, as for every Outlet.
        clock: a clock (e.g. a :class:`~databay_testing.VirtualClock`); each
            push then records ``clock.now()`` and ``clock.wall()``, which in
            virtual time are exactly the transfer's due time.

    Thread-safe: transfers of several links may push at once. Properties
    return copies, in push order.
    """

    def __init__(self, processors: Union[Callable, List[Callable], None] = None, *,
                 clock: Any = None) -> None:
        super().__init__(processors)
        if clock is not None and not (callable(getattr(clock, "now", None)) and
                                      callable(getattr(clock, "wall", None))):
            raise TypeError("clock=%r must have now() and wall() methods (e.g. a VirtualClock)" % (clock,))
        self.clock = clock
        self._pushes: List[CapturedPush] = []
        self._arrived = threading.Condition()

    def push(self, records: List[Record], update: Update) -> None:
        clock = self.clock
        entry = CapturedPush(list(records), update,
                             None if clock is None else clock.now(),
                             None if clock is None else clock.wall())
        with self._arrived:
            self._pushes.append(entry)
            self._arrived.notify_all()

    @property
    def pushes(self) -> List[CapturedPush]:
        """Every push, in order."""
        with self._arrived:
            return list(self._pushes)

    @property
    def records(self) -> List[Record]:
        """Every record pushed, in order, all pushes together."""
        return [record for push in self.pushes for record in push.records]

    @property
    def payloads(self) -> List[Any]:
        """The payload of every record pushed, in order."""
        return [record.payload for record in self.records]

    @property
    def updates(self) -> List[Update]:
        """The update of every push, in order (one per push, empty pushes included)."""
        return [push.update for push in self.pushes]

    @property
    def captured(self) -> List[tuple]:
        """``(record, update)`` for every record pushed, in order."""
        return [(record, push.update) for push in self.pushes for record in push.records]

    def clear(self) -> None:
        """Forget everything captured so far."""
        with self._arrived:
            self._pushes.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> List[Record]:
        """Wait in real time until at least ``count`` records arrived; return all records.

        For tests against a planner on the real clock. Raises TimeoutError,
        saying how many arrived, after ``timeout`` real seconds.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TypeError("count=%r must be an int >= 0" % (count,))
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError("timeout=%r must be a number of seconds > 0" % (timeout,))
        limit = time.monotonic() + timeout
        with self._arrived:
            while self._count_locked() < count:
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("%r: waited %gs for %d record(s), %d arrived"
                                       % (self, timeout, count, self._count_locked()))
                self._arrived.wait(remaining)
        return self.records

    def _count_locked(self) -> int:
        return sum(len(push.records) for push in self._pushes)

    def __repr__(self) -> str:
        return "CaptureOutlet(pushes=%d)" % len(self._pushes)


def run_transfers(link: Link, n: int = 1, *, flush: bool = True) -> None:
    """Run ``n`` transfers of ``link`` in the calling thread, as a planner would.

    Calls ``link.on_start()``, then ``link.transfer()`` ``n`` times, then (with
    ``flush``, the default) ``link.flush()`` so Buffers deliver what they hold,
    and always ``link.on_shutdown()``. Exceptions from the link propagate
    (after the shutdown).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise TypeError("n=%r must be an int >= 0 (the number of transfers)" % (n,))
    if not isinstance(flush, bool):
        raise TypeError("flush=%r must be True or False" % (flush,))
    link.on_start()
    try:
        for _ in range(n):
            link.transfer()
        if flush:
            link.flush()
    finally:
        link.on_shutdown()


@contextlib.contextmanager
def running_planner(planner: BasePlanner, clock: Optional[VirtualClock] = None, *,
                    timeout: float = 10.0) -> Iterator[BasePlanner]:
    """Start ``planner`` in a background thread for the ``with`` block; always shut it down.

    With ``clock`` (the planner's :class:`VirtualClock`), the block begins
    only once the planner's loop waits on the clock with nothing in flight,
    so the first ``clock.advance`` sees the whole start-up. Without it, once
    the planner runs.

    On leaving the block: ``planner.shutdown()``, then the thread is joined.
    If the planner stopped on an exception (``ignore_exceptions=False``), it
    is raised here, unless the block itself raised. Raises
    :class:`~databay_testing.ClockStalled` if starting or shutting down takes
    more than ``timeout`` real seconds.
    """
    failure: List[BaseException] = []

    def run() -> None:
        try:
            planner.start()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="databay-test-planner", daemon=True)
    thread.start()
    try:
        if clock is not None:
            try:
                clock.wait_for_waiter(thread, timeout)
            except RuntimeError:
                thread.join(timeout)
                if failure:
                    raise failure[0] from None
                raise
        else:
            limit = time.monotonic() + timeout
            while not planner.running and thread.is_alive():
                if time.monotonic() > limit:
                    raise ClockStalled("%r did not start within %g real seconds" % (planner, timeout))
                time.sleep(0.001)
        yield planner
    except BaseException:
        _stop(planner, thread, timeout)
        raise
    _stop(planner, thread, timeout)
    if failure:
        raise failure[0]


def _stop(planner: BasePlanner, thread: threading.Thread, timeout: float) -> None:
    """Shut ``planner`` down and join its thread, within ``timeout`` real seconds."""
    stopper = threading.Thread(target=planner.shutdown, name="databay-test-shutdown", daemon=True)
    stopper.start()
    stopper.join(timeout)
    thread.join(timeout)
    if stopper.is_alive() or thread.is_alive():
        raise ClockStalled("%r did not shut down within %g real seconds; a transfer may hang"
                           % (planner, timeout))


@contextlib.contextmanager
def virtual_planner(links: Union[Link, List[Link], None] = None, *,
                    clock: Optional[VirtualClock] = None, timeout: float = 10.0,
                    **options: Any) -> Iterator[BasePlanner]:
    """A started ``SchedulePlanner(links, clock=clock, **options)`` for the ``with`` block.

    ``clock`` defaults to a new :class:`VirtualClock`; keep your own to drive
    it. See :func:`running_planner` for the start and shutdown guarantees::

        clock = VirtualClock()
        with virtual_planner(link, clock=clock):
            clock.advance(3600)
    """
    from databay.planners import SchedulePlanner

    clock = VirtualClock() if clock is None else clock
    planner = SchedulePlanner(links, clock=clock, **options)
    with running_planner(planner, clock, timeout=timeout) as started:
        yield started
