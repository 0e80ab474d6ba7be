"""Fixtures for planner tests: nodes that record what happened, and planner factories."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from databay import BasePlanner, Inlet, Link, Outlet
from databay.planners import ApsPlanner, SchedulePlanner


def run_python(code, timeout=60):
    """Run ``code`` (dedented) in a fresh interpreter that imports what this one does."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


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


def in_thread(action):
    """Call ``action`` in a daemon thread, started; returns (the thread, a list of what it
    raised, BaseExceptions too: a test asserts on them after joining)."""
    raised = []

    def target():
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            raised.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, raised


class Counted:
    """A node mixin counting its hooks. ``block_start``: the next on_start sets ``entered`` and
    waits until ``go`` is set; ``raises``: raised by the next on_shutdown (once)."""

    def __init__(self, name, raises=None):
        super().__init__()
        self.name = name
        self.raises = raises
        self.starts = self.stops = 0
        self.block_start = False
        self.entered = threading.Event()
        self.go = threading.Event()

    def on_start(self):
        self.starts += 1
        if self.block_start:
            self.block_start = False
            self.entered.set()
            assert self.go.wait(20)

    def on_shutdown(self):
        self.stops += 1
        raises, self.raises = self.raises, None
        if raises is not None:
            raise raises

    def __repr__(self):
        return self.name


class CountedIn(Counted, Inlet):
    def pull(self, update):
        return 1


class CountedOut(Counted, Outlet):
    def push(self, records, update):
        pass


class Unblocking(BasePlanner):
    """A planner whose start() returns at once: its shutdown() tears down in the caller's thread."""

    def _schedule(self, link):
        pass

    def _unschedule(self, link):
        pass

    def _start_planner(self):
        pass

    def _shutdown_planner(self, wait=True):
        pass


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


def run_started(planner):
    """A :class:`Runner` of ``planner`` once the planner says it runs (start() is in its thread)."""
    runner = Runner(planner).start()
    deadline = time.monotonic() + 10
    while not planner.running:
        assert time.monotonic() < deadline and runner.thread.is_alive(), runner.error
        time.sleep(0.001)
    return runner


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


class StepClock:
    """A test-only clock with the planner clock protocol; time moves only when the test says.

    ``advance_to(t)`` steps through every deadline the planner waits for up to
    ``t``, and after each step waits (real time, bounded) until the planner has
    dispatched everything due and every transfer it handed off has ended
    (hold/release balance) and it waits again. No sleeping on schedule time.
    """

    def __init__(self, start=1000.0, wall=1_800_000_000.0):
        self._now = float(start)
        self._shift = float(wall) - float(start)
        self._cond = threading.Condition()
        self.held = 0
        self.waiting = False
        self.deadline = None

    # -- the protocol -----------------------------------------------------
    def now(self):
        return self._now

    def wall(self):
        return self._now + self._shift

    def hold(self):
        with self._cond:
            self.held += 1

    def release(self):
        with self._cond:
            self.held -= 1
            assert self.held >= 0, "release() without hold()"
            self._cond.notify_all()

    def wait(self, deadline, wake):
        with self._cond:
            self.waiting, self.deadline = True, deadline
            self._cond.notify_all()
        try:
            while not wake.is_set():
                with self._cond:
                    if deadline is not None and self._now >= deadline:
                        return
                    self._cond.wait(0.005)  # wake is an Event: it cannot notify this condition
        finally:
            with self._cond:
                self.waiting = False
                self._cond.notify_all()

    # -- for tests --------------------------------------------------------
    def settle(self, idle=True, timeout=10.0):
        """Wait until the planner waits for a future deadline (and, if ``idle``, no transfer runs)."""
        def settled():
            return self.waiting and (self.deadline is None or self.deadline > self._now) and \
                (not idle or self.held == 0)
        with self._cond:
            assert self._cond.wait_for(settled, timeout), \
                "planner did not settle (held=%d, waiting=%s, deadline=%r, now=%r)" % (
                    self.held, self.waiting, self.deadline, self._now)

    def set(self, moment):
        """Jump to ``moment`` at once (skipping deadlines in between: a stall)."""
        with self._cond:
            self._now = float(moment)
            self._cond.notify_all()

    def advance_to(self, moment, idle=True):
        """Step through every deadline up to ``moment``, settling after each."""
        self.settle(idle)
        while self.deadline is not None and self.deadline <= moment:
            self.set(self.deadline)
            self.settle(idle)
        self.set(moment)
        self.settle(idle)


@pytest.fixture
def step_clock():
    return StepClock()


@pytest.fixture
def make_clock():
    """StepClock itself, for tests that choose the starting wall time."""
    return StepClock
