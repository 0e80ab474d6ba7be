"""BasePlanner: links, the start/shutdown state machine, and one transfer; subclasses schedule.

A custom planner subclasses BasePlanner and implements the four hooks of
databay 0.3.0 (planners written for it keep working):

``_schedule(link)`` / ``_unschedule(link)``
    start / stop calling ``self._run_transfer(link)`` when ``link`` is due
    (``link.schedule``; ``link.interval_seconds`` for a plain interval).
``_start_planner()``
    begin scheduling; may block until ``_shutdown_planner`` is called.
``_shutdown_planner(wait)``
    stop scheduling; must return promptly (it may run in a signal handler or a transfer).

Optional: ``_run_immediate_transfers(links)`` (default: each link once, in
``start()``'s thread) and ``_planner_stopped()`` (after the last transfer).
A scheduler runs a due link with ``self._run_transfer(link)``
(``planners/_transfers.py``). The other parts live in ``planners/`` too: see
docs/design.md.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod

from ._log import RepeatLimiter
from ._observe import Observable, PlannerObservability
from .link import Link
from .planners._transfers import TransferRunner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Union

IDLE, STARTING, RUNNING, STOPPING = "idle", "starting", "running", "stopping"
INFO, WARNING, ERROR = 20, 30, 40  # logging's levels, without importing logging


class BasePlanner(TransferRunner, Observable, ABC):
    """Holds links and runs their lifecycle; subclass it to schedule transfers.

    Args:
        links: a Link or a list of Links to add.
        ignore_exceptions: log an exception escaping a transfer and keep going
            (True), or shut down and make ``start()`` raise it (False, default).
        immediate_transfer: run each link (with ``Link.immediate_transfer``)
            once as soon as the planner starts, instead of when it is first due.
        shutdown_at_exit: shut down gracefully at interpreter exit (weakly held).
        handle_signals: a blocking ``start()`` in the main thread shuts down
            gracefully on SIGINT and SIGTERM; a second signal hurries it.
        timeout: default limit in seconds of one node call, for links whose own
            ``timeout`` is None (None: no limit).
        clock: the clock protocol object (``databay.planners.clock``); None: real time.
    """

    # Set by planners/_run.py (init_state), which runs the state machine.
    immediate_transfer: bool
    shutdown_at_exit: bool
    handle_signals: bool
    _state: str  # IDLE, STARTING, RUNNING or STOPPING
    _start_thread: Optional[threading.Thread]
    _links: Dict[Link, None]  # the registry: ordered, O(1) add and remove
    _lock: threading.RLock
    _gate: Any  # planners/_gate.py: TransferGate
    _clock: Any
    _repeats: RepeatLimiter
    _observe: PlannerObservability
    left_behind: List[Link]  # links whose transfer the last shutdown did not await

    def __init__(self, links: Union[Link, List[Link], None] = None, ignore_exceptions: bool = False,
                 immediate_transfer: bool = True, shutdown_at_exit: bool = False, *,
                 handle_signals: bool = True, timeout: Optional[float] = None,
                 clock: Any = None) -> None:
        from .planners._run import init_state

        init_state(self, ignore_exceptions, immediate_transfer, shutdown_at_exit, handle_signals,
                   timeout, clock)  # checked; the clock, gate and registry; the state: IDLE
        if links is not None:
            self.add_links(links)

    @property
    def links(self) -> List[Link]:
        """The links this planner holds (a copy)."""
        return list(self._links)

    @property
    def running(self) -> bool:
        """Whether the planner is scheduling transfers."""
        return self._state == RUNNING

    def add_links(self, links: Union[Link, List[Link]]) -> None:
        """Add and schedule links; works while running, from any thread. While running, a
        link's nodes are started here first; if that raises, the link is not added.

        Raises:
            TypeError: an item is not a Link.
            ValueError: a link is in a planner already (a Link is in one at most), or given twice.
        """
        from .planners._registry import add_links

        add_links(self, links)

    def remove_links(self, links: Union[Link, List[Link]]) -> None:
        """Unschedule and remove links; works while running, from any thread or transfer.

        While running, the link's transfer in progress finishes first (from inside it:
        as it ends), then its Buffers are flushed and its nodes released. A queued
        transfer of a removed link never runs.

        Raises:
            MissingLinkError: a link is not in this planner (nothing is removed).
        """
        from .planners._registry import remove_links

        remove_links(self, links)

    def purge(self) -> None:
        """Unschedule and remove every link (see :meth:`remove_links`)."""
        if self._links:
            self.remove_links(list(self._links))

    def start(self) -> None:
        """Start every link's nodes, then schedule transfers; blocks until shutdown.

        With ``handle_signals`` (and in the main thread) SIGINT and SIGTERM shut
        down gracefully; without it, Ctrl-C still does. Planners whose
        ``_start_planner`` does not block return once scheduling has begun.

        Raises:
            PlannerStateError: the planner is already running.
            Exception: with ``ignore_exceptions=False``, the first exception from
                an ``on_start`` or a transfer, after a graceful shutdown.
        """
        from .planners._run import start

        start(self)

    def shutdown(self, wait: bool = True, timeout: Optional[float] = None) -> List[Link]:
        """Stop scheduling, finish transfers, deliver buffered records, stop nodes.

        Idempotent, a no-op before ``start()``, safe from any thread, a signal
        handler or a transfer; no transfer starts after it is called. With
        ``wait``, returns once that is done, or after ``timeout`` seconds (real
        time): links whose transfer is still running then are left behind
        (logged, their Buffers not flushed, their nodes not stopped) and
        returned, also as ``planner.left_behind``. From a transfer or from the
        thread blocked in ``start()`` it cannot wait; ``start()`` finishes it.
        """
        from .planners._run import shutdown

        return shutdown(self, wait, timeout)

    def force_transfer(self) -> None:
        """Run one transfer of every link now, in the calling thread (busy links are skipped).

        On a planner that was never started (as in 0.3.0, e.g. to try a
        pipeline once), each link's nodes are started for it and stopped again
        afterwards, and its Buffers flushed, so nothing is left in memory.

        Raises:
            PlannerStateError: the planner is starting, stopping or was shut down
                (its nodes are stopped; call start() again first).
        """
        from .planners._run import force_transfer

        force_transfer(self)

    def __enter__(self) -> BasePlanner:
        """Start in a background thread; returns once the planner runs."""
        from .planners._background import start_in_background

        return start_in_background(self)

    def __exit__(self, *exc_info: Any) -> None:
        """Shut down, waiting for transfers; re-raise an error the planner stopped on."""
        from .planners._background import stop_background

        stop_background(self, exc_info[0] is None)

    # -- hooks for subclasses ----------------------------------------------

    @abstractmethod
    def _schedule(self, link: Link) -> None:
        """Start calling ``self._run_transfer(link)`` whenever ``link`` is due."""

    @abstractmethod
    def _unschedule(self, link: Link) -> None:
        """Stop scheduling ``link``."""

    @abstractmethod
    def _start_planner(self) -> None:
        """Begin scheduling; may block until :meth:`_shutdown_planner` is called."""

    @abstractmethod
    def _shutdown_planner(self, wait: bool = True) -> None:
        """Stop scheduling; must return promptly."""

    def _planner_stopped(self) -> None:
        """Optional: free scheduling resources once transfers ended (or were left behind)."""
        return None

    def _run_immediate_transfers(self, links: List[Link]) -> None:
        """Run the start-up transfers; by default one by one in ``start()``'s thread."""
        if self.immediate_transfer:
            for link in links:
                if link.immediate_transfer and self._state == STARTING:
                    self._run_transfer(link)

    # -- internals (the parts: planners/_registry.py, _run.py, _teardown.py) ---

    def _set_from_any_context(self, event: threading.Event) -> None:
        """``event.set()``, also from a signal handler on the thread blocked in ``start()``."""
        from .planners._run import set_from_any_context

        set_from_any_context(self, event)

    def __repr__(self) -> str:
        return "%s(links=%d, state=%s)" % (type(self).__name__, len(self._links), self._state)
