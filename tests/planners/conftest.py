"""Fixtures for planner tests: nodes that record what happened, and planner factories."""

import threading
import time

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import ApsPlanner, SchedulePlanner


class StampInlet(Inlet):
    """Records the monotonic time of every pull; sets ``reached`` after ``target`` pulls."""

    def __init__(self, target=1, delay=0.0, fail_on=None, **kwargs):
        super().__init__(**kwargs)
        self.times = []
        self.target = target
        self.delay = delay
        self.fail_on = fail_on
        self.reached = threading.Event()
        self.lock = threading.Lock()
        self.concurrent = 0
        self.max_concurrent = 0
        self.starts = 0
        self.shutdowns = 0

    def pull(self, update):
        with self.lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
            self.times.append(time.monotonic())
            count = len(self.times)
        try:
            if self.delay:
                time.sleep(self.delay)
            if self.fail_on is not None and count in self.fail_on:
                raise ValueError("pull %d failed on purpose" % count)
            return update.transfer_number
        finally:
            with self.lock:
                self.concurrent -= 1
            if count >= self.target:
                self.reached.set()

    def on_start(self):
        self.starts += 1

    def on_shutdown(self):
        self.shutdowns += 1


class ListOutlet(Outlet):
    """Keeps every pushed record; counts lifecycle calls."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.records = []
        self.starts = 0
        self.shutdowns = 0
        self.lock = threading.Lock()

    def push(self, records, update):
        with self.lock:
            self.records.extend(records)

    def on_start(self):
        self.starts += 1

    def on_shutdown(self):
        self.shutdowns += 1


def _aps_available():
    try:
        import apscheduler  # noqa: F401
    except ImportError:
        return False
    return True


PLANNERS = [
    pytest.param(SchedulePlanner, id="schedule"),
    pytest.param(ApsPlanner, id="aps", marks=pytest.mark.skipif(
        not _aps_available(), reason="APScheduler not installed (install databay[aps])")),
]


@pytest.fixture(params=PLANNERS)
def planner_class(request):
    """Each planner class whose behaviour is shared (SchedulePlanner, ApsPlanner)."""
    return request.param


@pytest.fixture
def stamp_inlet():
    return StampInlet


@pytest.fixture
def list_outlet():
    return ListOutlet


class Runner:
    """Runs ``planner.start()`` in a thread and remembers how it ended."""

    def __init__(self, planner):
        self.planner = planner
        self.error = None
        self.returned = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

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

    def stop(self, timeout=10):
        self.planner.shutdown(wait=True)
        assert self.returned.wait(timeout), "start() did not return after shutdown()"
        self.thread.join(timeout)


@pytest.fixture
def run_in_thread():
    """Start planners in background threads; shut any left running down afterwards."""
    runners = []

    def start(planner):
        runner = Runner(planner).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.planner.shutdown(wait=True)
        runner.thread.join(10)


@pytest.fixture
def make_link():
    def make(inlets, outlets, interval, **kwargs):
        return Link(inlets, outlets, interval, **kwargs)
    return make
