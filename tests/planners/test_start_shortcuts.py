"""Shortcuts SchedulePlanner takes between ``start()`` and the immediate transfers, and the rules
they must keep. Virtual time (``StepClock`` in conftest): no sleeping, no timing assertions."""

import threading

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



def test_the_first_runs_pool_follows_threads_changed_after_the_planner_was_built(step_clock):
    """The first run's worker pool is made when the planner is built (start() then skips that
    work), but a 0.3.0-style subclass that sets ``_threads`` after ``__init__`` gets a pool of
    that size, as when start() made it.

    Catches: start() using the pool made when built whatever ``_threads`` says now.
    """
    sizes = []

    class OneThread(SchedulePlanner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._threads = 1

    class Probe(Outlet):
        def push(self, records, update):
            sizes.append(planner._pool.max_workers)

    planner = OneThread(Link(ClockInlet(step_clock), Probe(), interval=1), clock=step_clock)
    _run(planner, step_clock, 1001.5)
    assert sizes and set(sizes) == {1}


def test_building_a_schedule_planner_collects_the_young_generation():
    """A SchedulePlanner's build ends with a young collection, so that ``start()`` has the young
    generation's whole threshold before a collection runs: without it, W4's (20 links) ran between
    its immediate transfers, delaying a third of them by 0.15-0.2 ms."""
    import gc

    threshold = gc.get_threshold()
    gc.collect()
    gc.set_threshold(10_000_000)  # no automatic collection meanwhile: only the build's
    try:
        young = [[] for _ in range(500)]  # noqa: F841 - 500 young objects, kept alive
        assert gc.get_count()[0] >= 500
        planner = SchedulePlanner([Link(ClockInlet(None), Sink(), interval=1) for _ in range(3)])
        assert gc.get_count()[0] < 50
        assert len(planner.links) == 3
    finally:
        gc.set_threshold(*threshold)


def test_building_a_schedule_planner_leaves_a_disabled_collector_alone():
    """A program that turned the collector off gets no collection from a planner's build."""
    import gc

    collections = []

    def note(phase, info):
        collections.append((phase, info["generation"]))

    was_enabled = gc.isenabled()
    gc.disable()
    gc.callbacks.append(note)
    try:
        SchedulePlanner([Link(ClockInlet(None), Sink(), interval=1) for _ in range(3)])
    finally:
        gc.callbacks.remove(note)
        if was_enabled:
            gc.enable()
    assert collections == []


def test_each_link_is_bound_to_its_own_schedule_whatever_the_link_before_it(step_clock):
    """``start()`` binds consecutive links of one plain interval to the grid it bound for the
    first of them; a link with another interval, an offset or an aligned schedule between or
    after them still gets its own timeline.

    Catches: a link given the plain grid of the link before it.
    """
    inlets = [ClockInlet(step_clock) for _ in range(6)]
    links = [Link(inlets[0], Sink(), interval=1), Link(inlets[1], Sink(), schedule=Every(3, align=True)),
             Link(inlets[2], Sink(), interval=1), Link(inlets[3], Sink(), schedule=Every(1, offset=0.5)),
             Link(inlets[4], Sink(), interval=2), Link(inlets[5], Sink(), interval=1)]
    _run(SchedulePlanner(links, clock=step_clock), step_clock, 1006.7)
    every_second = [1000.0 + k for k in range(7)]
    assert inlets[0].times == inlets[2].times == inlets[5].times == every_second
    assert inlets[1].times == [1000.0, 1003.0, 1006.0]  # wall 1.8e9 at 1000.0: a multiple of 3
    assert inlets[3].times == [1000.0] + [1000.5 + k for k in range(7)]
    assert inlets[4].times == [1000.0, 1002.0, 1004.0, 1006.0]


def test_a_schedule_raising_while_start_binds_it_leaves_the_planner_as_before(step_clock):
    """A Link subclass whose ``schedule`` raises when ``start()`` binds the links: ``start()``
    raises that error after its teardown, leaves no thread and nothing of the failed run (no
    link is due, none has a timeline), and the next ``start()`` runs every link from its t0.

    Catches: binding outside the part of ``start()`` whose failure is undone (the failed run
    stayed live: due times while stopped, and its slots skipped transfers of the next run).
    """
    import pytest

    class Flaky(Link):
        failing = True

        @property
        def schedule(self):
            if Flaky.failing:
                raise RuntimeError("no schedule today")
            return Every(2)

    before = set(threading.enumerate())
    steady, flaky = ClockInlet(step_clock), ClockInlet(step_clock)
    links = [Link(steady, Sink(), interval=1), Flaky(flaky, Sink(), interval=1)]
    planner = SchedulePlanner(links, clock=step_clock)
    with pytest.raises(RuntimeError, match="no schedule today"):
        planner.start()
    assert not planner.running
    assert [(link.job.due, link.job.timeline) for link in links] == [(None, None), (None, None)]
    assert set(threading.enumerate()) - before == set()
    assert steady.times == flaky.times == []
    Flaky.failing = False
    _run(planner, step_clock, 1004.5)
    assert steady.times == [1000.0 + k for k in range(5)]
    assert flaky.times == [1000.0, 1002.0, 1004.0]
    assert [link.stats()["transfers"]["skipped"] for link in links] == [0, 0]
