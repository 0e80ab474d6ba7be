"""ApsPlanner: BasePlanner scheduling through APScheduler 3.x (``pip install "databay[aps]"``).

APScheduler is imported when an ApsPlanner is constructed, never at import,
so ``import databay.planners`` works without it.
"""

from __future__ import annotations

import threading

from .._deprecation import warn_deprecated
from .._validation import check_positive_int
from ..base_planner import STOPPING, BasePlanner
from ..errors import PlannerStateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Union

    from ..link import Link

__all__ = ["ApsPlanner", "APSPlanner"]


class ApsPlanner(BasePlanner):
    """Schedules links with APScheduler's ``BackgroundScheduler``; ``start()`` blocks.

    Each transfer is an APScheduler interval job with ``max_instances=1`` and
    ``coalesce=True`` (no overlap; misfires run once). Lifecycle, shutdown and
    error handling are BasePlanner's, shared with SchedulePlanner.

    Args:
        links: a Link or list of Links.
        threads: size of APScheduler's thread pool executor (default 30).
        executors_override: entries merged into APScheduler's ``executors``.
        job_defaults_override: entries merged into APScheduler's ``job_defaults``.
        ignore_exceptions, immediate_transfer, shutdown_at_exit, handle_signals,
            timeout: see BasePlanner.

    Links with an ``Every(seconds)`` schedule use APScheduler's interval
    trigger; any other schedule (aligned, jittered, ``Cron``) is asked for its
    due times through a small trigger adapter, on real time.

    Raises:
        ImportError: APScheduler is not installed (install ``databay[aps]``).
    """

    def __init__(self, links: Union[Link, List[Link], None] = None, threads: int = 30,
                 executors_override: Optional[Dict[str, Any]] = None,
                 job_defaults_override: Optional[Dict[str, Any]] = None,
                 ignore_exceptions: bool = False, catch_exceptions: Optional[bool] = None,
                 immediate_transfer: bool = True, shutdown_at_exit: bool = False, *,
                 handle_signals: bool = True, timeout: Optional[float] = None) -> None:
        try:
            import apscheduler  # noqa: F401
        except ImportError as error:
            raise ImportError('ApsPlanner needs APScheduler 3.x; install it with '
                              'pip install "databay[aps]"') from error
        if catch_exceptions is not None:
            warn_deprecated("ApsPlanner(catch_exceptions=...)", "ApsPlanner(ignore_exceptions=...)",
                            since="0.2.0")
            ignore_exceptions = catch_exceptions
        self._threads = check_positive_int("threads", threads)
        self._executors_override = dict(executors_override or {})
        self._job_defaults_override = dict(job_defaults_override or {})
        self._scheduler: Any = None
        self._stop = threading.Event()
        super().__init__(links=links, ignore_exceptions=ignore_exceptions,
                         immediate_transfer=immediate_transfer, shutdown_at_exit=shutdown_at_exit,
                         handle_signals=handle_signals, timeout=timeout)

    def _new_scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        executors = {"default": ThreadPoolExecutor(self._threads), **self._executors_override}
        job_defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None,
                        **self._job_defaults_override}
        return BackgroundScheduler(executors=executors, job_defaults=job_defaults, timezone="UTC")

    def _schedule(self, link: Link) -> None:
        """Give ``link`` its job at once, as 0.3.0 did; it stays pending until ``start()``."""
        if self._scheduler is None:
            self._scheduler = self._new_scheduler()  # started by start(), with its pending jobs
        job = self._scheduler.add_job(self._run_transfer, args=(link,), trigger=_trigger(link))
        link.set_job(job)

    def _unschedule(self, link: Link) -> None:
        job, scheduler = link.job, self._scheduler
        link.set_job(None)
        if job is not None and scheduler is not None:
            from apscheduler.jobstores.base import JobLookupError

            try:
                job.remove()
            except JobLookupError:
                pass

    def _start_planner(self) -> None:
        """Start APScheduler in the background and block until shutdown."""
        self._stop.clear()
        with self._lock:
            if self._scheduler is None:  # no links yet
                self._scheduler = self._new_scheduler()
            self._scheduler.start()
        try:
            while self._state != STOPPING:
                self._stop.wait()
        finally:
            with self._lock:  # the next start() gets a new scheduler: every link a new pending job
                scheduler, self._scheduler = self._scheduler, None
                for link in self._links:
                    self._schedule(link)
            scheduler.shutdown(wait=True)

    def _shutdown_planner(self, wait: bool = True) -> None:
        self._set_from_any_context(self._stop)

    def pause(self) -> None:
        """Pause APScheduler (jobs stay scheduled but do not run).

        Raises:
            PlannerStateError: the planner is not running (as in 0.3.0, where
                APScheduler raised).
        """
        self._running_scheduler("pause").pause()

    def resume(self) -> None:
        """Resume after :meth:`pause`; PlannerStateError if the planner is not running."""
        self._running_scheduler("resume").resume()

    def _running_scheduler(self, method: str) -> Any:
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            raise PlannerStateError("ApsPlanner.%s(): the planner is not running; call it between "
                                    "start() and shutdown()" % method)
        return scheduler

    def __repr__(self) -> str:
        return "ApsPlanner(threads:%s, links:%d)" % (self._threads, len(self._links))


class APSPlanner(ApsPlanner):
    """Deprecated since 0.1.7: use :class:`ApsPlanner`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warn_deprecated("APSPlanner", "ApsPlanner", since="0.1.7")
        super().__init__(*args, **kwargs)


def _trigger(link: Link) -> Any:
    """APScheduler's IntervalTrigger for a plain interval, else an adapter asking the schedule."""
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from ..schedules import Every
    from .clock import SystemClock

    schedule = link.schedule
    if isinstance(schedule, Every) and not (schedule.align or schedule.offset or schedule.jitter):
        return IntervalTrigger(seconds=schedule.seconds)

    class ScheduleTrigger(BaseTrigger):
        """Due times from a databay schedule, in APScheduler's datetimes."""

        def __init__(self) -> None:
            clock = SystemClock()
            self._clock = clock
            self._timeline = schedule.bind(clock.now(), clock, str(getattr(link, "_key", None)
                                                                   or link.tags or repr(link)))

        def get_next_fire_time(self, previous: Any, now: Any) -> Any:
            import datetime

            shift = self._clock.wall() - self._clock.now()
            after = (previous or now).timestamp() - shift
            if previous is None:
                after -= 1e-6  # a due time exactly now counts
            due = self._timeline.next_due(after) + shift
            return datetime.datetime.fromtimestamp(due, now.tzinfo)

    return ScheduleTrigger()
