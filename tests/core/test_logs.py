"""databay.misc.logs: the ISO 8601 formatter and opt-in console logging."""

import io
import logging
import re
import time

import pytest

from databay.misc.logs import ISO8601Formatter, enable_console_logging


def _record(created, msecs, message="hello"):
    return logging.makeLogRecord({"msg": message, "levelname": "WARNING", "levelno": logging.WARNING,
                                  "name": "databay.Test", "created": created, "msecs": msecs})


def test_iso_format_with_t_millis_and_zone():
    """The default formatter writes YYYY-MM-DDTHH:MM:SS.mmm±HHMM in local time."""
    created = 1714564800.123  # 2024-05-01T12:00:00.123Z
    text = ISO8601Formatter("%(asctime)s").format(_record(created, 123.0))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123[+-]\d{4}", text), text
    local = time.localtime(created)
    assert text.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", local))
    assert text.endswith(time.strftime("%z", local))


def test_pretty_format_uses_space_and_no_zone():
    """pretty=True writes YYYY-MM-DD HH:MM:SS.mmm without a zone."""
    created = 1714564800.007
    text = ISO8601Formatter("%(asctime)s", pretty=True).format(_record(created, 7.0))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.007", text), text


def test_set_pretty_switches_format():
    """set_pretty toggles between the two forms on an existing formatter."""
    formatter = ISO8601Formatter("%(asctime)s")
    formatter.set_pretty(True)
    assert " " in formatter.format(_record(1714564800.5, 500.0))
    formatter.set_pretty(False)
    assert "T" in formatter.format(_record(1714564800.5, 500.0))


def test_millis_precision_digits():
    """millis_precision sets the number of fractional digits."""
    text = ISO8601Formatter("%(asctime)s", millis_precision=6, pretty=True).format(
        _record(1714564800.123456, 123.456))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", text), text
    assert text.endswith(".123456") or text.endswith(".123455")


def test_format_includes_message_and_level():
    """The formatter renders a normal logging format string around the timestamp."""
    text = ISO8601Formatter("%(asctime)s|%(levelname)s|%(message)s").format(_record(0.0, 0.0))
    assert text.endswith("|WARNING|hello")


@pytest.fixture
def databay_logger():
    """The 'databay' logger, restored to its level and handlers afterwards."""
    logger = logging.getLogger("databay")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_enable_console_logging_returns_its_handler(databay_logger):
    """enable_console_logging adds one handler to 'databay', returns it, and output reaches the stream."""
    stream = io.StringIO()
    before = list(databay_logger.handlers)
    handler = enable_console_logging(level=logging.DEBUG, stream=stream)
    assert isinstance(handler, logging.Handler)
    assert databay_logger.handlers == before + [handler]
    assert isinstance(handler.formatter, ISO8601Formatter)
    assert databay_logger.level == logging.DEBUG
    logging.getLogger("databay.Link").debug("transfer %s", "done")
    output = stream.getvalue()
    assert "transfer done" in output and "databay.Link" in output
    databay_logger.removeHandler(handler)
    assert handler not in databay_logger.handlers


def test_enable_console_logging_level_filters(databay_logger):
    """Messages below the chosen level are not written."""
    stream = io.StringIO()
    enable_console_logging(level=logging.WARNING, stream=stream)
    logging.getLogger("databay.Link").info("quiet")
    logging.getLogger("databay.Link").warning("loud")
    assert "quiet" not in stream.getvalue() and "loud" in stream.getvalue()


def test_node_failures_are_logged_to_the_link_logger(nodes, databay_logger):
    """A swallowed node error reaches a console handler on 'databay' with its traceback."""
    from databay import Link

    def fail(update):
        raise ValueError("inlet broke")

    stream = io.StringIO()
    enable_console_logging(level=logging.INFO, stream=stream)
    Link(nodes.FuncInlet(fail), [], 1, tags="t", ignore_exceptions=True).transfer()
    output = stream.getvalue()
    assert "t.0" in output and "Traceback" in output and "ValueError: inlet broke" in output
