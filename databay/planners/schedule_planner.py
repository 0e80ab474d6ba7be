"""SchedulePlanner: exact, poll-free scheduling on a replaceable clock and a small worker pool.

Each link has a timeline from its schedule (``Every``: the drift-free grid
``t0 + k * interval``; ``Cron``: wall-clock times). One thread (the one blocked
in ``start()``) loops: dispatch every link that is due, then wait on the clock
until the earliest next due time or until woken by ``shutdown``, ``add_links``
or a signal. Links due at the same instant share one heap entry, so thousands
of links cost one wake-up per instant, and each due link is handled once.
On the system clock, a due time the loop idles for is handed to an idle
worker shortly before (``HAND_OVER``): the worker waits for it, dispatches it
and runs the transfers, so no thread has to wake up between the due time and
the first transfer.
"""

from __future__ import annotations

import heapq
import threading

from .._deprecation import warn_deprecated
from .._log import get_logger
from .._validation import check_positive_int
from ..base_planner import INFO, STOPPING, BasePlanner
from ..errors import ScheduleIntervalError
from ..link import Link
from ..schedules import Cron, Every, _Grid
from ._worker_pool import WorkerPool
from .clock import FINISH_BY_SLEEP, SystemClock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple, Union

__all__ = ["SchedulePlanner", "ScheduleIntervalError"]

_LOGGER = get_logger("databay.SchedulePlanner")

#: On the system clock, the loop wakes this long before a due time it was idle for, to hand
#: it to an idle worker (``WorkerPool.call_at``): the worker waits for it awake and runs the
#: transfers itself, with no thread to wake between the due time and them.
HAND_OVER = 0.003

#: The loop looks again this long after a due time it handed over (the worker dispatched it,
#: or, if it could not, the loop does). A worker that finds the next due time sooner wakes it.
LOOK_AGAIN = 0.002


class _Run:
    """One run of the loop: its jobs' due times and timelines count only while it is live."""

    __slots__ = ("live",)

    def __init__(self, live: bool) -> None:
        self.live = live


#: The run of jobs that never ran (added while stopped): not live.
_STOPPED = _Run(False)


class _Job:
    """A link's place on its timeline: the handle ``link.job`` returns.

    ``due`` and ``timeline`` read None unless the run that set them is live:
    stopping ends the run with one store instead of clearing every job (10,000
    links: 6 M instructions between ``shutdown()`` and ``start()`` returning).
    The loop itself uses ``_due``/``_timeline`` directly.
    """

    __slots__ = ("link", "_timeline", "_due", "_run", "cancelled")

    def __init__(self, link: Link) -> None:
        self.link = link
        self._timeline: Any = None  # bound when the planner starts (or the link is added while running)
        self._due: Optional[float] = None  # next due time on the planner's clock
        self._run = _STOPPED  # the run that set the two above
        self.cancelled = False

    @property
    def due(self) -> Optional[float]:
        """The next due time on the planner's clock; None while stopped."""
        return self._due if self._run.live else None

    @property
    def timeline(self) -> Any:
        """The link's bound schedule; None while stopped."""
        return self._timeline if self._run.live else None


#: ``Link.schedule``: a subclass overriding it is asked, never bypassed (see ``_start_planner``).
_LINK_SCHEDULE = Link.schedule


def _seed(link: Link) -> str:
    """What makes a link's jitter stable: its key, else its tags, else its repr."""
    key = getattr(link, "_key", None)
    return str(key) if key is not None else ("\x1f".join(link.tags) if link.tags else repr(link))


def _bind(link: Link, anchor: float, clock: Any) -> Any:
    """``link``'s timeline from ``anchor``; the seed (a repr, maybe) only for a schedule using it."""
    schedule = link.schedule
    unseeded = type(schedule) is Cron or (type(schedule) is Every and not schedule.jitter)
    return schedule.bind(anchor, clock, "" if unseeded else _seed(link))


def _collect_young() -> None:
    """Collect the young generation now, while the planner is built, unless the collector is off.

    Building made objects (10,000 links: thousands, made with the collector paused), and the
    young collection they lead to would otherwise run at the next allocations, which are often
    ``start()``'s: inside its first slot, between the immediate transfers (W4, 20 links: 0.15-0.2
    ms, before a third of them). Collected here, ``start()`` has the young generation's whole
    threshold (700 new objects) before one runs. It frees only what the next one would have.
    """
    import gc

    if gc.isenabled():
        gc.collect(0)


