"""SchedulePlanner: exact, poll-free scheduling on ``sched`` and ``threading``.

Each link has a fixed grid: its k-th transfer is due at ``t0 + k * interval``
(``t0`` is when the planner started or the link was added), so lateness never
accumulates into drift. One thread (the one blocked in ``start()``) sleeps on
an Event until the earliest due slot and is woken at once by ``shutdown``,
``add_links`` and ``remove_links``; an idle planner costs no CPU. Due transfers
run on a pool of worker threads. Links whose slots fall on the same instant
share one ``sched`` event, so thousands of links cost one wake-up per instant.
"""

from __future__ import annotations

import sched
import threading
import time

from .._deprecation import warn_deprecated
from .._log import get_logger
from .._validation import check_positive_int
from ..base_planner import STOPPING, BasePlanner
from ..errors import ScheduleIntervalError
from ._worker_pool import WorkerPool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Union

    from ..link import Link

__all__ = ["SchedulePlanner", "ScheduleIntervalError"]

_LOGGER = get_logger("databay.SchedulePlanner")


class _Job:
    """A link's place on its grid."""

    __slots__ = ("link", "t0", "interval", "slot", "cancelled", "queued")

    def __init__(self, link: Link, t0: float, slot: int) -> None:
        self.link = link
        self.t0 = t0
        self.interval = link.interval_seconds
        self.slot = slot
        self.cancelled = False
        self.queued = False  # a transfer was handed to the pool and has not started yet

    @property
    def due(self) -> float:
        return self.t0 + self.slot * self.interval


