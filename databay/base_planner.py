"""BasePlanner: the lifecycle every planner shares; subclasses only schedule.

A planner holds links, starts their nodes, runs their transfers on a schedule
and shuts everything down in order. This module owns all of that except the
scheduling itself, which a subclass provides through four hooks (the same
hooks as databay 0.3.0, so planners written for it keep working):

``_schedule(link)`` / ``_unschedule(link)``
    start / stop repeating ``self._run_transfer(link)`` every ``link.interval``.
``_start_planner()``
    begin scheduling; may block until ``shutdown()`` (as ``start()`` does).
``_shutdown_planner(wait)``
    stop scheduling; must not block when called from a transfer.
``running``
    whether scheduling is active (the default reads the planner state).

Subclasses should run transfers through :meth:`_run_transfer`, which skips a
link whose previous transfer is still running, refuses to start transfers
once shutdown began, and reports errors.
"""

from __future__ import annotations

import contextvars
import threading
from abc import ABC, abstractmethod

from ._at_exit import shutdown_at_exit_weakly
from ._log import get_logger
from ._observe import Observable, PlannerObservability
from ._validation import to_list
from .errors import MissingLinkError, PlannerStateError
from .link import Link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Union

_LOGGER = get_logger("databay.BasePlanner")

# Planner states. Plain strings: ``enum`` is too slow to import for four names.
IDLE, STARTING, RUNNING, STOPPING = "idle", "starting", "running", "stopping"

# (planner, link) pairs whose transfer the current context is running. A context
# variable, not a thread-local: databay copies the context onto the threads and
# tasks a transfer uses, so a node calling shutdown() from any of them is known
# to be inside a transfer (waiting for it to end would deadlock).
_RUNNING_TRANSFERS: contextvars.ContextVar = contextvars.ContextVar(
    "databay_running_transfers", default=())


