"""A planner's run: the start/shutdown state machine behind ``BasePlanner``.

States, changed only under ``planner._lock``::

    IDLE --start()--> STARTING --nodes started, gate open--> RUNNING
      ^                   |                                     |
      |                   +----------- shutdown() --------------+--> STOPPING
      +------------------- teardown (planners/_teardown.py) <---------+

``start()`` starts every link's nodes, opens the transfer gate and calls the
subclass's ``_start_planner``; a blocking one returns at shutdown, and the
thread that called ``start()`` tears down. ``shutdown()`` closes the gate at
once (no transfer starts after it), stops scheduling and waits for the
teardown, or does it itself for a planner whose ``start()`` did not block.
A ``force_transfer()`` on a planner never started counts in ``_forcing``, so
``start()`` refuses until it ended.
"""

from __future__ import annotations

import threading

from .._log import get_logger, info_may_show
from ..errors import PlannerStateError
from ..link import Link

_INLETS, _OUTLETS = Link.inlets, Link.outlets  # start_link reads the slots unless a subclass overrides these

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional

_LOGGER = get_logger("databay.BasePlanner")


def init_state(planner: Any, ignore_exceptions: bool, immediate_transfer: bool,
               shutdown_at_exit: bool, handle_signals: bool, timeout: Optional[float],
               clock: Any) -> None:
    """``BasePlanner.__init__``: check the arguments, then give the planner its clock and
    transfer gate, an empty link registry and the state machine's fields (IDLE, never started)."""
    from .._log import RepeatLimiter
    from .._observe import PlannerObservability
    from .._validation import check_bool, to_seconds
    from ..base_planner import IDLE
    from ._gate import TransferGate
    from .clock import _check_clock

    planner._ignore_exceptions = check_bool("ignore_exceptions", ignore_exceptions)
    planner.immediate_transfer = check_bool("immediate_transfer", immediate_transfer)
    planner.shutdown_at_exit = check_bool("shutdown_at_exit", shutdown_at_exit)
    planner.handle_signals = check_bool("handle_signals", handle_signals)
    planner._timeout = to_seconds("timeout", timeout, allow_none=True)
    planner._clock = _check_clock("clock", clock)
    planner._gate = TransferGate(planner._clock)
    planner._links = {}  # ordered, O(1) add and remove
    planner._lock = threading.RLock()  # guards the state below and the registry
    planner._state = IDLE
    planner._added = threading.Condition(planner._lock)  # an add_links() starting nodes ended
    planner._adding = []  # threads whose add_links() starts nodes: teardown waits for them
    planner._forcing = 0  # force_transfer() calls on a never-started planner: start() refuses
    planner._start_thread = None  # the thread blocked in start(), if any
    planner._error = None  # what start() raises once torn down
    planner._stopped = threading.Event()  # set while not started and once torn down
    planner._stopped.set()
    planner._started = threading.Event()  # set once RUNNING, or when a background start() ended
    planner._teardown_lock = threading.Lock()
    planner._teardown_thread = None  # the thread tearing down (its node hooks may call shutdown())
    planner._deadline = None  # real time by which shutdown gives up waiting
    planner._hurry = False  # a second signal: stop waiting for slow transfers
    planner.left_behind = []  # links whose transfer the last shutdown did not await
    planner._repeats = RepeatLimiter(_LOGGER)  # skip and misfire messages: once, then summaries
    planner._observe = PlannerObservability(planner)  # stats, events, status server
    if planner.shutdown_at_exit:
        from ._at_exit import shutdown_at_exit_weakly

        shutdown_at_exit_weakly(planner)
    # What start() and shutdown() need, loaded with the planner rather than in start(), where it
    # delayed the immediate transfers: the signal handling (the signal module builds its enums,
    # 1-7 ms) and the teardown (0.3-0.7 ms). Neither does anything until start().
    if planner.handle_signals:
        from . import _signals  # noqa: F401
    from . import _teardown  # noqa: F401


