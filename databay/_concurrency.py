"""Run a handful of calls at once: on threads for sync code, on a loop for async.

A *call* is ``(function, args, is_coroutine)``. Each returns an *outcome*
``(True, value)`` or ``(False, exception)`` in the order the calls were given,
so the caller decides what a failure means. Sync calls that unexpectedly return
an awaitable are awaited (or run to completion) rather than dropped. Helper
threads run in a copy of the caller's ``contextvars`` context, so context
(e.g. which planner transfer is running) follows the work onto them.
"""

from __future__ import annotations

import contextvars

from ._coroutines import is_awaitable, run_coroutine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Sequence, Tuple

    Call = Tuple[Callable[..., Any], tuple, bool]
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
        function, args, _ = calls[0]
        return [call(function, args)]
    workers = count if limit is None else min(count, limit)
    if workers <= 1:
        return [call(function, args) for function, args, _ in calls]
    import threading  # not at module level: ``import databay`` stays cheap
    outcomes: List[Any] = [None] * count
    indices = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            function, args, _ = calls[index]
            outcomes[index] = call(function, args)

    helpers = [threading.Thread(target=contextvars.copy_context().run, args=(work,),
                                name="databay-call", daemon=True)
               for _ in range(workers - 1)]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    return outcomes


async def run_on_loop(calls: Sequence[Call], limit: Optional[int]) -> List[Outcome]:
    """Run ``calls`` concurrently on the running loop, at most ``limit`` at once.

    Coroutine calls are awaited; blocking sync calls run on short-lived threads
    so they do not stall the loop (a single call, or every call when ``limit``
    is 1, runs inline: ``inlet_concurrency=1`` keeps every pull on one thread).
    """
    import asyncio

    if len(calls) == 1 or limit == 1:  # one at a time: sync calls run inline, on this thread
        return [await _await_call(function, args) for function, args, _ in calls]
    loop = asyncio.get_running_loop()
    semaphore = asyncio.Semaphore(limit) if limit is not None and limit < len(calls) else None

    async def one(function: Callable[..., Any], args: tuple, is_coroutine: bool) -> Outcome:
        if semaphore is not None:
            async with semaphore:
                return await _dispatch(loop, function, args, is_coroutine)
        return await _dispatch(loop, function, args, is_coroutine)

    return list(await asyncio.gather(*[one(*item) for item in calls]))


async def _dispatch(loop: Any, function: Callable[..., Any], args: tuple, is_coroutine: bool) -> Outcome:
    if is_coroutine:
        return await _await_call(function, args)
    import threading

    future = loop.create_future()

    def target() -> None:
        outcome = call(function, args)
        loop.call_soon_threadsafe(_resolve, future, outcome)

    threading.Thread(target=contextvars.copy_context().run, args=(target,),
                     name="databay-call", daemon=True).start()
    return await future


def _resolve(future: Any, outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


async def _await_call(function: Callable[..., Any], args: tuple) -> Outcome:
    try:
        value = function(*args)
        if is_awaitable(value):
            value = await value
        return True, value
    except BaseException as error:  # noqa: BLE001 - the caller re-raises non-Exceptions
        return False, error