class BasePlanner(Observable, ABC):
    """Holds links and runs their lifecycle; subclass it to schedule transfers.

    Args:
        links: a Link or a list of Links to add.
        ignore_exceptions: log an exception escaping a transfer and keep
            scheduling (True), or log it, shut down and make ``start()`` raise it
            (False, default).
        immediate_transfer: run each link (with ``Link.immediate_transfer``)
            once as soon as the planner starts, instead of after one interval.
        shutdown_at_exit: shut down gracefully when the interpreter exits. Only
            a weak reference is kept, so the planner can still be collected.
    """

    def __init__(self, links: Union[Link, List[Link], None] = None, ignore_exceptions: bool = False,
                 immediate_transfer: bool = True, shutdown_at_exit: bool = False) -> None:
        self._links: List[Link] = []
        self._members: set = set()  # the links, for lock-free membership checks
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a transfer ended / state changed
        self._state = IDLE
        self._epoch = 0  # bumped when shutdown begins: queued transfers of older epochs never run
        self._busy: dict = {}  # link -> claim token, while its transfer runs
        self._waiters = 0  # threads in _wait_until
        self._adding = 0  # add_links calls starting nodes: teardown waits for them
        self._start_thread: Optional[threading.Thread] = None
        self._background: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._stopped = threading.Event()  # set while not started and once torn down
        self._stopped.set()
        self._started = threading.Event()  # set once RUNNING (or start() gave up)
        self._teardown_lock = threading.Lock()
        self._observe = PlannerObservability(self)  # stats, events, status server
        self._ignore_exceptions = bool(ignore_exceptions)
        self.immediate_transfer = immediate_transfer
        self.shutdown_at_exit = shutdown_at_exit
        if shutdown_at_exit:
            shutdown_at_exit_weakly(self)
        if links is not None:
            self.add_links(links)

    # -- links -------------------------------------------------------------

    @property
    def links(self) -> List[Link]:
        """The links this planner holds (a copy)."""
        with self._lock:
            return list(self._links)

    def add_links(self, links: Union[Link, List[Link]]) -> None:
        """Add and schedule links; works while running, from any thread.

        A link added while the planner runs has ``on_start`` called first
        (here, in the calling thread); if that raises, the link is not added
        and the exception propagates. Its first transfer is one interval later.

        Raises:
            TypeError: an item is not a Link.
            ValueError: a link is already in this planner or given twice.
        """
        new = to_list(links)
        for link in new:
            if not isinstance(link, Link):
                raise TypeError("links=%r: %r is not an instance of Link" % (links, link))
        with self._lock:
            for index, link in enumerate(new):
                if link in self._links or link in new[:index]:
                    raise ValueError("links=%r: %r was already added to this planner" % (links, link))
            running = self._state in (STARTING, RUNNING)
            if running:
                self._adding += 1
        try:
            if running:
                self._start_new_links(new)
            with self._lock:
                for link in new:
                    self._links.append(link)
                    self._members.add(link)
                    self._observe.link_added(link)
                    self._schedule(link)
                    _LOGGER.info("Added link: %r", link)
        finally:
            if running:  # a teardown waiting for us now sees these links and shuts them down
                with self._lock:
                    self._adding -= 1
                    self._changed.notify_all()

    def _start_new_links(self, new: List[Link]) -> None:
        """Start links being added; if one fails, stop those started before raising."""
        for index, link in enumerate(new):
            try:
                link.on_start()
            except BaseException:
                with self._lock:
                    keep = _node_ids(self._links)
                for started in new[:index + 1]:  # the failing one may have started some nodes
                    self._guarded("on_shutdown", started,
                                  lambda started=started, keep=keep: started.on_shutdown(keep=keep),
                                  record=False)
                raise

    def remove_links(self, links: Union[Link, List[Link]]) -> None:
        """Unschedule and remove links; works while running, from any thread.

        While running, waits for the link's transfer in progress, delivers
        what its Buffers hold, and shuts down the nodes that no remaining link
        of this planner uses.

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
                self._links.remove(link)
                self._members.discard(link)
                self._observe.link_removed(link)
            running = self._state != IDLE
            remaining = list(self._links)
        if running:
            self._retire(gone, remaining)

    def purge(self) -> None:
        """Unschedule and remove every link (see :meth:`remove_links`)."""
        with self._lock:
            links = list(self._links)
        if links:
            self.remove_links(links)

    def _retire(self, gone: List[Link], remaining: List[Link]) -> None:
        """Finish removed links: wait for their transfers, flush, stop unshared nodes."""
        mine = self._links_running_here()
        with self._lock:
            self._wait_until(lambda: not any(link in self._busy and link not in mine for link in gone))
        keep = _node_ids(remaining)
        errors: List[BaseException] = []
        for link in gone:
            for what, action in (("flush", link.flush),
                                 ("on_shutdown", lambda link=link: link.on_shutdown(keep=keep))):
                error = self._guarded(what, link, action, record=False)
                if error is not None:
                    errors.append(error)
        if errors and not self._ignore_exceptions:
            raise errors[0]  # every link was still retired; this call reports the first failure

    # -- running -----------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the planner is scheduling transfers."""
        return self._state == RUNNING

    def start(self) -> None:
        """Start every link's nodes, then schedule transfers; blocks until shutdown.

        ``on_start`` runs for every link before the first transfer. Ctrl-C
        (KeyboardInterrupt) while blocked shuts the planner down gracefully and
        returns. Planners whose ``_start_planner`` does not block return once
        scheduling has begun.

        Raises:
            PlannerStateError: the planner is already running.
            Exception: with ``ignore_exceptions=False``, the first exception from
                an ``on_start`` or a transfer, after a graceful shutdown.
        """
        with self._lock:
            if self._state != IDLE:
                raise PlannerStateError(
                    "start() called on a planner that is %s; call shutdown() first" % self._state)
            self._state = STARTING
            self._error = None
            self._stopped.clear()
            self._started.clear()
            self._start_thread = threading.current_thread()
            links = list(self._links)
        _LOGGER.info("Starting %r", self)
        try:
            self._start_links(links)
            self._run_immediate_transfers(links)
            with self._lock:
                if self._state == STARTING:
                    self._state = RUNNING
            self._started.set()
            if self._state == RUNNING:
                self._observe.emit("planner_started")
                self._start_planner()
        except KeyboardInterrupt:
            _LOGGER.info("Interrupted; shutting down %r", self)
            self._begin_shutdown()
        except BaseException as error:
            self._record_error(error)
            self._begin_shutdown()
        if self._state == RUNNING:  # _start_planner did not block: shutdown() tears down
            with self._lock:
                self._start_thread = None
            return
        self._teardown()
        failure, self._error = self._error, None
        if failure is not None:
            raise failure

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling, finish transfers, deliver buffered records, stop nodes.

        Idempotent, a no-op before ``start()``, and safe from any thread, a
        signal handler or a transfer. No scheduled transfer starts after it
        is called. With ``wait`` it returns once in-flight transfers finished,
        Buffers were flushed and ``on_shutdown`` ran; called from a transfer
        or from the thread blocked in ``start()``, it cannot wait, and
        ``start()`` completes the shutdown as it returns.
        """
        if not self._begin_shutdown(wait):
            return
        with self._lock:
            start_thread = self._start_thread
        inside = threading.current_thread() is start_thread or self._links_running_here()
        if start_thread is not None:
            if wait and not inside:
                self._stopped.wait()
        elif inside:  # non-blocking planner, asked from a transfer: finish elsewhere
            threading.Thread(target=self._teardown, name="databay-shutdown", daemon=True).start()
        else:
            self._teardown()

    def force_transfer(self) -> None:
        """Run one transfer of every link now, in the calling thread.

        A link whose transfer is already running is skipped. Errors are handled
        as for scheduled transfers.
        """
        for link in self.links:
            self._run_transfer(link)

    def __enter__(self) -> BasePlanner:
        """Start in a background thread; returns once the planner runs."""
        failure: list = []
        self._background_failure = failure

        def run() -> None:
            try:
                self.start()
            except BaseException as error:  # reported by __enter__ or __exit__
                failure.append(error)
            finally:
                self._started.set()  # also when start() failed before RUNNING

        self._started.clear()
        self._background = threading.Thread(target=run, name="databay-planner", daemon=True)
        self._background.start()
        self._started.wait()
        if failure:
            self._background.join()
            raise failure[0]
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Shut down, waiting for transfers; re-raise an error the planner stopped on."""
        self.shutdown(wait=True)
        background, self._background = self._background, None
        if background is not None:
            background.join()
        failure = getattr(self, "_background_failure", ())
        if failure and exc_info[0] is None:
            raise failure[0]

    # -- hooks for subclasses ----------------------------------------------

    @abstractmethod
    def _schedule(self, link: Link) -> None:
        """Start running ``self._run_transfer(link)`` every ``link.interval``."""

    @abstractmethod
    def _unschedule(self, link: Link) -> None:
        """Stop scheduling ``link``."""

    @abstractmethod
    def _start_planner(self) -> None:
        """Begin scheduling; may block until :meth:`_shutdown_planner` is called."""

    @abstractmethod
    def _shutdown_planner(self, wait: bool = True) -> None:
        """Stop scheduling; must return promptly when called from a transfer."""

    def _run_immediate_transfers(self, links: List[Link]) -> None:
        """Run the start-up transfers; by default one by one in ``start()``'s thread."""
        if self.immediate_transfer:
            for link in links:
                if link.immediate_transfer and self._state == STARTING:
                    self._run_transfer(link)

    def _run_transfer(self, link: Link, epoch: Optional[int] = None,
                      lateness: Optional[float] = None) -> bool:
        """Run one transfer of ``link`` unless it is busy or shutdown began.

        ``epoch`` is the value of ``self._epoch`` when the transfer was
        scheduled; a transfer queued before a shutdown never runs. ``lateness``:
        how late a scheduled transfer starts (for stats). Returns whether the
        transfer ran.
        """
        # Lock-free on purpose: thousands of transfers a second contend for no lock.
        # dict.setdefault claims the link atomically; the state is checked again
        # after claiming, so a shutdown that began meanwhile is never missed (its
        # teardown waits for every claimed link).
        if not self._may_run(epoch):
            return False
        claim = object()
        if self._busy.setdefault(link, claim) is not claim:
            _LOGGER.warning("Skipped a transfer of %r: the previous one is still running", link)
            link._stats.was_skipped()
            return False
        if not self._may_run(epoch) or link not in self._members:  # removed while queued
            self._release(link)
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
            _LOGGER.error("%r escaped a transfer of %r; shutting down", error, link, exc_info=error)
            self._record_error(error)
            self.shutdown(wait=False)
        finally:
            _RUNNING_TRANSFERS.reset(token)
            self._release(link)
        return True

    def _may_run(self, epoch: Optional[int]) -> bool:
        return self._state != STOPPING and (epoch is None or epoch == self._epoch)

    def _release(self, link: Link) -> None:
        """Mark ``link`` idle; wake threads waiting for transfers to end, if any."""
        del self._busy[link]
        if self._waiters:
            with self._lock:
                self._changed.notify_all()

    def _wait_until(self, done: Any) -> None:
        """Block until ``done()`` is true, re-checking whenever a transfer ends (lock held)."""
        self._waiters += 1
        try:
            while not done():
                self._changed.wait()
        finally:
            self._waiters -= 1

    def _on_exception(self, exception: BaseException, link: Optional[Link] = None) -> None:
        """Log an exception escaping ``link``; without ``ignore_exceptions``, shut down."""
        _LOGGER.error("Exception in %r: %r", link, exception, exc_info=exception)
        if not self._ignore_exceptions:
            self._record_error(exception)
            self.shutdown(wait=False)

    # -- internals ---------------------------------------------------------

    def _start_links(self, links: List[Link]) -> None:
        for link in links:
            if link not in self._members:  # removed while earlier links were starting
                continue
            try:
                link.on_start()
            except Exception as error:
                _LOGGER.error("on_start failed for %r: %r", link, error, exc_info=error)
                if not self._ignore_exceptions:
                    raise
            if link not in self._members:  # remove_links ran during its on_start: stop it again
                with self._lock:
                    keep = _node_ids(self._links)
                self._guarded("on_shutdown", link, lambda link=link, keep=keep: link.on_shutdown(keep=keep))

    def _set_from_any_context(self, event: threading.Event) -> None:
        """``event.set()``, safe from a signal handler on the thread blocked in ``start()``.

        That thread may be inside ``event.wait()`` holding the Event's own
        (non-reentrant) lock when the handler runs; setting it there would
        deadlock, so a short-lived thread does it instead.
        """
        if threading.current_thread() is self._start_thread:
            threading.Thread(target=event.set, name="databay-wake", daemon=True).start()
        else:
            event.set()

    def _links_running_here(self) -> List[Link]:
        """The links of this planner whose transfer the calling context is inside."""
        return [link for planner, link in _RUNNING_TRANSFERS.get() if planner is self]

    def _record_error(self, error: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = error

    def _begin_shutdown(self, wait: bool = False) -> bool:
        """Enter STOPPING and stop scheduling; False if there is nothing to stop."""
        with self._lock:
            if self._state in (IDLE, STOPPING):
                return self._state == STOPPING
            self._state = STOPPING
            self._epoch += 1
            self._changed.notify_all()
            inside = threading.current_thread() is self._start_thread or \
                bool(self._links_running_here())
        _LOGGER.info("Shutting down %r", self)
        self._observe.emit("planner_stopping")
        self._shutdown_planner(wait=wait and not inside)
        return True

    def _teardown(self) -> None:
        """Wait for transfers, flush Buffers, call on_shutdown; then back to IDLE."""
        with self._teardown_lock:
            with self._lock:
                if self._state == IDLE:
                    return
                self._wait_until(lambda: not self._busy and not self._adding)
                links = list(self._links)
            for link in links:
                self._guarded("flush", link, link.flush)
            for link in links:
                self._guarded("on_shutdown", link, link.on_shutdown)
            with self._lock:
                self._state = IDLE
                self._start_thread = None
                self._changed.notify_all()
            self._stopped.set()
        _LOGGER.info("Shut down %r", self)
        self._observe.emit("planner_stopped")

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


def _node_ids(links: List[Link]) -> set:
    """``id()`` of every inlet and outlet of ``links`` (the nodes to keep running)."""
    return {id(node) for link in links for node in [*link.inlets, *link.outlets]}
