"""Run a handful of calls at once: on threads for sync code, on a loop for async.

A *call* is ``(function, args, is_coroutine, node)``. Each returns an *outcome*
``(True, value)`` or ``(False, exception)`` in the order the calls were given,
so the caller decides what a failure means. Sync calls that unexpectedly return
an awaitable are awaited (or run to completion) rather than dropped. Helper
threads run in a copy of the caller's ``contextvars`` context, so context
(e.g. which planner transfer is running) follows the work onto them.
"""

from __future__ import annotations

import _thread

from ._coroutines import is_awaitable, run_coroutine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

    Call = Tuple[Callable[..., Any], tuple, bool, Any]  # node: whose call it is (timeouts)
    Outcome = Tuple[bool, Any]


def call(function: Callable[..., Any], args: tuple) -> Outcome:
    """Call ``function(*args)`` from sync code and return its outcome."""
    try:
        value = function(*args)
        if is_awaitable(value):
            value = run_coroutine(value)
        return True, value
    except BaseException as error:  # noqa: BLE001 - the caller re-raises non-Exceptions
        return False, error


def run_on_threads(calls: Sequence[Call], limit: Optional[int]) -> List[Outcome]:
    """Run ``calls`` with at most ``limit`` at once (None: all at once).

    The calling thread takes part, so one call (or ``limit=1``) starts no thread.
    Helper threads live only for this call: nothing is left running afterwards.
    """
    count = len(calls)
    if count == 1:
        return [call(calls[0][0], calls[0][1])]
    workers = count if limit is None else min(count, limit)
    if workers <= 1:
        return [call(item[0], item[1]) for item in calls]
    import contextvars  # not at module level: ``import databay`` stays cheap
    import threading
    outcomes: List[Any] = [None] * count
    indices = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            outcomes[index] = call(calls[index][0], calls[index][1])

    helpers = [threading.Thread(target=contextvars.copy_context().run, args=(work,),
                                name="databay-call", daemon=True)
               for _ in range(workers - 1)]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    return outcomes


async def run_on_loop(calls: Sequence[Call], limit: Optional[int], timeout: Optional[float] = None,
                      abandoned: Optional[Dict[int, Any]] = None, update: Any = None) -> List[Outcome]:
    """Run ``calls`` concurrently on the running loop, at most ``limit`` at once.

    Coroutine calls are awaited; blocking sync calls run on short-lived threads
    so they do not stall the loop (a single call, or every call when ``limit``
    is 1, runs inline: ``inlet_concurrency=1`` keeps every pull on one thread),
    unless there is a ``timeout``. With ``timeout``, a coroutine call past it
    is cancelled and a sync one abandoned (as in :func:`run_on_threads_timed`).
    """
    import asyncio

    if timeout is None and (len(calls) == 1 or limit == 1):  # sync calls run inline, on this thread
        return [await _await_call(item[0], item[1]) for item in calls]
    loop = asyncio.get_running_loop()
    semaphore = asyncio.Semaphore(limit) if limit is not None and limit < len(calls) else None

    async def one(item: Call) -> Outcome:
        if semaphore is not None:
            async with semaphore:
                return await _dispatch(loop, item, timeout, abandoned, update)
        return await _dispatch(loop, item, timeout, abandoned, update)

    return list(await asyncio.gather(*[one(item) for item in calls]))


async def _dispatch(loop: Any, item: Call, timeout: Optional[float], abandoned: Optional[Dict[int, Any]],
                    update: Any) -> Outcome:
    function, args, is_coroutine, node = item
    if timeout is not None:
        assert abandoned is not None
        busy = _still_busy(node, abandoned)
        if busy is not None:
            return False, busy
    if is_coroutine:
        if timeout is None:
            return await _await_call(function, args)
        import asyncio

        try:
            return True, await asyncio.wait_for(_call_coroutine(function, args), timeout)
        except asyncio.TimeoutError:
            return False, _timed_out(node, timeout, update, cancelled=True)
        except Exception as error:  # noqa: BLE001 - the caller reports it
            return False, error
    import contextvars
    import threading

    future = loop.create_future()
    state = ["running"]

    def target() -> None:
        outcome = call(function, args)
        with _ABANDON_LOCK:
            gone = state[0] == "abandoned"
            if not gone:
                state[0] = "done"
        if gone:  # logged first, then the node is free again
            _log_returned(node, outcome)
            with _ABANDON_LOCK:
                abandoned.pop(id(node), None)  # type: ignore[union-attr]
        else:
            loop.call_soon_threadsafe(_resolve, future, outcome)

    threading.Thread(target=contextvars.copy_context().run, args=(target,),
                     name="databay-call", daemon=True).start()
    if timeout is None:
        return await future
    import asyncio

    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except asyncio.TimeoutError:
        with _ABANDON_LOCK:
            finishing = state[0] == "done"  # returned just now: its outcome is on its way
            if not finishing:
                state[0] = "abandoned"
                abandoned[id(node)] = (node, update)  # type: ignore[index]
        if finishing:
            return await future
        return False, _timed_out(node, timeout, update)


