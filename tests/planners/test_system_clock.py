"""SystemClock.wait: the Event until shortly before the deadline, then a plain sleep and, after an
idle wait, a short spin. Time is faked where the outcome would depend on how late a real wait
returns."""

import threading
import time
import types

from databay.planners import clock as clock_module
from databay.planners.clock import FINISH_BY_SLEEP, FINISH_BY_SPIN, SystemClock

_TICK = 1e-6  # what one reading of the fake clock costs: a spin on it ends


class _FakeTime:
    """``monotonic`` and ``sleep`` on a number that sleeps, event waits and readings advance."""

    def __init__(self):
        self.now = 1000.0
        self.slept = []
        self.readings = 0

    def monotonic(self):
        self.readings += 1
        self.now += _TICK
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class _FakeWake:
    """An Event whose timed wait ends on time (advancing the fake time), unless set."""

    def __init__(self, fake, is_set=False):
        self.fake, self.set_ = fake, is_set
        self.waited = []

    def wait(self, timeout=None):
        self.waited.append(timeout)
        if not self.set_:
            self.fake.now += timeout
        return self.set_

    def is_set(self):
        return self.set_


def _fake_time(monkeypatch):
    fake = _FakeTime()
    monkeypatch.setattr(clock_module, "time", types.SimpleNamespace(monotonic=fake.monotonic,
                                                                    sleep=fake.sleep))
    return fake


def test_after_an_idle_wait_the_last_stretch_is_slept_then_spun_to_the_deadline(monkeypatch):
    fake = _fake_time(monkeypatch)
    wake = _FakeWake(fake)
    deadline = fake.now + 0.05
    SystemClock.wait(deadline, wake)
    assert len(wake.waited) == 1 and abs(wake.waited[0] - (0.05 - FINISH_BY_SLEEP)) < 1e-5
    assert len(fake.slept) == 1 and abs(fake.slept[0] - (FINISH_BY_SLEEP - FINISH_BY_SPIN)) < 1e-5
    assert deadline <= fake.now < deadline + 2 * _TICK  # spun until the deadline, not past it
    assert fake.readings > FINISH_BY_SPIN / _TICK / 2


def test_a_deadline_closer_than_the_last_stretch_is_only_slept(monkeypatch):
    """A loop whose due times follow each other closely (less than FINISH_BY_SLEEP apart) never
    spins: at 1 ms intervals a spin would hold the GIL that the workers need."""
    fake = _fake_time(monkeypatch)
    wake = _FakeWake(fake)
    SystemClock.wait(fake.now + FINISH_BY_SLEEP / 2, wake)
    assert wake.waited == [] and len(fake.slept) == 1 and fake.readings == 1
    assert abs(fake.slept[0] - FINISH_BY_SLEEP / 2) < 1e-5
    SystemClock.wait(fake.now - 1, wake)  # a deadline already passed: no wait at all
    assert wake.waited == [] and len(fake.slept) == 1 and fake.readings == 2


def test_a_wake_at_the_end_of_the_event_wait_is_neither_slept_nor_spun(monkeypatch):
    fake = _fake_time(monkeypatch)

    class LateWake(_FakeWake):
        def wait(self, timeout=None):
            super().wait(timeout)
            self.set_ = True  # set just after the timed wait gave up
            return False

    wake = LateWake(fake)
    SystemClock.wait(fake.now + 0.05, wake)
    assert fake.slept == [] and fake.readings == 2


def test_a_wake_that_came_before_the_last_stretch_is_not_slept_through(monkeypatch):
    """The planner clears ``wake`` before dispatching: a wake-up since then (shutdown,
    add_links) must end the wait at once, also when the deadline is less than the
    slept stretch away."""
    fake = _fake_time(monkeypatch)
    wake = _FakeWake(fake, is_set=True)
    SystemClock.wait(fake.now + FINISH_BY_SLEEP / 2, wake)
    SystemClock.wait(fake.now + 30, wake)
    assert fake.slept == [] and fake.now < 1000.0 + 10 * _TICK


def test_a_real_wake_during_the_event_wait_ends_it_without_sleeping(monkeypatch):
    slept = []
    monkeypatch.setattr(clock_module, "time", types.SimpleNamespace(monotonic=time.monotonic,
                                                                    sleep=slept.append))
    wake = threading.Event()
    timer = threading.Timer(0.05, wake.set)
    timer.start()
    began = time.monotonic()
    SystemClock.wait(began + 60, wake)
    timer.join()
    assert wake.is_set() and slept == [] and time.monotonic() - began < 30
    timer = threading.Timer(0.05, wake.set)
    wake.clear()
    timer.start()
    SystemClock.wait(None, wake)  # no deadline: waits for the wake
    timer.join()
    assert wake.is_set() and slept == []


def test_an_event_wait_that_ends_early_returns_instead_of_sleeping_the_rest(monkeypatch):
    """A timed wait may end before its timeout (a wait capped at ``TIMEOUT_MAX``, or one timed
    against a wall clock that stepped): sleeping the rest could not be woken by a shutdown, so
    the clock returns and the planner's loop waits again."""
    fake = _fake_time(monkeypatch)

    class EarlyWake(_FakeWake):
        def wait(self, timeout=None):
            self.waited.append(timeout)
            self.fake.now += min(timeout, 0.1)  # "timed out" after 0.1 s of 30
            return False

    wake = EarlyWake(fake)
    SystemClock.wait(fake.now + 30, wake)
    assert fake.slept == [] and abs(fake.now - 1000.1) < 1e-5
