"""Fixtures for the reliability suite: leak checks, log counting, planner runners, counting nodes."""

import logging
import threading
import time

import pytest

from databay import Inlet, Outlet

# Generous bounds: the suite runs on a shared 2-core machine.
JOIN_TIMEOUT = 30.0


def wait_for(predicate, timeout=20.0, step=0.005):
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step)
    return True


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Every test must leave threading.enumerate() as it found it (helpers get time to exit)."""
    before = set(threading.enumerate())
    yield
    leaked = []

    def settled():
        leaked[:] = [thread for thread in threading.enumerate()
                     if thread not in before and thread.is_alive()]
        return not leaked

    assert wait_for(settled, timeout=JOIN_TIMEOUT, step=0.01), "leaked threads: %r" % (leaked,)


class LogEntry:
    """What a log record said, without the record: exceptions become ``(type, str)``.

    Keeping real records would keep every traceback (and the frames it holds)
    alive; thousands of them make the cyclic GC's full collections long enough
    to stall the planner, which is an artifact of the test, not of databay.
    """

    __slots__ = ("name", "levelno", "msg", "args", "exc")

    def __init__(self, record):
        self.name = record.name
        self.levelno = record.levelno
        self.msg = record.msg
        args = record.args if isinstance(record.args, tuple) else ()
        self.args = tuple(_summary(arg) if isinstance(arg, BaseException) else arg for arg in args)
        self.exc = _summary(record.exc_info[1]) if record.exc_info else None

    def getMessage(self):  # noqa: N802 - same name as logging.LogRecord's
        return self.msg % self.args if self.args else self.msg


def _summary(error):
    return (type(error), str(error))


class LogCounter(logging.Handler):
    """Keeps a :class:`LogEntry` for every log record of the ``databay`` loggers (thread-safe)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []
        self._guard = threading.Lock()

    def emit(self, record):
        entry = LogEntry(record)
        with self._guard:
            self.records.append(entry)

    def snapshot(self):
        with self._guard:
            return list(self.records)

    def errors(self):
        return [record for record in self.snapshot() if record.levelno >= logging.ERROR]


class LogCapture:
    """``with log_capture as counter:`` collects ``databay`` log records into a LogCounter.

    Entered in the test body, so the ``databay`` logger stops propagating only
    after pytest attached its own capture handlers (pytest also attaches to
    loggers that are non-propagating when a test phase begins). pytest then
    never formats the thousands of expected tracebacks, which would cost more
    CPU than the planner under test.
    """

    def __init__(self):
        self.counter = LogCounter()
        self._saved = None

    def __enter__(self):
        logger = logging.getLogger("databay")
        self._saved = (logger.level, logger.propagate)
        logger.addHandler(self.counter)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        return self.counter

    def __exit__(self, *exc_info):
        logger = logging.getLogger("databay")
        logger.removeHandler(self.counter)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]


@pytest.fixture
def log_capture():
    """A LogCapture; use ``with log_capture as counter:`` in the test body."""
    capture = LogCapture()
    yield capture
    if capture.counter in logging.getLogger("databay").handlers:
        capture.__exit__(None, None, None)


class Runner:
    """Runs ``planner.start()`` in a thread and remembers how it ended."""

    def __init__(self, planner):
        self.planner = planner
        self.error = None
        self.returned = threading.Event()
        self.thread = threading.Thread(target=self._run, name="reliability-start", daemon=True)

    def _run(self):
        try:
            self.planner.start()
        except BaseException as error:  # inspected by the test
            self.error = error
        finally:
            self.returned.set()

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=JOIN_TIMEOUT):
        """Shut down (waiting) from the calling thread; fail loudly if start() does not return."""
        self.planner.shutdown(wait=True)
        assert self.returned.wait(timeout), "start() did not return after shutdown()"
        self.thread.join(timeout)
        assert not self.thread.is_alive()


@pytest.fixture
def run_in_thread():
    """Start planners in background threads; shut down any left running afterwards."""
    runners = []

    def start(planner):
        runner = Runner(planner).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.planner.shutdown(wait=True)
        runner.thread.join(JOIN_TIMEOUT)


class CountingInlet(Inlet):
    """Pulls ``per_pull`` unique payloads ``(name, transfer_number, i)``; counts lifecycle calls."""

    def __init__(self, name="inlet", per_pull=1, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.name = name
        self.per_pull = per_pull
        self.delay = delay
        self.produced = []
        self.pull_times = []
        self.starts = 0
        self.shutdowns = 0
        self.pulls_while_inactive = 0
        self.lock = threading.Lock()

    def pull(self, update):
        now = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        payloads = [(self.name, update.transfer_number, i) for i in range(self.per_pull)]
        with self.lock:
            self.pull_times.append(now)
            self.produced.extend(payloads)
            if not self.active:
                self.pulls_while_inactive += 1
        return payloads

    def on_start(self):
        with self.lock:
            self.starts += 1

    def on_shutdown(self):
        with self.lock:
            self.shutdowns += 1

    def __repr__(self):
        return "CountingInlet(%r)" % (self.name,)


class CountingOutlet(Outlet):
    """Keeps every pushed payload; counts lifecycle calls and pushes to an inactive outlet."""

    def __init__(self, name="outlet", on_push=None, **kwargs):
        super().__init__(**kwargs)
        self.name = name
        self.on_push = on_push
        self.delivered = []
        self.starts = 0
        self.shutdowns = 0
        self.pushes_while_inactive = 0
        self.lock = threading.Lock()

    def push(self, records, update):
        if self.on_push is not None:
            self.on_push(records, update)
        with self.lock:
            self.delivered.extend(record.payload for record in records)
            if not self.active:
                self.pushes_while_inactive += 1

    def on_start(self):
        with self.lock:
            self.starts += 1

    def on_shutdown(self):
        with self.lock:
            self.shutdowns += 1

    def __repr__(self):
        return "CountingOutlet(%r)" % (self.name,)


@pytest.fixture
def counting_inlet():
    return CountingInlet


@pytest.fixture
def counting_outlet():
    return CountingOutlet


@pytest.fixture
def runner_class():
    return Runner


@pytest.fixture
def waiter():
    """The ``wait_for(predicate, timeout)`` polling helper."""
    return wait_for
