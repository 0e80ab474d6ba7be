"""The command line: ``python -m databay run MODULE:ATTR`` and ``python -m databay demo``.

``run`` does what every deployment's ``main()`` does by hand: import the
pipeline, configure console logging, build a planner where needed, shut down
gracefully on SIGINT/SIGTERM and exit with a code a supervisor understands.

Exit codes: 0 clean shutdown (or ``--once``/``--check`` found nothing wrong);
1 the planner stopped on an error, ``--once`` had failures or ``--check``
could not start a node; 2 usage error, or the pipeline could not be imported
or built.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import traceback

from .base_planner import BasePlanner
from .link import Link
from .misc.logs import DEFAULT_FORMAT, ISO8601Formatter
from .planners._run import take_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_LOGGER = logging.getLogger("databay.cli")

_RUN_HELP = """\
Run the pipeline that MODULE:ATTR names, until it is stopped.

MODULE is imported like `python -m` does (the current directory is importable);
ATTR (dots allowed) is a planner, a Link, a list of Links, or a callable that
returns one of those. Links get a SchedulePlanner built for them.

SIGINT (Ctrl-C) and SIGTERM shut down gracefully: transfers in flight finish,
Buffers are flushed and every node's on_shutdown runs. A second signal exits at
once, without waiting.

exit codes:
  0  clean shutdown; --once / --check found nothing wrong
  1  the planner stopped on an error; --once had a failure; --check could not
     start or stop a node
  2  usage error, or MODULE:ATTR could not be imported or built
"""

_EXAMPLES = """\
examples:
  python -m databay run examples.http_to_sqlite:planner --once
  python -m databay run myapp.pipelines:build --for 60 --log-format json
  python -m databay run myapp.pipelines:links --check
"""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``.

    A record with an exception also gets ``exception`` (the formatted traceback),
    so a log collector keeps each event, traceback included, in one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        import json
        import time

        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        event = {"time": "%s.%03dZ" % (stamp, int(record.msecs)), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            event["exception"] = record.exc_text
        return json.dumps(event, default=str)


class PipelineError(Exception):
    """MODULE:ATTR could not be imported or did not give something runnable (exit code 2).

    ``details`` holds the traceback of the failure behind it, if any.
    """

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class _ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) records: failures a node logged instead of raising."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def configure_logging(level: str, log_format: str, stream: Any = None) -> logging.Handler:
    """Log everything at ``level`` and above to stderr, as text or JSON lines.

    The handler goes on the root logger, so the pipeline's own loggers show up
    next to databay's. Returns the handler.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ISO8601Formatter(DEFAULT_FORMAT, pretty=True))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    # The logger lets ERROR through even when fewer are shown: --once counts logged failures.
    root.setLevel(min(logging.getLevelName(level), logging.ERROR))
    return handler