class SchedulePlanner(BasePlanner):
    """Runs each link every ``link.interval`` on a drift-free grid, on worker threads.

    * No polling: sleeps until the next due transfer; ``shutdown``,
      ``add_links`` and ``remove_links`` wake it at once.
    * No drift: a link's k-th transfer is due at ``t0 + k * interval``.
    * No overlap: a due transfer whose previous run is still going is skipped
      and logged; the grid continues.
    * Misfires coalesce: after a stall longer than an interval, the link runs
      once and resumes at its next slot in the future.

    Args:
        links: a Link or list of Links.
        threads: worker threads running transfers (default 30).
        ignore_exceptions, immediate_transfer, shutdown_at_exit: see BasePlanner.
        refresh_interval: accepted for databay 0.3.0 compatibility; no effect.
        clock: a monotonic ``() -> float`` seconds function (for tests).

    Raises:
        ValueError/TypeError: ``threads`` is not an int >= 1.
    """

    def __init__(self, links: Union[Link, List[Link], None] = None, threads: int = 30,
                 ignore_exceptions: bool = False, immediate_transfer: bool = True,
                 shutdown_at_exit: bool = False, refresh_interval: Optional[float] = None,
                 catch_exceptions: Optional[bool] = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if catch_exceptions is not None:
            warn_deprecated("SchedulePlanner(catch_exceptions=...)",
                            "SchedulePlanner(ignore_exceptions=...)", since="0.2.0")
            ignore_exceptions = catch_exceptions
        self._threads = check_positive_int("threads", threads)
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._wake = threading.Event()
        self._scheduler = sched.scheduler(clock, self._sleep)
        self._jobs: Dict[Link, _Job] = {}
        self._slots: Dict[float, List[_Job]] = {}
        self._pool: Optional[WorkerPool] = None
        self._t0: Optional[float] = None
        self._t0_requested: Optional[float] = None
        super().__init__(links=links, ignore_exceptions=ignore_exceptions,
                         immediate_transfer=immediate_transfer, shutdown_at_exit=shutdown_at_exit)

    @property
    def refresh_interval(self) -> Optional[float]:
        """The value given at construction; kept for 0.3.0 compatibility, unused."""
        return self._refresh_interval

    # -- BasePlanner hooks -------------------------------------------------

    def _schedule(self, link: Link) -> None:
        """Put ``link`` on its grid (only while running; ``start`` does the rest)."""
        if self._t0 is None:
            return
        self._add_job(_Job(link, self._clock(), 1))
        self._set_from_any_context(self._wake)

    def _unschedule(self, link: Link) -> None:
        job = self._jobs.pop(link, None)
        if job is not None:
            job.cancelled = True
            link.set_job(None)
            self._set_from_any_context(self._wake)

    def start(self) -> None:
        """See :meth:`BasePlanner.start`; the grid starts when this is called.

        ``t0`` is taken before the links' ``on_start`` run, so slow start-up
        delays the immediate transfers but never shifts the grid.
        """
        self._t0_requested = self._clock()
        super().start()

    def _run_immediate_transfers(self, links: List[Link]) -> None:
        """Nothing to do here: immediate transfers are slot 0 of each grid."""

    def _start_planner(self) -> None:
        """Run the scheduling loop in the calling thread until shutdown."""
        pool = self._pool = WorkerPool(self._threads)
        self._scheduler = sched.scheduler(self._clock, self._sleep)
        with self._lock:
            self._t0 = t0 = self._t0_requested if self._t0_requested is not None else self._clock()
            self._t0_requested = None
            for link in self._links:
                immediate = self.immediate_transfer and link.immediate_transfer
                self._add_job(_Job(link, t0, 0 if immediate else 1))
        try:
            while self._state != STOPPING:
                delay = self._scheduler.run(blocking=False)
                if self._state == STOPPING:
                    break
                self._wake.wait(delay)
                self._wake.clear()
        finally:
            with self._lock:
                self._t0 = None
                for job in self._jobs.values():
                    job.cancelled = True
                    job.link.set_job(None)
                self._jobs.clear()
                self._slots.clear()
            pool.close()
            self._pool = None

    def _shutdown_planner(self, wait: bool = True) -> None:
        self._set_from_any_context(self._wake)

    # -- the loop ----------------------------------------------------------

    def _add_job(self, job: _Job) -> None:
        """Register ``job`` and put it in the slot of its due time (lock held)."""
        self._jobs[job.link] = job
        job.link.set_job(job)
        self._enter(job)

    def _enter(self, job: _Job) -> None:
        due = job.due
        slot = self._slots.get(due)
        if slot is None:
            self._slots[due] = [job]
            self._scheduler.enterabs(due, 0, self._fire, (due,))
        else:
            slot.append(job)

    def _fire(self, due: float) -> None:
        """Dispatch every job due at ``due``, then move each to its next slot.

        Dispatch comes first so transfers start while the jobs are rescheduled;
        jobs that shared a slot (same ``t0`` and interval) move together.
        """
        now = self._clock()  # when this slot was dispatched, not when rescheduling ends
        with self._lock:
            jobs = [job for job in self._slots.pop(due, ()) if not job.cancelled]
            if not jobs or self._state == STOPPING:
                return
            epoch = self._epoch
        pool = self._pool
        if pool is not None:
            # A link whose previous transfer still waits for a worker gets no second one:
            # an overloaded pool must not build an ever-growing backlog.
            ready = [job for job in jobs if not job.queued]
            if len(ready) < len(jobs):
                _LOGGER.warning("Skipped %d transfer(s): the previous one is still waiting for a "
                                "worker thread", len(jobs) - len(ready))
                for job in jobs:
                    if job.queued:
                        job.link._stats.was_skipped()
            for job in ready:
                job.queued = True
            pool.submit_many([(self._run_job, (job, epoch, due)) for job in ready])
        groups: Dict[tuple, List[_Job]] = {}
        for job in jobs:
            groups.setdefault((job.t0, job.interval, job.slot), []).append(job)
        with self._lock:
            for (t0, interval, slot), members in groups.items():
                next_slot = max(slot + 1, int((now - t0) // interval) + 1)
                if next_slot > slot + 1:
                    _LOGGER.info("%d link(s) missed %d slot(s); each runs once and resumes its grid",
                                 len(members), next_slot - slot - 1)
                for job in members:
                    if next_slot > slot + 1:
                        job.link._stats.was_missed(next_slot - slot - 1)
                    if not job.cancelled:
                        job.slot = next_slot
                        self._enter(job)

    def _run_job(self, job: _Job, epoch: int, due: float) -> None:
        job.queued = False
        self._run_transfer(job.link, epoch, lateness=self._clock() - due)

    def _sleep(self, seconds: float) -> None:
        """``sched``'s delay function: wait on the wake-up Event, never past a wake-up."""
        if seconds > 0:
            self._wake.wait(seconds)

    def __repr__(self) -> str:
        return "SchedulePlanner(threads:%s, links:%d)" % (self._threads, len(self._links))

