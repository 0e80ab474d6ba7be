"""Opt-in console logging for applications (databay itself never adds handlers)."""

from __future__ import annotations

import logging
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, TextIO

DEFAULT_FORMAT = "%(asctime)s|%(levelname)-.1s| %(message)s (%(name)s)"


class ISO8601Formatter(logging.Formatter):
    """Formats ``asctime`` as ISO 8601 with milliseconds, e.g. ``2024-05-01T12:00:00.123+0000``.

    Args:
        millis_precision: digits of the fractional second (3 by default).
        pretty: use a space instead of ``T`` and drop the time zone.
    """

    def __init__(self, *args: Any, millis_precision: int = 3, pretty: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.millis_precision = millis_precision
        self.precision_mult = 10 ** (self.millis_precision - 3)
        self.str_format = "%s.%0" + str(self.millis_precision) + "d%s"
        self.set_pretty(pretty)

    def make_time_format(self) -> None:
        """Recompute ``time_format`` from ``pretty``."""
        self.time_format = "%Y-%m-%d %H:%M:%S" if self.pretty else "%Y-%m-%dT%H:%M:%S"

    def set_pretty(self, pretty: bool) -> None:
        """Switch between the ``T``/zone form and the readable form."""
        self.pretty = pretty
        self.make_time_format()

    def formatTime(self, record: logging.LogRecord, datefmt: Optional[str] = None) -> str:
        created = self.converter(record.created)
        zone = "" if self.pretty else time.strftime("%z", created)
        millis = int(record.msecs * self.precision_mult)
        return self.str_format % (time.strftime(self.time_format, created), millis, zone)


def enable_console_logging(level: int = logging.INFO, stream: Optional[TextIO] = None,
                           pretty: bool = True) -> logging.Handler:
    """Log ``databay`` messages at ``level`` and above to ``stream`` (stderr by default).

    Adds one ``StreamHandler`` with :class:`ISO8601Formatter` to the ``databay``
    logger and returns it, so the caller can remove it again with
    ``logging.getLogger('databay').removeHandler(handler)``.
    """
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ISO8601Formatter(DEFAULT_FORMAT, pretty=pretty))
    logger = logging.getLogger("databay")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
