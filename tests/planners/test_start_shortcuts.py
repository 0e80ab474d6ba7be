"""Shortcuts SchedulePlanner takes between ``start()`` and the immediate transfers, and the rules
they must keep. Virtual time (``StepClock`` in conftest): no sleeping, no timing assertions."""

import datetime
import threading

import pytest

from databay import Every, Inlet, Link, Outlet
from databay.planners import SchedulePlanner


class ClockInlet(Inlet):
    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.times = []

    def pull(self, update):
        self.times.append(self.clock.now())
        return 1


class Sink(Outlet):
    def push(self, records, update):
        pass


def _run(planner, clock, until):
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    try:
        clock.advance_to(until)
    finally:
        planner.shutdown(timeout=10)
        thread.join(10)
    assert not thread.is_alive()


def test_a_link_subclass_overriding_schedule_is_asked_for_it(step_clock):
    """A plain ``Link(interval=...)`` is bound without making its ``Every`` (the planner reads
    the interval): a subclass that overrides ``schedule`` must still be asked.

    Catches: binding every link whose schedule was never made from its interval.
    """

    class EveryThird(Link):
        @property
        def schedule(self):
            return Every(3)

    custom, plain = ClockInlet(step_clock), ClockInlet(step_clock)
    _run(SchedulePlanner([EveryThird(custom, Sink(), interval=1), Link(plain, Sink(), interval=1)],
                         clock=step_clock), step_clock, 1009.5)
    assert custom.times == [1000.0 + 3 * k for k in range(4)]
    assert plain.times == [1000.0 + k for k in range(10)]


def test_links_bound_from_their_interval_share_the_grid_of_made_schedules(step_clock):
    """Links of one interval run on one grid whether or not their ``Every`` was made before
    ``start()`` (asked for, or set by a shard), and a schedule set on the link wins."""
    made, unmade, replaced = (ClockInlet(step_clock) for _ in range(3))
    links = [Link(made, Sink(), interval=2), Link(unmade, Sink(), interval=2),
             Link(replaced, Sink(), interval=2)]
    assert links[0].schedule == Every(2)  # made now
    links[2]._schedule = Every(2, offset=1)  # what a shard re-aligning it does
    _run(SchedulePlanner(links, clock=step_clock), step_clock, 1008.5)
    assert made.times == unmade.times == [1000.0 + 2 * k for k in range(5)]
    assert replaced.times == [1000.0] + [1001.0 + 2 * k for k in range(4)]
    assert links[1].schedule == Every(2)


def test_a_link_subclass_overriding_interval_runs_on_the_interval_it_returns(step_clock):
    """databay 0.3.0's planners read ``link.interval``: a subclass that overrides it (and not
    ``schedule``) runs every interval it returns, a timedelta or seconds, whether it is there
    at start() or added while running; one returning None runs on its schedule.

    Catches: binding such a link from the interval given to its constructor.
    """

    class EveryThird(Link):
        @property
        def interval(self):
            return datetime.timedelta(seconds=3)

    class EveryTwo(Link):
        interval = 2

    class NoInterval(Link):
        @property
        def interval(self):
            return None

    third, two, none, plain, added = (ClockInlet(step_clock) for _ in range(5))
    planner = SchedulePlanner([EveryThird(third, Sink(), interval=1), EveryTwo(two, Sink(), interval=1),
                               NoInterval(none, Sink(), interval=1), Link(plain, Sink(), interval=1)],
                              clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    try:
        step_clock.advance_to(1000.5)
        planner.add_links(EveryThird(added, Sink(), interval=1))
        step_clock.advance_to(1009.5)
    finally:
        planner.shutdown(timeout=10)
        thread.join(10)
    assert not thread.is_alive()
    assert third.times == [1000.0 + 3 * k for k in range(4)]
    assert two.times == [1000.0 + 2 * k for k in range(5)]
    assert none.times == plain.times == [1000.0 + k for k in range(10)]
    assert added.times == [1003.5, 1006.5, 1009.5]


def test_a_link_subclass_whose_interval_is_no_interval_is_refused(step_clock):
    """What the override returns is checked as ``Link(interval=...)`` is, when the link is bound:
    start() raises it (after shutting down), add_links() while running refuses the link."""

    class Broken(Link):
        interval = "soon"

    broken = Broken(ClockInlet(step_clock), Sink(), interval=1)
    with pytest.raises(TypeError, match=r"\.interval='soon' must be"):
        SchedulePlanner(broken, clock=step_clock).start()

    plain = ClockInlet(step_clock)
    planner = SchedulePlanner(Link(plain, Sink(), interval=1), clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    try:
        step_clock.advance_to(1000.5)
        late = Broken(ClockInlet(step_clock), Sink(), interval=1)
        with pytest.raises(TypeError, match=r"\.interval='soon' must be"):
            planner.add_links(late)
        assert late not in planner.links
        step_clock.advance_to(1002.5)
    finally:
        planner.shutdown(timeout=10)
        thread.join(10)
    assert plain.times == [1000.0, 1001.0, 1002.0]
