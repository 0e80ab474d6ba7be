"""Detecting and running coroutine callables without importing asyncio eagerly.

``asyncio`` costs tens of milliseconds to import, so ``databay`` imports it only
when a coroutine actually has to run.
"""

from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Coroutine

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, stable since Python 3.5


# The types this module tests for, found as the ``types`` module finds them (importing it would
# cost more than the rest of this module).
def _function() -> None:
    """Only its type is used."""


async def _coroutine_function() -> None:
    """Only the type of its coroutine is used."""


class _Method:
    def method(self) -> None:
        """Only the type of its bound method is used."""


_FunctionType: Any = type(_function)
_CodeType: Any = type(_function.__code__)
_MethodType: Any = type(_Method().method)
_BuiltinFunctionType: Any = type(len)
_probe = _coroutine_function()
_CoroutineType: Any = type(_probe)
_probe.close()  # never awaited: closed at once, so no "never awaited" warning
del _probe


def is_coroutine_callable(func: Any) -> bool:
    """Whether calling ``func`` returns a coroutine.

    Sees through bound methods, ``functools.partial`` objects and callable
    instances whose ``__call__`` is ``async def``; recognises ``AsyncMock``.
    """
    if type(func) is _MethodType and type(func.__func__) is _FunctionType:  # the usual case
        return bool(func.__func__.__code__.co_flags & _CO_COROUTINE)
    functools = sys.modules.get("functools")  # a partial implies functools was imported
    partial = functools.partial if functools is not None else ()
    for _ in range(32):  # unwrap at most this many layers
        if isinstance(func, partial):
            func = func.func
        elif isinstance(func, _MethodType):
            func = func.__func__
        else:
            break
    code = getattr(func, "__code__", None)
    if isinstance(code, _CodeType):
        return bool(code.co_flags & _CO_COROUTINE)
    if getattr(func, "_is_coroutine", None) is not None or \
            getattr(func, "_is_coroutine_marker", None) is not None:
        return True  # asyncio.coroutine markers, unittest.mock.AsyncMock
    call = getattr(type(func), "__call__", None)  # noqa: B004 - an instance with ``async def __call__``
    if call is not None and not isinstance(func, type) and not isinstance(func, _BuiltinFunctionType):
        code = getattr(call, "__code__", None)
        return isinstance(code, _CodeType) and bool(code.co_flags & _CO_COROUTINE)
    return False


_NEVER_AWAITABLE = frozenset({list, int, float, str, bytes, dict, tuple, set, bool, type(None)})


def is_awaitable(value: Any) -> bool:
    """Whether ``value`` can be awaited (coroutine, Future, object with ``__await__``)."""
    kind = type(value)
    if kind in _NEVER_AWAITABLE:  # the common answer, without an attribute lookup
        return False
    return kind is _CoroutineType or hasattr(kind, "__await__")


def run_coroutine(coroutine: Coroutine) -> Any:
    """Run ``coroutine`` to completion from synchronous code and return its result.

    Uses ``asyncio.run``; when the calling thread already runs an event loop
    (e.g. a notebook), runs it on a short-lived helper thread instead.
    """
    import asyncio
    import contextvars
    import threading

    if not loop_running():
        return asyncio.run(_as_coroutine(coroutine))
    outcome: list = []

    def target() -> None:
        try:
            outcome.append((True, asyncio.run(_as_coroutine(coroutine))))
        except BaseException as error:  # re-raised in the caller's thread
            outcome.append((False, error))

    helper = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                              name="databay-coroutine")
    helper.start()
    helper.join()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def loop_running() -> bool:
    """Whether the calling thread is running an asyncio event loop."""
    asyncio = sys.modules.get("asyncio")  # not imported yet: no loop can be running
    return asyncio is not None and asyncio._get_running_loop() is not None


class LoopRunner:
    """Runs coroutines on one event loop that is reused from call to call.

    ``asyncio.run`` builds and tears down a loop each time (about 150 µs); a
    link that transfers every few milliseconds should not pay that. The loop
    is created on first use and closed by :meth:`close` or when the runner is
    garbage-collected. A call made while the loop is busy in another thread,
    or from a thread that already runs a loop, falls back to
    :func:`run_coroutine`.
    """

    def __init__(self) -> None:
        self._loop: Any = None
        self._lock = _thread.allocate_lock()
        self._finalizer: Any = None
        self._close_pending = False  # close() was called while run() was busy

    def run(self, coroutine: Coroutine) -> Any:
        """Run ``coroutine`` to completion and return its result."""
        if loop_running() or not self._lock.acquire(blocking=False):
            return run_coroutine(coroutine)
        try:
            if self._loop is None:
                import asyncio
                import weakref

                self._loop = asyncio.new_event_loop()
                self._finalizer = weakref.finalize(self, _close_loop, self._loop)
            return self._loop.run_until_complete(coroutine)
        finally:
            self._lock.release()
            if self._close_pending:
                self._close_pending = False
                self.close()

    def close(self) -> None:
        """Close the loop (cancelling leftover tasks); the next ``run`` makes a new one.

        While :meth:`run` is busy (e.g. a node shuts its own link down during a
        transfer) the loop is closed as soon as ``run`` returns, instead of
        waiting for it, which would deadlock.
        """
        if not self._lock.locked() and self._loop is None:
            # No run() busy, and none had made a loop (read in this order: a run() between
            # the two reads shows its loop): nothing to close (a link without async nodes).
            return
        if not self._lock.acquire(blocking=False):
            self._close_pending = True
            return
        try:
            finalizer, self._finalizer, self._loop = self._finalizer, None, None
        finally:
            self._lock.release()
        if finalizer is not None:
            finalizer()


def _close_loop(loop: Any) -> None:
    """Cancel what is left on ``loop``, shut its executor and async generators, close it.

    This may run as a garbage-collection finalizer on any thread, including one
    that is running another loop, where ``run_until_complete`` is refused: the
    clean-up then happens on a short-lived thread of its own.
    """
    import asyncio

    if loop.is_closed() or loop.is_running():
        return
    if loop_running():
        import threading

        helper = threading.Thread(target=_close_loop, args=(loop,), name="databay-loop-close")
        helper.start()
        helper.join()
        return
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable

