"""Loggers that import :mod:`logging` only when first used.

``import logging`` costs several milliseconds (it pulls in ``re``, ``enum``
and ``traceback``); ``import databay`` should not. Loggers keep their literal
names under ``databay`` and no handler is ever attached, so an application
that configured nothing still sees WARNING and above via ``logging.lastResort``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any, Callable, Dict, Hashable, List, Optional


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


def info_may_show() -> bool:
    """Whether an INFO or DEBUG line could be shown at all.

    Not while :mod:`logging` was never imported: only code that imports it can
    enable a level below WARNING. The add, start and stop paths check this
    first, so a process that configured nothing skips both the line and the
    import (milliseconds, paid before the first transfers or by ``shutdown()``).
    """
    return "logging" in sys.modules


class RepeatLimiter:
    """Keeps repeated log messages readable: the first in full, then one summary per period.

    :meth:`log` takes a *key* naming what happened (e.g. link, node, error type
    and message). The first occurrence of a key is logged in full, with its
    traceback. Later occurrences within ``period`` seconds are only counted;
    the next occurrence after the period (or :meth:`flush`, at shutdown) logs
    one line such as ``Outlet X of Link(...) failed 57 more times in the last
    60 s (latest: ...)``. A key that stays quiet for a whole period starts
    afresh with a full message. Thread-safe; the common case (a repeat inside
    the period) is a lock, a dict lookup and an addition.

    Args:
        logger: where messages go.
        period: seconds between summaries of one key.
        clock: returns the current time in seconds (default ``time.monotonic``);
            tests inject a fake one.
        max_keys: distinct keys remembered at once; the stalest are summarised
            and forgotten beyond it, so varying messages cannot grow memory.
    """

    def __init__(self, logger: Any, period: float = 60.0, clock: Optional[Callable[[], float]] = None,
                 max_keys: int = 1000) -> None:
        import threading
        import time

        self._logger = logger
        self.period = float(period)
        self._clock = clock if clock is not None else time.monotonic
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key -> [window start, last seen, repeats since window start, level, subject, latest detail]
        self._seen: Dict[Hashable, list] = {}

    def log(self, key: Hashable, level: int, subject: str, subject_args: tuple = (),
            detail: str = "", detail_args: tuple = (), exc_info: Any = None, times: int = 1) -> bool:
        """Log ``subject % subject_args`` then ``detail % detail_args`` (in full the first time), or count it.

        ``subject`` says who did what (``"Outlet %r of %r failed"``), ``detail``
        the particulars of this occurrence (``"during update %s: %r"``); both
        are %-style formats, formatted only if a handler emits the line.
        ``times``: how many occurrences this call stands for (a caller that saw
        many at once logs them with one call); beyond the first they count as repeats.
        Returns whether a line was written.
        """
        now = self._clock()
        summaries: List[tuple] = []
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[1] < self.period:  # a repeat: count it
                entry[1], entry[5] = now, (detail, detail_args)
                entry[2] += times
                if now - entry[0] < self.period:
                    return False
                summary: Optional[tuple] = (entry[3], entry[4], entry[2], now - entry[0], entry[5])
                entry[0], entry[2] = now, 0
            else:  # new, or quiet for a whole period: log in full
                if entry is not None and entry[2]:
                    summaries.append((entry[3], entry[4], entry[2], entry[1] - entry[0], entry[5]))
                self._seen[key] = [now, now, times - 1, level, (subject, subject_args),
                                   (detail, detail_args)]
                if len(self._seen) > self._max_keys:
                    summaries.extend(self._forget_stale())
                summary = None
        if summary is not None:
            self._summarise(*summary)
            return True
        for item in summaries:
            self._summarise(*item)
        self._logger.log(level, "%s %s" % (subject, detail) if detail else subject,
                         *subject_args, *detail_args, exc_info=exc_info)
        return True

    def flush(self) -> None:
        """Summarise every key with uncounted repeats (call at shutdown)."""
        with self._lock:
            pending = [(entry[3], entry[4], entry[2], entry[1] - entry[0], entry[5])
                       for entry in self._seen.values() if entry[2]]
            self._seen.clear()
        for item in pending:
            self._summarise(*item)

    def _forget_stale(self) -> List[tuple]:
        """Drop the least recently seen keys down to ``max_keys``; return their summaries."""
        excess = len(self._seen) - self._max_keys
        oldest = sorted(self._seen.items(), key=lambda item: item[1][1])[:excess]
        summaries = []
        for key, entry in oldest:
            del self._seen[key]
            if entry[2]:
                summaries.append((entry[3], entry[4], entry[2], entry[1] - entry[0], entry[5]))
        return summaries

    def _summarise(self, level: int, subject: tuple, count: int, seconds: float, detail: tuple) -> None:
        text, args = subject
        if detail[0]:
            self._logger.log(level, text + " %d more time%s in the last %.0f s (latest: " + detail[0] + ")",
                             *args, count, "" if count == 1 else "s", max(seconds, 1.0), *detail[1])
        else:
            self._logger.log(level, text + " %d more time%s in the last %.0f s",
                             *args, count, "" if count == 1 else "s", max(seconds, 1.0))