def start(planner: Any) -> None:
    """``BasePlanner.start``."""
    from ..base_planner import IDLE, RUNNING, STARTING

    with planner._lock:
        if planner._state != IDLE:
            raise PlannerStateError("start() called on a planner that is %s; call shutdown() first"
                                    % planner._state)
        if planner._forcing:
            raise PlannerStateError("start() called while force_transfer() runs a one-off "
                                    "transfer of the planner's links; call it once that returned")
        planner._state, planner._error, planner._hurry, planner._deadline = STARTING, None, False, None
        planner._stopped.clear()
        planner._started.clear()
        planner._start_thread = threading.current_thread()
        links = list(planner._links)
    signals = None
    if planner.handle_signals:
        from ._signals import SignalShutdown

        signals = SignalShutdown(planner)
    if info_may_show():
        _LOGGER.info("Starting %r", planner)
    try:
        registry = planner._links
        for link in links:
            if link in registry:
                start_link(planner, link)
            if link not in registry:  # removed while starting (before or during on_start)
                guarded(planner, "on_shutdown", link, link.on_shutdown)
        with planner._lock:
            if planner._state == STARTING:
                planner._gate.open()
        planner._run_immediate_transfers(links)
        with planner._lock:
            if planner._state == STARTING:
                planner._state = RUNNING
        planner._started.set()
        if planner._state == RUNNING:
            planner._observe.emit("planner_started")
            planner._start_planner()
    except KeyboardInterrupt:
        _LOGGER.warning("Interrupted; shutting down %r", planner)
        begin_shutdown(planner)
    except BaseException as error:
        record_error(planner, error)
        begin_shutdown(planner)
    try:
        if planner._state == RUNNING:  # _start_planner did not block: shutdown() tears down
            with planner._lock:
                planner._start_thread = None
            return
        teardown(planner)
    finally:
        if signals is not None:
            signals.restore()
    failure = take_error(planner)
    if failure is not None:
        raise failure


def shutdown(planner: Any, wait: bool, timeout: Optional[float]) -> List[Any]:
    """``BasePlanner.shutdown``."""
    if timeout is not None:
        import time

        from .._validation import to_seconds

        planner._deadline = time.monotonic() + to_seconds("timeout", timeout)
    start_thread = planner._start_thread
    if start_thread is threading.current_thread():
        # Maybe a signal handler that interrupted this thread inside a lock: take none here.
        planner._gate.refuse()
        threading.Thread(target=begin_shutdown, args=(planner,), name="databay-shutdown",
                         daemon=True).start()
        return list(planner.left_behind)
    if not begin_shutdown(planner):
        return list(planner.left_behind)
    if planner._teardown_thread is threading.current_thread():
        return list(planner.left_behind)  # a node hook of the teardown under way in this thread
    # Inside a transfer, or inside add_links() starting nodes (a node's on_start hook), of this
    # planner: the teardown waits for that to end, so it must not run (or be waited for) here.
    inside = bool(planner._links_running_here()) or threading.get_ident() in planner._adding
    if start_thread is None:  # non-blocking planner: tear down here, or elsewhere if inside
        if inside:
            threading.Thread(target=teardown, args=(planner,), name="databay-shutdown",
                             daemon=True).start()
        else:
            teardown(planner)
    elif wait and not inside and not planner._stopped.wait(None if timeout is None else timeout + 0.5):
        planner.left_behind = planner._gate.running(planner._links)  # flushing is still going on
    return list(planner.left_behind)


def force_transfer(planner: Any) -> None:
    """``BasePlanner.force_transfer``: decided under the lock ``start()`` and ``shutdown()`` take."""
    from ..base_planner import IDLE, RUNNING

    with planner._lock:
        state = planner._state
        once = state == IDLE and not planner._started.is_set()
        if once:
            planner._forcing += 1
            planner._gate.open()
    if state == RUNNING:
        for link in planner.links:
            planner._run_transfer(link)
        return
    if not once:
        raise PlannerStateError("force_transfer() called on a planner that is %s; it runs "
                                "transfers while the planner runs (or before its first start())"
                                % ("shut down" if state == IDLE else state))
    from ._teardown import transfer_once

    try:
        for link in planner.links:
            transfer_once(planner, link)
    finally:
        with planner._lock:
            planner._forcing -= 1
            if not planner._forcing:
                planner._gate.close()


def begin_shutdown(planner: Any, wait: bool = False) -> bool:
    """Enter STOPPING, close the gate and stop scheduling; False if not started."""
    from ..base_planner import IDLE, STOPPING

    with planner._lock:
        if planner._state in (IDLE, STOPPING):
            return planner._state == STOPPING
        planner._state = STOPPING
        planner._gate.close()
    if info_may_show():
        _LOGGER.info("Shutting down %r", planner)
    planner._observe.emit("planner_stopping")
    planner._shutdown_planner(wait=wait)
    return True