def _resolve(future: Any, outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


async def _call_coroutine(function: Callable[..., Any], args: tuple) -> Any:
    value = function(*args)
    if is_awaitable(value):
        value = await value
    return value


async def _await_call(function: Callable[..., Any], args: tuple) -> Outcome:
    try:
        value = function(*args)
        if is_awaitable(value):
            value = await value
        return True, value
    except BaseException as error:  # noqa: BLE001 - the caller re-raises non-Exceptions
        return False, error


def run_on_threads_timed(calls: Sequence[Call], limit: Optional[int], timeout: float,
                         abandoned: Dict[int, Any], update: Any = None) -> List[Outcome]:
    """Like :func:`run_on_threads`, but no call holds the caller longer than ``timeout`` seconds.

    Every call runs on a thread of its own. One past its ``timeout`` is
    *abandoned*: its outcome is a :class:`~databay.errors.NodeTimeoutError`,
    its slot goes to the next call, and its thread keeps running on its own;
    until it returns, its node is listed in ``abandoned`` (``id(node)`` ->
    ``(node, update)``) and every call of that node fails fast with a
    NodeTimeoutError instead of starting.
    """
    import contextvars
    import threading
    import time

    count = len(calls)
    outcomes: List[Any] = [None] * count
    changed = threading.Condition(_ABANDON_LOCK)
    finished: Dict[int, Outcome] = {}
    running: Dict[int, float] = {}  # index -> deadline
    state: Dict[int, str] = {}
    waiting = list(range(count))

    def target(index: int) -> None:
        function, args, _, node = calls[index]
        outcome = call(function, args)
        with changed:
            returned = state[index] == "abandoned"
            if not returned:
                finished[index] = outcome
                changed.notify_all()
        if returned:  # logged first, then the node is free again
            _log_returned(node, outcome)
            with changed:
                abandoned.pop(id(node), None)

    with changed:
        while waiting or running:
            while waiting and (limit is None or len(running) < limit):
                index = waiting.pop(0)
                node = calls[index][3]
                busy = _still_busy(node, abandoned)
                if busy is not None:
                    outcomes[index] = (False, busy)
                    continue
                state[index] = "running"
                running[index] = time.monotonic() + timeout
                threading.Thread(target=contextvars.copy_context().run, args=(target, index),
                                 name="databay-call", daemon=True).start()
            for index in list(finished):
                outcomes[index] = finished.pop(index)
                del running[index]
            now = time.monotonic()
            for index in [index for index, due in running.items() if due <= now]:
                node = calls[index][3]
                state[index] = "abandoned"
                abandoned[id(node)] = (node, update)
                del running[index]
                outcomes[index] = (False, _timed_out(node, timeout, update))
            if running and not finished and (not waiting or len(running) >= (limit or count)):
                changed.wait(max(min(running.values()) - now, 0.0))
    return outcomes


_ABANDON_LOCK = _thread.allocate_lock()


def _still_busy(node: Any, abandoned: Dict[int, Any]) -> Optional[BaseException]:
    """A NodeTimeoutError if ``node`` is still running an abandoned call, else None."""
    entry = abandoned.get(id(node))
    if entry is None:
        return None
    from .errors import NodeTimeoutError

    error = NodeTimeoutError("%r is still running a call abandoned during update %s; it is not "
                             "called again until that call returns" % (node, entry[1]))
    return error


def _timed_out(node: Any, timeout: float, update: Any, cancelled: bool = False) -> BaseException:
    """The error of a call past ``timeout`` (no update in the text: repeats are summarised by it)."""
    from .errors import NodeTimeoutError

    if cancelled:
        error = NodeTimeoutError("%r did not finish within timeout=%s s; cancelled" % (node, timeout))
    else:
        error = NodeTimeoutError("%r did not return within timeout=%s s; abandoned (its call goes on "
                                 "in its own thread; the node is not called again until it returns)"
                                 % (node, timeout))
        error.abandoned = True  # type: ignore[attr-defined]
    return error


def _log_returned(node: Any, outcome: Outcome) -> None:
    from ._log import get_logger

    get_logger("databay.Link").warning("The abandoned call of %r has returned (%s); it is called again "
                                       "from the next transfer", node,
                                       "ok" if outcome[0] else "raising %r" % (outcome[1],))
