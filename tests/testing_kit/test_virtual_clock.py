"""VirtualClock against a tiny loop of our own that follows the clock protocol exactly.

The loop (FakeLoop) is what the protocol asks of a planner and nothing more:
it waits only through ``clock.wait``, dispatches everything due before waiting
again, and brackets every transfer it hands to a worker thread with
``hold``/``release``. The same clock then drives databay's SchedulePlanner in
test_virtual_time.py.
"""

import datetime
import queue
import threading
import time

import pytest

from databay_testing import ClockStalled, VirtualClock


class FakeLoop:
    """Runs ``jobs`` (name -> [interval, next due]) on ``clock``; each run on its own worker thread."""

    def __init__(self, clock, jobs, work=None):
        self.clock = clock
        self.jobs = {name: [interval, clock.now() + first] for name, (interval, first) in jobs.items()}
        self.work = work or (lambda name, due: None)
        self.runs = []  # (name, due, clock.now() when it ran)
        self.lock = threading.Lock()
        self.queue = queue.SimpleQueue()  # one worker thread, like a planner's pool
        self.worker = threading.Thread(target=self._work, name="fake-worker", daemon=True)
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name="fake-loop", daemon=True)

    def start(self):
        self.worker.start()
        self.thread.start()
        self.clock.wait_for_waiter(self.thread)
        return self

    def stop(self):
        self.stopping = True
        self.wake.set()
        self.clock.settle()  # wakes the loop now rather than at its next poll; it then ends
        self.thread.join(10)
        self.queue.put(None)
        self.worker.join(10)
        assert not self.thread.is_alive() and not self.worker.is_alive()

    def _loop(self):
        while not self.stopping:
            now = self.clock.now()
            for name, job in sorted(self.jobs.items(), key=lambda item: item[1][1]):
                interval, due = job
                if due <= now:
                    self.clock.hold()  # before handing off, as the protocol says
                    self.queue.put((name, due))
                    job[1] = due + interval
            deadline = min((job[1] for job in self.jobs.values()), default=None)
            self.clock.wait(deadline, self.wake)
            self.wake.clear()

    def _work(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            self._run(*item)

    def _run(self, name, due):
        try:
            self.work(name, due)
            with self.lock:
                self.runs.append((name, due, self.clock.now()))
        finally:
            self.clock.release()


@pytest.fixture
def loops():
    started = []

    def make(clock, jobs, work=None):
        loop = FakeLoop(clock, jobs, work).start()
        started.append(loop)
        return loop

    yield make
    for loop in started:
        loop.stop()


def test_time_stands_still_until_advanced():
    """now() and wall() do not move with real time; advance moves both by exactly the seconds."""
    clock = VirtualClock(start=datetime.datetime(2030, 3, 31, 0, 30, tzinfo=datetime.timezone.utc))
    now, wall = clock.now(), clock.wall()
    time.sleep(0.02)
    assert (clock.now(), clock.wall()) == (now, wall)
    assert clock.advance(90) == now + 90
    assert clock.wall() == wall + 90
    assert clock.datetime() == datetime.datetime(2030, 3, 31, 0, 31, 30, tzinfo=datetime.timezone.utc)
    clock.advance(datetime.timedelta(minutes=1))
    assert clock.now() == now + 150


def test_start_accepts_aware_datetimes_and_epoch_seconds_only():
    """start: aware datetime or epoch seconds; a naive datetime or a str is refused with the fix."""
    berlin = datetime.timezone(datetime.timedelta(hours=2))
    assert VirtualClock(start=datetime.datetime(2030, 6, 1, 12, tzinfo=berlin)).wall() == \
        datetime.datetime(2030, 6, 1, 10, tzinfo=datetime.timezone.utc).timestamp()
    assert VirtualClock(start=1_000_000).wall() == 1_000_000.0
    assert VirtualClock().datetime() == datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ValueError, match=r"start=datetime.datetime\(2030, 1, 1, 0, 0\) is a naive"):
        VirtualClock(start=datetime.datetime(2030, 1, 1))
    with pytest.raises(TypeError, match="start='2030-01-01' must be an aware datetime or seconds"):
        VirtualClock(start="2030-01-01")
    with pytest.raises(TypeError, match="start=True"):
        VirtualClock(start=True)
    with pytest.raises(ValueError, match="guard=0 must be a finite number of seconds > 0"):
        VirtualClock(guard=0)