class SchedulePlanner(BasePlanner):
    """Runs each link on its schedule (``Link(interval=...)`` or ``schedule=``), on worker threads.

    * No polling: sleeps on its clock until the next due transfer.
    * No drift: an interval link's k-th transfer is due at ``t0 + k * interval``.
    * No overlap: a due transfer whose previous one is still queued or running
      is skipped and logged; the schedule continues.
    * Misfires coalesce: after a stall, a link runs once and resumes at its
      next due time in the future.

    Args:
        links: a Link or list of Links.
        threads: at most this many worker threads run transfers (default 30);
            the pool grows only while transfers wait (see ``_worker_pool``).
        ignore_exceptions, immediate_transfer, shutdown_at_exit: see BasePlanner.
        refresh_interval: accepted for databay 0.3.0 compatibility; no effect.
        clock: an object with the clock protocol (``databay.planners.clock``);
            None for real time. ``databay_testing.VirtualClock`` is one.
        timeout: default limit in seconds of one node call for links whose
            own ``timeout`` is None.
        handle_signals: see BasePlanner.

    Raises:
        ValueError/TypeError: an argument is invalid (the message names it).
    """

    def __init__(self, links: Union[Link, List[Link], None] = None, threads: int = 30,
                 ignore_exceptions: bool = False, immediate_transfer: bool = True,
                 shutdown_at_exit: bool = False, refresh_interval: Optional[float] = None,
                 catch_exceptions: Optional[bool] = None, *, clock: Any = None,
                 timeout: Optional[float] = None, handle_signals: bool = True) -> None:
        if catch_exceptions is not None:
            warn_deprecated("SchedulePlanner(catch_exceptions=...)",
                            "SchedulePlanner(ignore_exceptions=...)", since="0.2.0")
            ignore_exceptions = catch_exceptions
        self._threads = check_positive_int("threads", threads)
        self._refresh_interval = refresh_interval
        self._wake = threading.Event()
        self._jobs: Dict[Link, _Job] = {}
        self._slots: Dict[float, List[_Job]] = {}  # due time -> jobs due then
        self._heap: List[float] = []  # the keys of _slots
        self._pool: Optional[WorkerPool] = None
        # The first run's pool, made now: its locks and conditions (a Condition's set-up raises
        # and catches three AttributeErrors) cost 30-60 µs of a cold start() before the
        # immediate transfers. Later runs make theirs when they start.
        self._first_pool: Optional[WorkerPool] = WorkerPool(self._threads)
        self._anchor_requested = 0.0
        self._anchor: Optional[float] = None  # when this run's timelines start; None while stopped
        self._current_run = _STOPPED  # the run jobs entered now belong to
        self._handed_error: Optional[BaseException] = None  # a handed dispatch raised it
        super().__init__(links=links, ignore_exceptions=ignore_exceptions,
                         immediate_transfer=immediate_transfer, shutdown_at_exit=shutdown_at_exit,
                         handle_signals=handle_signals, timeout=timeout, clock=clock)
        _collect_young()

    @property
    def refresh_interval(self) -> Optional[float]:
        """The value given at construction; kept for 0.3.0 compatibility, unused."""
        return self._refresh_interval

    @property
    def clock(self) -> Any:
        """The clock this planner runs on."""
        return self._clock

    # -- BasePlanner hooks -------------------------------------------------

    def _schedule(self, link: Link) -> None:
        """Give ``link`` a job now (``link.job``); while running, also its first due time."""
        job = self._jobs[link] = _Job(link)
        link.set_job(job)
        if self._anchor is not None:
            now = self._clock.now()
            timeline = job._timeline = _bind(link, now, self._clock)
            self._enter(job, timeline.next_due(now))
            self._set_from_any_context(self._wake)

    def _unschedule(self, link: Link) -> None:
        job = self._jobs.pop(link, None)
        if job is not None:
            job.cancelled = True  # its heap entry is skipped when reached
            link.set_job(None)

    def start(self) -> None:
        """See :meth:`BasePlanner.start`; timelines start when this is called.

        ``t0`` is taken before the links' ``on_start`` run, so a slow start-up
        delays the immediate transfers but never shifts the grid.
        """
        self._anchor_requested = self._clock.now()
        super().start()

    def _run_immediate_transfers(self, links: List[Link]) -> None:
        """Nothing to do here: the immediate transfers are the first due times, at ``t0``."""

    def _start_planner(self) -> None:
        """Run the scheduling loop in the calling thread until shutdown."""
        clock, wake = self._clock, self._wake
        pool, self._first_pool = self._first_pool, None
        if pool is None or pool.max_workers != self._threads:  # ``_threads`` changed since built
            pool = WorkerPool(self._threads)
        self._pool = pool
        self._handed_error = None
        try:  # from here on the finally undoes the run: a schedule may raise while bound
            with self._lock:
                anchor = self._anchor = self._anchor_requested
                run = self._current_run = _Run(True)
                grids: Dict[Tuple[Any, float], Any] = {}  # (seconds, offset) -> the grid from anchor
                immediate_all = self.immediate_transfer
                slots, heap = self._slots, self._heap
                entered_at, entered = None, None  # as _enter, remembering the last job's slot
                for job in self._jobs.values():
                    link = job.link
                    # Links of one interval share one grid: binding costs once, and _dispatch
                    # finds their next due time once (a grid is immutable, see schedules._Grid).
                    key: Optional[Tuple[Any, float]]
                    if link._schedule is None and type(link).schedule is _LINK_SCHEDULE:
                        # Link(interval=x) whose Every(x) was never asked for: its grid without
                        # making it (20 links: 50 µs between start() and the immediate transfers).
                        key, schedule = (link._interval_seconds, 0.0), None
                    else:
                        schedule = link.schedule
                        key = (schedule.seconds, schedule.offset) if type(schedule) is Every and \
                            not schedule.align and not schedule.jitter else None
                    if key is not None:
                        timeline = grids.get(key)
                        if timeline is None:
                            timeline = grids[key] = (link.schedule if schedule is None else schedule).bind(
                                anchor, clock, "")
                    else:
                        timeline = _bind(link, anchor, clock)
                    job._timeline = timeline
                    due = anchor if immediate_all and link.immediate_transfer else \
                        timeline.next_due(anchor)
                    job._due, job._run = due, run  # _enter, inline
                    if due != entered_at:
                        entered_at, entered = due, slots.get(due)
                        if entered is None:
                            entered = slots[due] = []
                            heapq.heappush(heap, due)
                    entered.append(job)  # type: ignore[union-attr]
            handing = type(clock) is SystemClock  # real waits only (see HAND_OVER)
            while self._state != STOPPING:
                if wake.is_set():  # cleared before looking: a wake-up while dispatching is not
                    wake.clear()  # lost; clear() takes the Event's lock, ~20 µs after a long sleep
                if self._handed_error is not None:  # raised as if by the dispatch below
                    self._raise_handed_error()
                deadline = self._dispatch(clock.now())
                if self._state == STOPPING:
                    break
                if handing and deadline is not None and self._hand_over(deadline, pool, wake):
                    continue
                clock.wait(deadline, wake)
            self._raise_handed_error()  # one handed over while the loop was stopping
        finally:
            with self._lock:
                self._anchor = None
                self._slots.clear()
                self._heap.clear()
                self._current_run.live = False  # every job's due/timeline reads None now (see _Job)
                self._current_run = _STOPPED
            self._pool.close()  # queued tasks were dropped by the gate already

    def _shutdown_planner(self, wait: bool = True) -> None:
        self._set_from_any_context(self._wake)

    def _planner_stopped(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.join(1.0 if self.left_behind else None)
        error, self._handed_error = self._handed_error, None
        if error is not None:  # a handed dispatch raised after the loop had ended: not lost
            _LOGGER.error("A dispatch of %r failed while it stopped: %r", self, error, exc_info=error)

    def _raise_handed_error(self) -> None:
        """Raise, once, what a dispatch handed to a worker raised (see :meth:`_dispatch_handed`)."""
        error, self._handed_error = self._handed_error, None
        if error is not None:
            raise error

    # -- the loop ----------------------------------------------------------

    def _hand_over(self, deadline: float, pool: WorkerPool, wake: threading.Event) -> bool:
        """Wait for ``deadline`` (system clock) through an idle worker, see :data:`HAND_OVER`:
        True once waited (woken, or the next look is due), False if the loop must wait itself."""
        left = deadline - SystemClock.now()
        if left > HAND_OVER:  # idle: wake up shortly before, then hand it over
            wake.wait(min(left - HAND_OVER, threading.TIMEOUT_MAX))
            return True
        if left > FINISH_BY_SLEEP and pool.call_at(deadline, self._dispatch_handed):
            wake.wait(left + LOOK_AGAIN)
            return True
        return False

    def _dispatch_handed(self) -> None:
        """A worker's call at a due time handed over (see :meth:`_hand_over`): dispatch what is
        due, on the worker that runs it; wake the loop if the next due time comes before it looks."""
        now = SystemClock.now()
        try:
            deadline = self._dispatch(now)
        except BaseException as error:  # noqa: BLE001 - the loop raises it (a schedule's next_due)
            self._handed_error = error
            self._set_from_any_context(self._wake)
            return
        if deadline is not None and deadline < now + LOOK_AGAIN:
            self._set_from_any_context(self._wake)

    def _enter(self, job: _Job, due: float) -> None:
        """Put ``job`` in the slot of ``due`` (lock held)."""
        job._due, job._run = due, self._current_run
        slot = self._slots.get(due)
        if slot is None:
            self._slots[due] = [job]
            heapq.heappush(self._heap, due)
        else:
            slot.append(job)

    def _dispatch(self, now: float) -> Optional[float]:
        """Hand every job due by ``now`` to the pool, with its next due time entered first.

        Each due link is claimed in the gate; a link whose previous transfer is
        still queued or running is skipped. Each job's next
        due time is entered before its transfer is handed off, so ``link.job.due``
        is the next slot while that transfer runs. Returns the earliest due time
        left (None: nothing scheduled).

        Jobs going to the same next slot (links on one grid) find that slot once:
        this runs between the due time and the slot's first transfer, so every
        link of the slot waits for it.
        """
        with self._lock:
            heap, slots = self._heap, self._slots
            if not heap or heap[0] > now:
                return heap[0] if heap else None
            due_slots: List[Tuple[float, List[_Job]]] = []  # in dispatch order
            while heap and heap[0] <= now:
                due = heapq.heappop(heap)
                due_slots.append((due, [job for job in slots.pop(due) if not job.cancelled]))
            tasks: List[Tuple[Any, tuple]] = []
            run, claim = self._run_queued, self._gate.queue  # one lock per claim: see _gate
            late: List[Tuple[Link, Any, float]] = []  # jobs that missed slots: (link, timeline, due)
            entered_at, entered = None, None  # the slot the last job went to, and its jobs
            shared, following, coalesced = None, 0.0, False  # the last shared grid's answer
            for due, jobs in due_slots:
                lateness = now - due
                shared = None
                for job in jobs:
                    link = job.link
                    ticket = claim(link)
                    if ticket > 0:
                        tasks.append((run, (link, ticket, lateness)))
                    elif ticket < 0:
                        self._skipped(link)
                    timeline = job._timeline
                    if timeline is not shared:  # a grid shared by links (see _start_planner)
                        shared = timeline if type(timeline) is _Grid else None
                        following = timeline.next_due(due)
                        coalesced = following <= now
                        if coalesced:  # slots passed while late: they coalesce into this run
                            following = timeline.next_due(now)
                    if coalesced:
                        late.append((link, timeline, due))
                    job._due = following  # as _enter, remembering the slot for the next job
                    if following != entered_at:
                        entered_at, entered = following, slots.get(following)
                        if entered is None:
                            entered = slots[following] = []
                            heapq.heappush(heap, following)
                    entered.append(job)  # type: ignore[union-attr]
            deadline = heap[0] if heap else None
        if late:  # counted before the transfers start, so events and stats() keep their order
            self._missed(late, now)
        if tasks and self._pool is not None:  # a removed link's task is dropped by the gate
            self._pool.submit_many(tasks)
        return deadline

    def _missed(self, late: List[Tuple[Link, Any, float]], now: float) -> None:
        """Links dispatched at ``now`` that were due at ``due`` and missed slots since: each
        ran once for them (misfires coalesce). Counted per link; logged with one call."""
        counts = []
        for link, timeline, due in late:
            counter = getattr(timeline, "slots_between", None)
            missed = counter(due, now) if counter is not None else 1
            link._stats.was_missed(missed)
            counts.append(missed)
        subject = "A link was late and ran once for its missed slots (misfires coalesce):"
        self._repeats.log("missed", INFO, subject, (), "%r missed %d slot(s)", (late[0][0], counts[0]))
        if len(late) > 1:  # the others count as repeats; the summary names the latest
            self._repeats.log("missed", INFO, subject, (), "%r missed %d slot(s)",
                              (late[-1][0], counts[-1]), times=len(late) - 1)

    def __repr__(self) -> str:
        return "SchedulePlanner(threads:%s, links:%d)" % (self._threads, len(self._links))
