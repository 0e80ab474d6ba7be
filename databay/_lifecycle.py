"""The once-only start/shutdown guard shared by Inlet and Outlet."""

from __future__ import annotations

import _thread

from .errors import ImplementationError


def check_initialised(node: object) -> None:
    """Raise ImplementationError if ``node``'s ``__init__`` skipped ``super().__init__()``.

    Looks for ``_active``, which ``Lifecycle._init_lifecycle`` always sets.
    """
    if "_active" not in getattr(node, "__dict__", {}):
        cls = type(node).__name__
        raise ImplementationError(
            "%s.__init__ did not call super().__init__(); add super().__init__(...) "
            "to %s.__init__" % (cls, cls))


class Lifecycle:
    """``on_start``/``on_shutdown`` hooks that run once per instance.

    A node shared by several links (or planners) is started by whichever asks
    first and shut down once. ``active`` is True between a successful
    ``on_start`` and the following ``on_shutdown``. If ``on_start`` raises, the
    node stays inactive, so a later ``try_shutdown`` does not call
    ``on_shutdown`` for a node that never started.
    """

    _active: bool
    _lifecycle_lock: _thread.RLock
    _uses_coroutine: bool  # set by Inlet/Outlet: whether pull/push is ``async def``

    def _init_lifecycle(self) -> None:
        self._active = False
        self._lifecycle_lock = _thread.RLock()  # threading's RLock, without importing threading

    @property
    def active(self) -> bool:
        """Whether the node is started and ready (set by ``try_start``/``try_shutdown``)."""
        check_initialised(self)
        return self._active

    def try_start(self) -> None:
        """Call ``on_start`` unless the node is already active."""
        check_initialised(self)
        with self._lifecycle_lock:
            if self._active:
                return
            self.on_start()
            self._active = True

    def try_shutdown(self) -> None:
        """Call ``on_shutdown`` if the node is active; mark it inactive even if that raises."""
        check_initialised(self)
        with self._lifecycle_lock:
            if not self._active:
                return
            self._active = False
            self.on_shutdown()

    def on_start(self) -> None:
        """Override to acquire resources; called once before the first transfer."""

    def on_shutdown(self) -> None:
        """Override to release resources; called once after the last transfer."""