def teardown(planner: Any) -> None:
    """Wait for transfers (until the deadline or a hurry), flush Buffers, stop nodes; IDLE.

    Once per run, whichever thread gets here first; the others wait for it.
    """
    from ..base_planner import IDLE
    from ._teardown import teardown as finish

    try:
        with planner._teardown_lock:
            if planner._state != IDLE:
                planner._teardown_thread = threading.current_thread()
                try:
                    finish(planner)  # idle again even if a node hook's KeyboardInterrupt ends it
                finally:
                    planner._teardown_thread = None
                    planner._observe.emit("planner_stopped")
    finally:
        planner._stopped.set()


def start_link(planner: Any, link: Any) -> None:
    """Start ``link``'s nodes; with ``ignore_exceptions`` a failure is logged, not raised."""
    if not link._inlets or not link._outlets or type(link).inlets is not _INLETS or \
            type(link).outlets is not _OUTLETS:  # the properties, read only if a subclass overrides one
        _warn_if_no_nodes(link)
    try:
        link.on_start()
    except Exception as error:
        if not planner._ignore_exceptions:
            raise
        _LOGGER.error("on_start failed for %r: %r", link, error, exc_info=error)


def _warn_if_no_nodes(link: Any) -> None:
    """Warn that ``link`` has no inlets or no outlets (read through the properties)."""
    if not link.inlets or not link.outlets:
        _LOGGER.warning("%r has no %s: its transfers will move nothing", link,
                        "inlets" if not link.inlets else "outlets")


def set_from_any_context(planner: Any, event: threading.Event) -> None:
    """``event.set()``, safe from a signal handler on the thread blocked in ``start()``, which
    may hold the Event's lock when the handler runs: then another thread sets it."""
    if threading.current_thread() is planner._start_thread:
        threading.Thread(target=event.set, name="databay-wake", daemon=True).start()
    else:
        event.set()


def take_error(planner: Any) -> Optional[BaseException]:
    """The error that stopped the last run, cleared: what a blocking ``start()`` raises, and
    what a caller of a planner whose ``start()`` does not block asks for after ``shutdown()``."""
    with planner._lock:
        error, planner._error = planner._error, None
    return error


def transfer_failed(planner: Any, error: BaseException, link: Any) -> None:
    """``BasePlanner._on_exception``: log ``error``; without ``ignore_exceptions``, stop on it."""
    if planner._ignore_exceptions:
        if link is None or not link._log_raised(error):  # a node's: one traceback, then summaries
            planner._repeats.log(("failed", id(link), type(error), str(error)), 40,  # ERROR
                                 "Transfer of %r failed", (link,), ": %r", (error,), exc_info=error)
        return
    # No traceback here: start() re-raises this very exception.
    stop_on(planner, error, "Transfer of %r failed: %r; shutting down (start() raises it)",
            link, error)


def stop_on(planner: Any, error: BaseException, message: str, *args: Any) -> None:
    """A transfer raised ``error`` and the planner stops on it: log ``message``, keep the error
    for ``start()`` to raise, and shut down without waiting (this may be inside the transfer)."""
    _LOGGER.error(message, *args)
    record_error(planner, error)
    planner.shutdown(wait=False)


def record_error(planner: Any, error: BaseException) -> None:
    """Keep the first error of this run: ``start()`` raises it after the teardown."""
    with planner._lock:
        if planner._error is None:
            planner._error = error


def guarded(planner: Any, what: str, link: Any, action: Any, record: bool = True
            ) -> Optional[Exception]:
    """Run ``action``; log an exception naming ``link`` and return it (recorded if ``record``)."""
    try:
        action()
    except Exception as error:  # noqa: BLE001 - shutdown must reach every link
        failed(planner, what, link, error, record)
        return error
    return None


def failed(planner: Any, what: str, link: Any, error: Exception, record: bool = True) -> None:
    """``what`` (flush, on_shutdown, ...) raised ``error`` for ``link``: log it, maybe record it."""
    _LOGGER.error("%s failed for %r: %r", what, link, error, exc_info=error)
    if record and not planner._ignore_exceptions:
        record_error(planner, error)