def load(spec: str) -> Any:
    """Import ``MODULE:ATTR`` and return the object ATTR names (dots allowed in ATTR).

    Raises:
        PipelineError: ``spec`` is malformed, the module failed to import, or
            it has no such attribute. The message says which, and why.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise PipelineError("%r is not MODULE:ATTR (e.g. examples.http_to_sqlite:planner)" % (spec,))
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # like `python -m`: modules in the current directory are importable
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise PipelineError("cannot import %r: no module named %r (looked in %s and sys.path)"
                                % (module_name, missing, cwd)) from None
        raise _failure("importing %r" % module_name, error) from None
    except Exception as error:  # noqa: BLE001 - any failure inside the user's module
        raise _failure("importing %r" % module_name, error) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PipelineError("module %r has no attribute %r" % (module_name, attribute)) from None
    return target


def _failure(what: str, error: BaseException) -> PipelineError:
    """``what`` raised ``error``: a one-line message, with the traceback as details."""
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return PipelineError("%s failed: %s: %s" % (what, type(error).__name__, error), details)


def build(target: Any, spec: str, threads: Optional[int]) -> BasePlanner:
    """Turn what ATTR gave into a planner: use a planner as it is, plan Links on a SchedulePlanner.

    Raises:
        PipelineError: the callable failed, or the result is not a planner,
            a Link or a non-empty list of Links; or ``threads`` was given for
            a planner that was already built.
    """
    if callable(target) and not isinstance(target, (BasePlanner, Link)):
        try:
            target = target()
        except Exception as error:  # noqa: BLE001 - the user's factory failed
            raise _failure("calling %s()" % spec, error) from None
    if isinstance(target, BasePlanner):
        if threads is not None:
            raise PipelineError("--threads %d: %s is an already built %s; set its threads there, or "
                                "let ATTR give Links" % (threads, spec, type(target).__name__))
        planner = target
    elif isinstance(target, Link) or (isinstance(target, (list, tuple)) and target
                                      and all(isinstance(link, Link) for link in target)):
        from .planners import SchedulePlanner

        planner = SchedulePlanner(list(target) if isinstance(target, (list, tuple)) else target,
                                  threads=30 if threads is None else threads)
    else:
        raise PipelineError("%s gave %s; expected a planner, a Link, a non-empty list of Links, "
                            "or a callable returning one of those" % (spec, _describe(target)))
    if not planner.links:
        raise PipelineError("%s gave %r, which has no links: nothing to run" % (spec, planner))
    return planner


def _describe(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        if not value:
            return "an empty %s" % type(value).__name__
        odd = next(item for item in value if not isinstance(item, Link))
        return "a %s holding %r (a %s)" % (type(value).__name__, odd, type(odd).__name__)
    return "%r (a %s)" % (value, type(value).__name__)


# -- the three ways to run ----------------------------------------------------

def run_forever(planner: BasePlanner, seconds: Optional[float] = None, status: Any = None) -> int:
    """Run ``planner`` until a signal, ``seconds`` or an error stops it; return the exit code.

    ``status``: the planner's status server, if one was started; closed at the end.
    """
    timer = None
    if seconds is not None:
        timer = threading.Timer(seconds, planner.shutdown, kwargs={"wait": False})
        timer.daemon = True
    restore = _handle_signals(planner)
    if hasattr(planner, "handle_signals"):
        planner.handle_signals = False  # the handlers above stay in charge during start()
    try:
        if timer is not None:
            timer.start()
        _LOGGER.info("Running %d link(s)%s; Ctrl-C or SIGTERM stops gracefully", len(planner.links),
                     "" if seconds is None else " for %g s" % seconds)
        planner.start()
        while planner.running:  # a planner whose start() does not block: wait until it stops
            threading.Event().wait(0.2)
        planner.shutdown()  # ... and until its teardown (maybe in another thread) finished
        failure = take_error(planner)  # an error that stopped it: start() did not raise it
        if failure is not None:
            raise failure
    except Exception as error:  # noqa: BLE001 - start() re-raises what stopped the planner
        _LOGGER.error("The planner stopped on an error: %s: %s", type(error).__name__, error)
        return EXIT_FAILED
    finally:
        if timer is not None:
            timer.cancel()
        if status is not None:
            status.close()
        restore()
    _LOGGER.info("Shut down cleanly")
    return EXIT_OK


def run_once(planner: BasePlanner) -> int:
    """Start every node, run each link once, flush, shut down; 1 if anything failed.

    A failure is an exception escaping a link, or an error a node logged
    instead of raising (a link with ``ignore_exceptions=True``).
    """
    links = planner.links
    counter = _ErrorCounter()
    databay_logger = logging.getLogger("databay")
    databay_logger.addHandler(counter)
    failures = 0
    started: List[Link] = []
    try:
        for stage, action, chosen in (("on_start", Link.on_start, links),
                                      ("transfer", Link.transfer, None),
                                      ("flush", Link.flush, None),
                                      ("on_shutdown", Link.on_shutdown, None)):
            for link in (started if chosen is None else chosen):
                try:
                    action(link)
                except Exception as error:  # noqa: BLE001 - every link gets its turn
                    failures += 1
                    _LOGGER.error("%s of %r failed: %r", stage, link, error, exc_info=error)
                    continue
                if stage == "on_start":
                    started.append(link)
    finally:
        databay_logger.removeHandler(counter)
    logged = counter.count - failures  # our own reports above went through databay.cli too
    if failures or logged > 0:
        _LOGGER.error("--once: %d link(s), %d failure(s) raised, %d error(s) logged by nodes",
                      len(links), failures, max(logged, 0))
        return EXIT_FAILED
    _LOGGER.info("--once: %d link(s) ran once, nothing failed", len(links))
    return EXIT_OK


def check(planner: BasePlanner, spec: str, out: Any = None) -> int:
    """Print what ``planner`` holds, start and stop every node without a transfer; 1 on failure."""
    out = out if out is not None else sys.stdout
    links = planner.links
    nodes = {id(node): node for link in links for node in [*link.inlets, *link.outlets]}
    print("%s: %s with %d link(s), %d node(s)" % (spec, type(planner).__name__, len(links),
                                                 len(nodes)), file=out)
    for link in links:
        print("  link %s %s" % (".".join(link.tags) or "(untagged)", _when(link)), file=out)
        for kind, items in (("inlet", link.inlets), ("outlet", link.outlets),
                            ("processor", link.processors), ("grouper", link.groupers)):
            for item in items:
                print("    %-9s %r" % (kind, item), file=out)
    failures = 0
    started: List[Link] = []
    for link in links:
        try:
            link.on_start()
            started.append(link)
        except Exception as error:  # noqa: BLE001 - report every link
            failures += 1
            print("  FAILED to start %r: %s: %s" % (link, type(error).__name__, error), file=out)
    for link in started:
        try:
            link.on_shutdown()
        except Exception as error:  # noqa: BLE001
            failures += 1
            print("  FAILED to stop %r: %s: %s" % (link, type(error).__name__, error), file=out)
    if failures:
        print("check failed: %d problem(s)" % failures, file=out)
        return EXIT_FAILED
    print("check passed: every node started and stopped; nothing was transferred", file=out)
    return EXIT_OK


def _serve_status(planner: BasePlanner, host: str, port: int) -> Any:
    """Start ``planner.serve_status`` on ``host:port``; an address other than loopback was asked for."""
    serve = getattr(planner, "serve_status", None)
    if not callable(serve):
        raise PipelineError("--status-port needs %s.serve_status(), which this databay version "
                            "does not provide" % type(planner).__name__)
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    try:
        return serve(host=host, port=port, **({} if loopback else {"allow_remote": True}))
    except (OSError, TypeError, ValueError) as error:
        raise PipelineError("cannot serve the status page on %s:%d: %s" % (host, port, error)) from None


def _when(link: Link) -> str:
    """How often ``link`` runs, in words: its schedule when it has one, else its interval."""
    from .schedules import Every

    schedule = link.schedule
    if isinstance(schedule, Every) and schedule == Every(schedule.seconds):  # a plain interval
        return "every %gs" % schedule.seconds
    return "on %r" % (schedule,)


def _handle_signals(planner: BasePlanner) -> Any:
    """SIGINT/SIGTERM: first one shuts down gracefully, a second exits at once. Returns a restorer."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    received: list = []

    def on_signal(number: int, frame: Any) -> None:
        name = signal.Signals(number).name
        received.append(name)
        if len(received) == 1:
            _LOGGER.warning("Received %s: shutting down gracefully (send it again to exit at once)",
                            name)
            planner.shutdown(wait=False)
        else:
            _LOGGER.error("Received %s again: exiting at once, without waiting for the shutdown",
                          name)
            logging.shutdown()
            os._exit(128 + number)

    previous = {number: signal.signal(number, on_signal)
                for number in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


# -- argument parsing ---------------------------------------------------------

def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("%r is not a positive number of seconds" % text)
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("%r is not a whole number >= 1" % text)
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("%r is not a TCP port (0-65535; 0 picks a free one)" % text)
    return value


def make_parser() -> argparse.ArgumentParser:
    """The ``python -m databay`` argument parser (``run`` and ``demo``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="python -m databay",
        description="databay %s: move data from inlets to outlets on a schedule." % __version__,
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="databay %s" % __version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the pipeline MODULE:ATTR names", description=_RUN_HELP,
                              epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.set_defaults(usage_error=run.error)
    run.add_argument("target", metavar="MODULE:ATTR",
                     help="e.g. examples.http_to_sqlite:planner")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true",
                      help="start every node, run every link once, flush, shut down "
                           "(for cron jobs and smoke tests)")
    mode.add_argument("--check", action="store_true",
                      help="import and build, print what was found, start and stop every node; "
                           "transfer nothing")
    mode.add_argument("--for", dest="seconds", type=_positive_float, metavar="SECONDS",
                      help="shut down gracefully after SECONDS")
    run.add_argument("--threads", type=_positive_int, metavar="N",
                     help="worker threads of the SchedulePlanner built for Links (default 30)")
    run.add_argument("--status-port", type=_port, metavar="PORT",
                     help="serve the planner's status page, /metrics, /stats and /healthz on PORT")
    run.add_argument("--status-host", default="127.0.0.1", metavar="HOST",
                     help="address of the status server (default 127.0.0.1: this machine only)")
    run.add_argument("--log-level", default="INFO", type=str.upper,
                     choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                     help="least severe log level shown (default INFO)")
    run.add_argument("--log-format", default="text", choices=["text", "json"],
                     help="text lines, or one JSON object per line (default text)")

    demo = commands.add_parser(
        "demo", help="run a small HTTP -> Buffer -> CSV + SQLite + console pipeline",
        description="Serve a small JSON API on 127.0.0.1, poll it and a thermometer every INTERVAL "
                    "seconds, buffer the readings, write them to the console, a CSV file and an "
                    "SQLite table, shut down gracefully and check that this run's records all "
                    "reached both files.")
    demo.add_argument("--seconds", type=_positive_float, default=3.0, help="how long to run (default 3)")
    demo.add_argument("--interval", type=_positive_float, default=0.2,
                      help="seconds between transfers (default 0.2)")
    demo.add_argument("--out", help="directory for readings.csv and readings.sqlite (default: a new "
                                    "temporary directory); existing files are appended to")
    demo.add_argument("--quiet", action="store_true", help="do not print every record")
    demo.add_argument("--log", action="store_true", help="show databay's INFO logs on stderr")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command and return its exit code."""
    parser = make_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error, 0 for --help
    if args.command == "demo":
        from ._demo import demo

        if args.log:
            from .misc.logs import enable_console_logging

            enable_console_logging()
        return demo(args.seconds, args.interval, args.out, args.quiet)
    if args.status_port is not None and (args.once or args.check):
        args.usage_error("--status-port serves a running planner; it cannot be combined with %s"
                     % ("--once" if args.once else "--check"))
    configure_logging(args.log_level, args.log_format)
    try:
        planner = build(load(args.target), args.target, args.threads)
        status = None
        if args.status_port is not None:
            status = _serve_status(planner, args.status_host, args.status_port)
    except PipelineError as error:
        print("%sdatabay run: error: %s" % (error.details, error), file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        return check(planner, args.target)
    if args.once:
        return run_once(planner)
    return run_forever(planner, args.seconds, status)
