"""SIGINT/SIGTERM while a planner's ``start()`` blocks the main thread.

The first signal asks for a graceful shutdown (wait for running transfers,
deliver what Buffers hold, stop the nodes); a second one means *hurry*: stop
waiting for slow transfers, still deliver what the other links hold, and
report what is left behind. The previous handlers are restored when
``start()`` returns. Only the main thread can install signal handlers, so a
planner started elsewhere leaves signals alone.
"""

from __future__ import annotations

import signal
import threading
from types import FunctionType

from .._log import get_logger

try:
    # The signal module's own ``signal()`` turns the handler it replaces into an enum member,
    # and for a function (SIGINT's default handler) that goes through a raised ValueError:
    # 40-120 µs of start() before the immediate transfers. Its C function answers as is.
    from _signal import signal as _c_signal  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - an interpreter without the C module
    _c_signal = signal.signal


def _installer() -> Any:
    """The function that installs (and later restores) the handlers: the C one while
    ``signal.signal`` is the signal module's own function, else what replaced it
    (``mock.patch("signal.signal")`` in a test, say), which start() then calls as before."""
    current = signal.signal
    genuine = isinstance(current, FunctionType) and current.__module__ == "signal" and \
        current.__name__ == "signal"
    return _c_signal if genuine else current


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

_LOGGER = get_logger("databay.BasePlanner")


class SignalShutdown:
    """Installs the handlers for one blocking ``start()``; :meth:`restore` puts the old ones back."""

    def __init__(self, planner: Any) -> None:
        self._planner = planner
        self._previous: Dict[int, Any] = {}
        self._install = _installer()
        self.received = 0
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[number] = self._install(number, self._handle)
            except (ValueError, OSError):  # pragma: no cover - e.g. an embedded interpreter
                pass

    def _handle(self, number: int, frame: Any) -> None:
        self.received += 1
        name = signal.Signals(number).name
        if self.received == 1:
            _LOGGER.warning("%s received: shutting down %r gracefully (send it again to hurry)",
                            name, self._planner)
            self._planner.shutdown(wait=False)
        else:
            _LOGGER.warning("%s received again: hurrying the shutdown of %r (slow transfers are "
                            "left behind; Buffers of the others are still delivered)",
                            name, self._planner)
            self._planner._hurry = True

    def restore(self) -> None:
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            self._install(number, handler if handler is not None else signal.SIG_DFL)
