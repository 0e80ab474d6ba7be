"""Shard: one process's part of a sharded run (the same for every backend).

A backend creates one Shard per index in a process it supervises and calls
:meth:`Shard.start` there; after a crash it does the same again in a fresh
process. The shard imports the user's factory, keeps the links whose key maps
to it, puts them on the wall-clock-aligned grid and runs them on an ordinary
SchedulePlanner in a background thread.
"""

from __future__ import annotations

import os
import threading
import time

from .._log import get_logger
from ..errors import ShardError
from ._keys import links_of_shard
from ._spec import import_factory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

    from ..link import Link
    from ._spec import RunSpec

__all__ = ["Shard"]

_LOGGER = get_logger("databay.distributed.Shard")

# Shards never run a transfer at start: after a restart it would be an extra,
# off-grid run of a slot the crashed process may already have run. And one
# failing link is logged, not allowed to stop the thousands of others of its
# shard (planner_kwargs={"ignore_exceptions": False} asks for that).
_PLANNER_DEFAULTS = {"immediate_transfer": False, "ignore_exceptions": True}


class Shard:
    """Builds, runs and stops the links of shard ``index`` of ``spec``.

    Args:
        spec: the run this shard belongs to.
        index: this shard's number, in ``range(spec.nshards)``.
    """

    def __init__(self, spec: RunSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self._planner: Any = None
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._started_at: Optional[float] = None
        self._stopped = False
        self._built = 0
        # When this shard's process started, and when start() began, built the links and
        # started the planner (time.time()): where a start or a restart spends its time.
        self._boot: Dict[str, Optional[float]] = {"process": _process_started_at(),
                                                  "start": None, "built": None, "running": None}

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 300.0) -> Dict[str, Any]:
        """Build this shard's links and start their planner; returns :meth:`status`.

        Raises:
            ShardError: the factory or the planner's start failed (the message
                says which and why; the original exception is the cause).
        """
        from ..planners import SchedulePlanner

        spec = self.spec
        self._boot["start"] = time.time()
        try:
            factory = import_factory(spec.factory)
            built = factory(self.index, spec.nshards, **spec.factory_kwargs)
        except Exception as error:
            raise ShardError("shard %d of %r: factory %s(%d, %d, **%r) failed: %r"
                             % (self.index, spec.name, spec.factory, self.index, spec.nshards,
                                spec.factory_kwargs, error)) from error
        if built is None:
            raise ShardError("shard %d of %r: factory %s returned None; it must return a Link or "
                             "a list of Links" % (self.index, spec.name, spec.factory))
        links = links_of_shard(built, self.index, spec.nshards)
        self._built = len(built) if isinstance(built, (list, tuple)) else 1
        for link in links:
            _align(link)
        self._boot["built"] = time.time()
        planner = SchedulePlanner(links, **{**_PLANNER_DEFAULTS, **spec.planner_kwargs})
        self._planner = planner
        self._thread = threading.Thread(target=self._run_planner, name="databay-shard-%d"
                                        % self.index, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not planner.running and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise ShardError("shard %d of %r: the planner did not start within %s s"
                                 % (self.index, spec.name, timeout))
            time.sleep(0.005)
        if not planner.running:
            raise ShardError("shard %d of %r: the planner stopped while starting: %r"
                             % (self.index, spec.name, self._error)) from self._error
        self._started_at = self._boot["running"] = time.time()
        _LOGGER.info("Shard %d of %r runs %d of the %d links its factory built (pid %d)",
                     self.index, spec.name, len(links), self._built, os.getpid())
        return self.status()

    def _run_planner(self) -> None:
        try:
            self._planner.start()
        except BaseException as error:  # noqa: BLE001 - reported by status() and start()
            _LOGGER.error("Shard %d of %r stopped on %r", self.index, self.spec.name, error,
                          exc_info=error)
            self._error = error

    def stop(self, timeout: Optional[float] = 60.0) -> Dict[str, Any]:
        """Shut the planner down gracefully (finish transfers, flush, on_shutdown).

        Returns the final :meth:`status`, whose ``state`` is ``"stopped"``,
        or ``"stop-timeout"`` when shutting down took longer than ``timeout``
        seconds (None: no limit).
        """
        planner, thread = self._planner, self._thread
        if planner is None or thread is None:
            self._stopped = True
            return self.status()
        stopper = threading.Thread(target=planner.shutdown, name="databay-shard-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        thread.join(0 if stopper.is_alive() else timeout)
        self._stopped = not stopper.is_alive() and not thread.is_alive()
        status = self.status()
        if not self._stopped:
            status["state"] = "stop-timeout"
        return status

    # -- reporting ---------------------------------------------------------

    def status(self, links: bool = False) -> Dict[str, Any]:
        """A plain, JSON-serialisable snapshot of this shard.

        ``counters`` sums the planner's ``stats()`` of every link (``transfers``
        run, failed, skipped, missed...; ``records`` pulled, delivered...),
        ``transfers`` and ``failed_transfers`` repeat the two main ones, and
        ``health`` counts links per health; with ``links=True``,
        ``links_stats`` holds every link's own snapshot.
        """
        import socket

        planner = self._planner
        if self._stopped:
            state = "stopped"
        elif planner is not None and planner.running:
            state = "running"
        elif self._error is not None:
            state = "failed"
        else:
            state = "starting"
        stats = planner.stats() if planner is not None else None
        counters = sum_counters(stats["links"]) if stats is not None else None
        status = {
            "shard": self.index,
            "state": state,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "links": len(planner.links) if planner is not None else 0,
            "links_built": self._built,
            "started_at": self._started_at,
            "boot": dict(self._boot),
            "niceness": _niceness(),
            "transfers": counters["transfers"].get("run", 0) if counters else 0,
            "failed_transfers": counters["transfers"].get("failed", 0) if counters else 0,
            "error": None if self._error is None else repr(self._error),
            "counters": counters,
            "health": dict(stats["planner"]["health"]) if stats is not None else None,
        }
        if links:
            status["links_stats"] = stats["links"] if stats is not None else None
        return status


def _niceness() -> Optional[int]:
    """The calling thread's CPU niceness (the shard's threads inherit it); None if unknown."""
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, AttributeError):
        return None


def _process_started_at() -> Optional[float]:
    """When this process started (time.time()), from /proc on Linux; None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _align(link: Link) -> None:
    """Put ``link``'s ``Every`` schedule on the wall-clock-aligned grid (offset and jitter kept).

    Slot k of an aligned grid is due at the same wall time in every process, so a
    restarted shard resumes the grid of the process it replaces. Cron schedules
    follow the wall clock already.
    """
    from ..schedules import Every

    schedule = link.schedule
    if isinstance(schedule, Every) and not schedule.align:
        link._schedule = Every(schedule.seconds, align=True, offset=schedule.offset,
                               jitter=schedule.jitter)


def sum_counters(snapshots: Any) -> Dict[str, Dict[str, int]]:
    """Sum the integer counters of the ``transfers`` and ``records`` groups of link snapshots."""
    totals: Dict[str, Dict[str, int]] = {"transfers": {}, "records": {}}
    for snapshot in snapshots:
        for group, counters in totals.items():
            for name, value in (snapshot.get(group) or {}).items():
                if isinstance(value, int) and not isinstance(value, bool):
                    counters[name] = counters.get(name, 0) + value
    return totals
