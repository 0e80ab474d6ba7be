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
``_run_transfer`` decides through the transfer gate (``planners/_gate.py``)
whether a transfer may start; see docs/design.md.
"""

from __future__ import annotations

import contextvars
import threading
from abc import ABC, abstractmethod

from ._log import RepeatLimiter, get_logger
from ._observe import Observable, PlannerObservability
from ._validation import check_bool, to_list, to_seconds
from .errors import MissingLinkError, PlannerStateError
from .link import Link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Union

_LOGGER = get_logger("databay.BasePlanner")
IDLE, STARTING, RUNNING, STOPPING = "idle", "starting", "running", "stopping"
# (planner, link) pairs whose transfer the current context runs (copied onto the threads and
# tasks of that transfer), so shutdown()/remove_links() from inside a transfer never wait for it.
_RUNNING_TRANSFERS: contextvars.ContextVar = contextvars.ContextVar("databay_transfers", default=())
_OWNERSHIP = threading.Lock()  # a link joins at most one planner
INFO, WARNING, ERROR = 20, 30, 40  # logging's levels, without importing logging


class BasePlanner(Observable, ABC):
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

    def __init__(self, links: Union[Link, List[Link], None] = None, ignore_exceptions: bool = False,
                 immediate_transfer: bool = True, shutdown_at_exit: bool = False, *,
                 handle_signals: bool = True, timeout: Optional[float] = None,
                 clock: Any = None) -> None:
        self._ignore_exceptions = check_bool("ignore_exceptions", ignore_exceptions)
        self.immediate_transfer = check_bool("immediate_transfer", immediate_transfer)
        self.shutdown_at_exit = check_bool("shutdown_at_exit", shutdown_at_exit)
        self.handle_signals = check_bool("handle_signals", handle_signals)
        self._timeout = to_seconds("timeout", timeout, allow_none=True)
        from .planners._gate import TransferGate  # here: databay.planners imports this module
        from .planners.clock import _check_clock

        self._clock = _check_clock("clock", clock)
        self._gate = TransferGate(self._clock)
        self._links: Dict[Link, None] = {}  # ordered, O(1) add and remove
        self._lock = threading.RLock()
        self._added = threading.Condition(self._lock)  # an add_links() that started nodes finished
        self._adding = 0  # add_links() calls starting nodes: teardown waits for them
        self._forcing = 0  # force_transfer() calls on a never-started planner: start() refuses
        self._state = IDLE
        self._start_thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._stopped = threading.Event()  # set while not started and once torn down
        self._stopped.set()
        self._started = threading.Event()  # set once RUNNING, or when a background start() ended
        self._teardown_lock = threading.Lock()
        self._deadline: Optional[float] = None  # real time by which shutdown gives up waiting
        self._hurry = False  # a second signal: stop waiting for slow transfers
        self.left_behind: List[Link] = []  # links whose transfer the last shutdown did not await
        self._repeats = RepeatLimiter(_LOGGER)  # skip and misfire messages: once, then summaries
        self._observe = PlannerObservability(self)  # stats, events, status server
        if shutdown_at_exit:
            from .planners._at_exit import shutdown_at_exit_weakly

            shutdown_at_exit_weakly(self)
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
        """Add and schedule links; works while running, from any thread.

        While running, a link's nodes are started here first; if that raises,
        the link is not added. A Link belongs to at most one planner.

        Raises:
            TypeError: an item is not a Link.
            ValueError: a link is in a planner already, or given twice.
        """
        new = to_list(links)
        seen: set = set()
        with _OWNERSHIP:
            for link in new:
                if not isinstance(link, Link):
                    raise TypeError("links=%r: %r is not an instance of Link" % (links, link))
                if link._planner is self or id(link) in seen:
                    raise ValueError("links=%r: %r was already added to this planner" % (links, link))
                if link._planner is not None:
                    raise ValueError("links=%r: %r already belongs to %r; a Link can be in one planner "
                                     "at a time (remove it there first)" % (links, link, link._planner))
                seen.add(id(link))
            for link in new:
                link._planner = self
        with self._lock:
            running = self._state in (STARTING, RUNNING)
            self._adding += running
        started: List[Link] = []
        try:
            for link in new if running else ():
                self._start_link(link)
                started.append(link)
            with self._lock:
                for link in new:
                    link._default_timeout = self._timeout
                    self._links[link] = None
                    self._gate.add(link)
                    self._observe.link_added(link)
                    self._schedule(link)
        except BaseException:
            for link in new:
                link._planner = None
            for link in started:
                self._guarded("on_shutdown", link, link.on_shutdown, record=False)
            raise
        finally:
            if running:  # a teardown waiting for this now sees these links and stops them
                with self._lock:
                    self._adding -= 1
                    self._added.notify_all()
        if len(new) <= 10:
            for link in new:
                _LOGGER.info("Added link: %r", link)
        else:
            _LOGGER.info("Added %d links to %r", len(new), self)

    def remove_links(self, links: Union[Link, List[Link]]) -> None:
        """Unschedule and remove links; works while running, from any thread or transfer.

        While running, the link's transfer in progress finishes first (when
        called from inside it: as it ends), then its Buffers are flushed and its
        nodes released. A queued transfer of a removed link never runs.

        Raises:
            MissingLinkError: a link is not in this planner (nothing is removed).
        """
        gone = to_list(links)
        with self._lock:
            for link in gone:
                if link not in self._links:
                    raise MissingLinkError("Planner does not contain the link: %r" % (link,))
            for link in gone:
                self._unschedule(link)
                del self._links[link]
                link._planner = None
                self._gate.remove(link)
                self._observe.link_removed(link)
            running = self._state != IDLE
        if running:
            inside = self._links_running_here()
            self._gate.wait_idle([link for link in gone if link not in inside], None)
            errors = [self._retire(link, record=False) for link in gone if not (
                link in inside and self._gate.defer(link, lambda done=link: self._retire(done, False)))]
            failures = [error for error in errors if error is not None]
            if failures and not self._ignore_exceptions:
                raise failures[0]  # every link was retired; this reports the first failure

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
        with self._lock:
            if self._state != IDLE:
                raise PlannerStateError("start() called on a planner that is %s; call shutdown() first"
                                        % self._state)
            if self._forcing:
                raise PlannerStateError("start() called while force_transfer() runs a one-off "
                                        "transfer of the planner's links; call it once that returned")
            self._state, self._error, self._hurry, self._deadline = STARTING, None, False, None
            self._stopped.clear()
            self._started.clear()
            self._start_thread = threading.current_thread()
            links = list(self._links)
        signals = None
        if self.handle_signals:
            from .planners._signals import SignalShutdown

            signals = SignalShutdown(self)
        _LOGGER.info("Starting %r", self)
        try:
            for link in links:
                if link in self._links:
                    self._start_link(link)
                if link not in self._links:  # removed while starting (before or during on_start)
                    self._guarded("on_shutdown", link, link.on_shutdown)
            with self._lock:
                if self._state == STARTING:
                    self._gate.open()
            self._run_immediate_transfers(links)
            with self._lock:
                if self._state == STARTING:
                    self._state = RUNNING
            self._started.set()
            if self._state == RUNNING:
                self._observe.emit("planner_started")
                self._start_planner()
        except KeyboardInterrupt:
            _LOGGER.warning("Interrupted; shutting down %r", self)
            self._begin_shutdown()
        except BaseException as error:
            self._record_error(error)
            self._begin_shutdown()
        try:
            if self._state == RUNNING:  # _start_planner did not block: shutdown() tears down
                with self._lock:
                    self._start_thread = None
                return
            self._teardown()
        finally:
            if signals is not None:
                signals.restore()
        failure, self._error = self._error, None
        if failure is not None:
            raise failure

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
        if timeout is not None:
            import time

            self._deadline = time.monotonic() + to_seconds("timeout", timeout)
        start_thread = self._start_thread
        if start_thread is threading.current_thread():
            # Maybe a signal handler that interrupted this thread inside a lock: take none here.
            self._gate.refuse()
            threading.Thread(target=self._begin_shutdown, name="databay-shutdown", daemon=True).start()
            return list(self.left_behind)
        if not self._begin_shutdown():
            return list(self.left_behind)
        inside = bool(self._links_running_here())
        if start_thread is None:  # non-blocking planner: tear down here, or elsewhere if inside
            if inside:
                threading.Thread(target=self._teardown, name="databay-shutdown", daemon=True).start()
            else:
                self._teardown()
        elif wait and not inside and not self._stopped.wait(None if timeout is None else timeout + 0.5):
            self.left_behind = self._gate.running(self._links)  # flushing is still going on
        return list(self.left_behind)

    def force_transfer(self) -> None:
        """Run one transfer of every link now, in the calling thread (busy links are skipped).

        On a planner that was never started (as in 0.3.0, e.g. to try a
        pipeline once), each link's nodes are started for it and stopped again
        afterwards, and its Buffers flushed, so nothing is left in memory.

        Raises:
            PlannerStateError: the planner is starting, stopping or was shut down
                (its nodes are stopped; call start() again first).
        """
        with self._lock:  # one decision, taken under the lock start() and shutdown() take
            state, once = self._state, self._state == IDLE and not self._started.is_set()
            if once:
                self._forcing += 1
                self._gate.open()
        if state == RUNNING:
            for link in self.links:
                self._run_transfer(link)
            return
        if not once:
            raise PlannerStateError("force_transfer() called on a planner that is %s; it runs "
                                    "transfers while the planner runs (or before its first start())"
                                    % ("shut down" if state == IDLE else state))
        from .planners._teardown import transfer_once

        try:
            for link in self.links:
                transfer_once(self, link)
        finally:
            with self._lock:
                self._forcing -= 1
                if not self._forcing:
                    self._gate.close()

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

    def _run_transfer(self, link: Link, lateness: Optional[float] = None) -> bool:
        """Run one transfer of ``link`` now unless it is busy or shutdown began; whether it ran.

        ``lateness``: how late a scheduled transfer starts, in seconds (for stats).
        """
        ticket = self._gate.queue(link)
        if not ticket:
            if self._gate.is_busy(link):
                self._skipped(link)
            return False
        return self._run_queued(link, ticket, lateness)

    def _run_queued(self, link: Link, ticket: int, lateness: Optional[float] = None) -> bool:
        """Run the transfer ``ticket`` claimed (see ``TransferGate.queue``), if still allowed.

        The one place a transfer starts, ends or fails (events and counters hang off it).
        """
        if not self._gate.begin(link, ticket):
            return False
        token = _RUNNING_TRANSFERS.set(_RUNNING_TRANSFERS.get() + ((self, link),))
        start = link._stats.started(lateness)
        try:
            link.transfer()
            link._stats.ended(start)
        except Exception as error:  # noqa: BLE001 - reported, and maybe stops the planner
            link._stats.ended(start, error)
            self._on_exception(error, link)
        except BaseException as error:  # SystemExit & co.: stop, whatever ignore_exceptions says
            link._stats.ended(start, error)
            _LOGGER.error("%r escaped a transfer of %r; shutting down", error, link)
            self._record_error(error)
            self.shutdown(wait=False)
        finally:
            _RUNNING_TRANSFERS.reset(token)
            deferred = self._gate.end(link)
            if deferred is not None:  # remove_links() was called from inside this transfer
                deferred()
        return True

    def _skipped(self, link: Link) -> None:
        """A due transfer of ``link`` did not start: its previous one is still queued or running."""
        link._stats.was_skipped()
        # One key for the planner: a thousand busy links give one line and a summary a minute.
        self._repeats.log("skipped", WARNING, "Skipped a transfer: the previous one of that link is "
                          "still running", (), "(%r)", (link,))

    def _on_exception(self, error: BaseException, link: Optional[Link] = None) -> None:
        """An exception escaped ``link``'s transfer: log it; without ``ignore_exceptions``, stop."""
        if self._ignore_exceptions:
            if link is None or not link._log_raised(error):  # a node's: one traceback, then summaries
                self._repeats.log(("failed", id(link), type(error), str(error)), ERROR,
                                  "Transfer of %r failed", (link,), ": %r", (error,), exc_info=error)
            return
        # No traceback here: start() re-raises this very exception.
        _LOGGER.error("Transfer of %r failed: %r; shutting down (start() raises it)", link, error)
        self._record_error(error)
        self.shutdown(wait=False)

    # -- internals ---------------------------------------------------------

    def _start_link(self, link: Link) -> None:
        if not link.inlets or not link.outlets:
            _LOGGER.warning("%r has no %s: its transfers will move nothing", link,
                            "inlets" if not link.inlets else "outlets")
        try:
            link.on_start()
        except Exception as error:
            if not self._ignore_exceptions:
                raise
            _LOGGER.error("on_start failed for %r: %r", link, error, exc_info=error)

    def _retire(self, link: Link, record: bool = True) -> Optional[Exception]:
        """Deliver what ``link``'s Buffers hold and release its nodes; returns the first error."""
        errors = [self._guarded("flush", link, link.flush, record),
                  self._guarded("on_shutdown", link, link.on_shutdown, record)]
        return next((error for error in errors if error is not None), None)

    def _set_from_any_context(self, event: threading.Event) -> None:
        """``event.set()``, safe from a signal handler on the thread blocked in ``start()``
        (which may hold the Event's lock when the handler runs)."""
        if threading.current_thread() is self._start_thread:
            threading.Thread(target=event.set, name="databay-wake", daemon=True).start()
        else:
            event.set()

    def _links_running_here(self) -> List[Link]:
        return [link for planner, link in _RUNNING_TRANSFERS.get() if planner is self]

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = error

    def _begin_shutdown(self, wait: bool = False) -> bool:
        """Enter STOPPING, close the gate and stop scheduling; False if not started."""
        with self._lock:
            if self._state in (IDLE, STOPPING):
                return self._state == STOPPING
            self._state = STOPPING
            self._gate.close()
        _LOGGER.info("Shutting down %r", self)
        self._observe.emit("planner_stopping")
        self._shutdown_planner(wait=wait)
        return True

    def _teardown(self) -> None:
        """Wait for transfers (until the deadline or a hurry), flush Buffers, stop nodes; IDLE."""
        from .planners._teardown import teardown

        with self._teardown_lock:
            if self._state != IDLE:
                teardown(self)
                self._observe.emit("planner_stopped")
        self._stopped.set()

    def _guarded(self, what: str, link: Link, action: Any, record: bool = True) -> Optional[Exception]:
        """Run ``action``; log an exception naming ``link`` and return it (recorded if ``record``)."""
        try:
            action()
        except Exception as error:  # noqa: BLE001 - shutdown must reach every link
            _LOGGER.error("%s failed for %r: %r", what, link, error, exc_info=error)
            if record and not self._ignore_exceptions:
                self._record_error(error)
            return error
        return None

    def __repr__(self) -> str:
        return "%s(links=%d, state=%s)" % (type(self).__name__, len(self._links), self._state)