def test_advance_refuses_negative_and_odd_amounts():
    """advance(-1), advance(nan) and advance('1') raise, naming the value; time does not move."""
    clock = VirtualClock()
    for value, error in ((-1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
                         ("1", TypeError), (None, TypeError)):
        with pytest.raises(error, match="seconds="):
            clock.advance(value)
    assert clock.now() == 1000.0
    with pytest.raises(ValueError, match="in the past"):
        clock.advance_to(999.0)


def test_advance_runs_every_due_transfer_in_order_at_its_due_time(loops):
    """Two grids over 10 virtual seconds: every slot runs, at its own due time, in due order."""
    clock = VirtualClock()
    t0 = clock.now()
    loop = loops(clock, {"a": (1.0, 0.0), "b": (2.5, 2.5)})
    clock.advance(10)
    assert clock.now() == t0 + 10
    a = [(due - t0, ran - t0) for name, due, ran in loop.runs if name == "a"]
    b = [(due - t0, ran - t0) for name, due, ran in loop.runs if name == "b"]
    assert a == [(float(k), float(k)) for k in range(11)]
    assert b == [(2.5, 2.5), (5.0, 5.0), (7.5, 7.5), (10.0, 10.0)]
    assert [ran for _, _, ran in loop.runs] == sorted(ran for _, _, ran in loop.runs)


def test_advance_returns_only_when_the_transfers_have_ended(loops):
    """A transfer that takes real time has finished when advance() returns; none runs early."""
    clock = VirtualClock()
    finished = []

    def slow(name, due):
        time.sleep(0.05)
        finished.append(due)

    loop = loops(clock, {"slow": (5.0, 5.0)}, work=slow)
    clock.advance(4.999)
    assert finished == []
    clock.advance(0.001)
    assert len(finished) == 1 and clock.held == 0
    clock.advance(10)
    assert len(finished) == 3 and [due - 1000 for _, due, _ in loop.runs] == [5.0, 10.0, 15.0]


def test_hours_of_virtual_time_take_little_real_time(loops):
    """Two hours of a 1 s grid: 7,201 runs, exactly on the grid, well under 2 s of wall time."""
    clock = VirtualClock()
    loop = loops(clock, {"fast": (1.0, 0.0)})
    began = time.perf_counter()
    clock.advance(2 * 3600)
    elapsed = time.perf_counter() - began
    assert [due - 1000 for _, due, _ in loop.runs] == [float(k) for k in range(7201)]
    assert elapsed < 2.0 * 5, elapsed  # a generous bound for a busy machine; measured: see README


def test_run_until_stops_at_the_first_instant_the_predicate_holds(loops):
    """run_until jumps from due time to due time and stops as soon as the predicate is true."""
    clock = VirtualClock()
    loop = loops(clock, {"tick": (3.0, 3.0)})
    assert clock.run_until(lambda: len(loop.runs) == 4, timeout=60) == 1012.0
    with pytest.raises(ClockStalled, match="was still false after 5 virtual seconds"):
        clock.run_until(lambda: False, timeout=5)
    assert clock.now() == 1017.0 and len(loop.runs) == 5
    with pytest.raises(TypeError, match="predicate=3 must be a callable"):
        clock.run_until(3)


def test_a_hung_transfer_makes_advance_raise_within_the_guard(loops):
    """A transfer that never ends: advance raises ClockStalled after `guard` real seconds, saying so."""
    clock = VirtualClock(guard=0.3)
    gate = threading.Event()
    loops(clock, {"hang": (1.0, 1.0)}, work=lambda name, due: gate.wait(10))
    with pytest.raises(ClockStalled, match=r"1 transfer\(s\) held.*give the link a timeout"):
        clock.advance(5)
    gate.set()
    clock.settle()


def test_a_woken_loop_is_seen_before_time_moves(loops):
    """A job added and announced by the loop's wake event runs at its own due time, not later."""
    clock = VirtualClock(poll=5.0)  # a slow poll: advance must not rely on it
    loop = loops(clock, {})
    clock.advance(10)
    with loop.lock:
        loop.jobs["late"] = [4.0, clock.now() + 4.0]
    loop.wake.set()
    clock.advance(9)
    assert [due - 1000 for _, due, _ in loop.runs] == [14.0, 18.0]


def test_release_without_hold_is_an_error():
    """release() more often than hold() is a planner bug and says so."""
    clock = VirtualClock()
    clock.hold()
    clock.release()
    with pytest.raises(RuntimeError, match="more often than hold"):
        clock.release()


def test_wait_returns_when_woken_and_at_its_deadline():
    """wait() returns once wake is set, and once the deadline is reached by advance."""
    clock = VirtualClock()
    wake = threading.Event()
    wake.set()
    clock.wait(None, wake)  # returns at once
    done = threading.Event()
    thread = threading.Thread(target=lambda: (clock.wait(clock.now() + 30, threading.Event()), done.set()))
    thread.start()
    clock.wait_for_waiter(thread)
    assert not done.wait(0.05)
    clock.advance(30)
    assert done.wait(5)
    thread.join(5)
