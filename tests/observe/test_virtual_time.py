"""Lateness, skipped and missed counted exactly, on the planner's clock protocol (virtual time)."""

import threading

import pytest

from databay import Link
from databay.planners import SchedulePlanner

pytest.importorskip("databay.planners.clock", reason="needs the planner's clock protocol")


class JumpClock:
    """A test clock with the planner clock protocol: time moves only by ``step_to`` / ``jump_to``.

    ``step_to(t)`` visits every deadline up to ``t`` and waits (real time, bounded) until the
    planner dispatched what was due and every transfer it handed off ended; ``jump_to(t)``
    moves at once, skipping deadlines: a stall, as when the machine froze.
    """

    def __init__(self, start=1000.0):
        self.now_value = float(start)
        self.cond = threading.Condition()
        self.held = 0
        self.waiting = False
        self.deadline = None

    def now(self):
        return self.now_value

    def wall(self):
        return self.now_value + 1_800_000_000.0

    def hold(self):
        with self.cond:
            self.held += 1

    def release(self):
        with self.cond:
            self.held -= 1
            self.cond.notify_all()

    def wait(self, deadline, wake):
        with self.cond:
            self.waiting, self.deadline = True, deadline
            self.cond.notify_all()
        try:
            while not wake.is_set():
                with self.cond:
                    if deadline is not None and self.now_value >= deadline:
                        return
                    self.cond.wait(0.005)
        finally:
            with self.cond:
                self.waiting = False
                self.cond.notify_all()

    def settle(self, idle=True):
        def settled():
            return self.waiting and (self.deadline is None or self.deadline > self.now_value) and \
                (not idle or self.held == 0)
        with self.cond:
            assert self.cond.wait_for(settled, 30), "the planner did not settle"

    def jump_to(self, moment):
        with self.cond:
            self.now_value = float(moment)
            self.cond.notify_all()

    def step_to(self, moment, idle=True):
        self.settle(idle)
        while self.deadline is not None and self.deadline <= moment:
            self.jump_to(self.deadline)
            self.settle(idle)
        self.jump_to(moment)
        self.settle(idle)


def _running(planner):
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    return thread


def test_on_time_transfers_have_zero_lateness_and_a_stall_counts_missed_and_late(obs):
    """Every 10 s from t0: four on time; then a 45 s stall: one late run, the skipped slots missed."""
    clock = JumpClock()
    link = Link(obs.CountInlet(size=2), obs.KeepOutlet(), interval=10, tags=["grid"])
    planner = SchedulePlanner(link, clock=clock)
    thread = _running(planner)
    try:
        clock.step_to(1030.0)  # due at 1000, 1010, 1020, 1030
        stats = link.stats()
        assert stats["transfers"]["run"] == 4 and stats["transfers"]["missed"] == 0
        assert stats["recent"]["lateness_seconds"] == (0.0, 0.0, 0.0, 0.0)
        assert stats["recent"]["records"] == (2, 2, 2, 2)
        assert stats["next_due_at"] == pytest.approx(1040.0 + 1_800_000_000.0)
        clock.jump_to(1075.0)  # the machine stalled: 1040, 1050, 1060, 1070 went by
        clock.settle()
        stats = link.stats()
        assert stats["transfers"]["run"] == 5  # the four coalesced into one run
        assert stats["transfers"]["missed"] == 3  # three of them never ran
        assert stats["recent"]["lateness_seconds"][-1] == pytest.approx(35.0)  # due 1040, ran 1075
        assert stats["lateness_seconds"]["max"] == pytest.approx(35.0)
        assert stats["health"] == "warning" and stats["last_warning"]["kind"] == "transfer_missed"
        assert stats["next_due_at"] == pytest.approx(1080.0 + 1_800_000_000.0)
    finally:
        planner.shutdown()
        thread.join(30)


def test_a_transfer_still_running_when_the_next_is_due_counts_skipped(obs):
    """A pull blocked across two due times: both are skipped and counted, then it resumes."""
    clock = JumpClock()
    inlet = obs.CountInlet()
    release = threading.Event()
    inlet.hook = lambda: (setattr(inlet, "hook", None), release.wait(30))
    link = Link(inlet, obs.KeepOutlet(), interval=10)
    planner = SchedulePlanner(link, clock=clock)
    events = []
    planner.subscribe(events.append, kinds=["transfer_skipped"])
    thread = _running(planner)
    try:
        clock.step_to(1020.0, idle=False)  # due at 1010 and 1020 while the first still runs
        assert link.stats()["transfers"]["skipped"] == 2
        assert [event.link for event in events] == [link, link]
        release.set()
        clock.step_to(1030.0)
        stats = link.stats()
        assert stats["transfers"]["run"] == 2 and stats["transfers"]["skipped"] == 2
    finally:
        release.set()
        planner.shutdown()
        thread.join(30)
