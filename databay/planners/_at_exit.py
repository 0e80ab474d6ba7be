"""Graceful shutdown at interpreter exit, without keeping anything alive.

One ``atexit`` hook, registered the first time it is needed (never at import),
walks a ``WeakSet``: an object asked to be shut down at exit can still be
garbage-collected, and one that was already stopped is left alone.
"""

from __future__ import annotations

from .._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_LOGGER = get_logger("databay.BasePlanner")
_registered: Any = None  # WeakSet of planners, created with the hook


def shutdown_at_exit_weakly(planner: Any) -> None:
    """Call ``planner.shutdown(wait=True)`` at exit if it is still alive."""
    global _registered
    if _registered is None:
        import threading
        import weakref

        _registered = weakref.WeakSet()
        # Runs before the interpreter joins non-daemon threads (atexit hooks run
        # after): a planner started in a plain Thread must stop, or exit hangs.
        register = getattr(threading, "_register_atexit", None)
        if register is None:  # pragma: no cover - CPython < 3.9 or another runtime
            import atexit

            register = atexit.register
        register(_shutdown_registered)
    _registered.add(planner)


def _shutdown_registered() -> None:
    for planner in list(_registered or ()):
        _LOGGER.info("Shutting down %r at interpreter exit", planner)
        planner.shutdown(wait=True)  # a no-op for a planner that is not running
