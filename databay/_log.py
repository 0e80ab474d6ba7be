"""Loggers that import :mod:`logging` only when first used.

``import logging`` costs several milliseconds (it pulls in ``re``, ``enum``
and ``traceback``); ``import databay`` should not. Loggers keep their literal
names under ``databay`` and no handler is ever attached, so an application
that configured nothing still sees WARNING and above via ``logging.lastResort``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


class _LazyLogger:
    """Stands in for ``logging.getLogger(name)`` until an attribute is used."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> object:
        import logging

        value = getattr(logging.getLogger(self.name), attribute)
        if callable(value):  # cache bound methods such as .exception and .debug
            self.__dict__[attribute] = value
        return value


def get_logger(name: str) -> logging.Logger:
    """Return the logger called ``name``; :mod:`logging` is imported on first use."""
    return _LazyLogger(name)  # type: ignore[return-value]
