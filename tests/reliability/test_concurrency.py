"""Concurrency: links added and removed from many threads, shared inlets, force_transfer mid-schedule."""

import importlib.util
import random
import threading

import pytest

from databay import Link
from databay.planners import ApsPlanner, SchedulePlanner

NEEDS_APS = pytest.mark.skipif(importlib.util.find_spec("apscheduler") is None,
                               reason="APScheduler not installed (install databay[aps])")
PLANNERS = [pytest.param(SchedulePlanner, id="schedule"),
            pytest.param(ApsPlanner, id="aps", marks=NEEDS_APS)]


def run_threads(targets, timeout=60):
    """Run each target in its own thread; re-raise the first error; fail if one hangs."""
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(target,), name="reliability-%d" % i)
               for i, target in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread deadlocked"
    if errors:
        raise errors[0]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("planner_class", PLANNERS)
def test_add_and_remove_links_from_many_threads_while_running(
        planner_class, counting_inlet, counting_outlet, run_in_thread, waiter, log_capture):
    """Four threads adding and removing links (sharing one outlet) while the planner runs: no error, no deadlock, every node stopped once."""
    shared_outlet = counting_outlet("shared")
    steady = counting_inlet("steady")
    planner = planner_class(Link(steady, shared_outlet, 0.01), ignore_exceptions=False)
    all_inlets = []
    lock = threading.Lock()

    def churn(seed):
        rng = random.Random(seed)
        mine = []
        for step in range(60):
            if mine and rng.random() < 0.45:
                planner.remove_links(mine.pop(rng.randrange(len(mine))))
            else:
                inlet = counting_inlet("t%d-%d" % (seed, step))
                with lock:
                    all_inlets.append(inlet)
                link = Link(inlet, [shared_outlet], 0.005 + rng.random() / 100)
                planner.add_links(link)
                mine.append(link)
            if rng.random() < 0.3:
                planner.force_transfer()

    with log_capture as log:
        runner = run_in_thread(planner)
        assert waiter(lambda: planner.running, 30)
        run_threads([lambda seed=seed: churn(seed) for seed in range(4)])
        assert planner.running and runner.error is None
        runner.stop()
    assert runner.error is None
    assert log.errors() == []
    for inlet in all_inlets + [steady]:
        assert (inlet.starts, inlet.shutdowns) == (1, 1), inlet
        assert inlet.pulls_while_inactive == 0, inlet
    assert (shared_outlet.starts, shared_outlet.shutdowns) == (1, 1)
    assert shared_outlet.pushes_while_inactive == 0
    produced = sorted(p for inlet in all_inlets + [steady] for p in inlet.produced)
    assert sorted(shared_outlet.delivered) == produced


@pytest.mark.timeout(90)
@pytest.mark.parametrize("planner_class", PLANNERS)
def test_one_inlet_shared_by_many_links_with_force_transfer(
        planner_class, counting_inlet, counting_outlet, run_in_thread, waiter, log_capture):
    """One inlet in ten links while three threads force transfers: each record reaches its link's outlet once; start/stop once."""
    inlet = counting_inlet("shared", per_pull=1, delay=0.002)
    outlets = [counting_outlet("out%d" % i) for i in range(10)]
    links = [Link(inlet, outlet, 0.01 + i / 1000, tags="l%d" % i) for i, outlet in enumerate(outlets)]
    planner = planner_class(links, threads=8)
    forced = [0]

    def force():
        for _ in range(40):
            planner.force_transfer()
            forced[0] += 1

    with log_capture as log:
        runner = run_in_thread(planner)
        assert waiter(lambda: planner.running, 30)
        run_threads([force] * 3)
        assert waiter(lambda: len(inlet.produced) >= 200, 30)
        runner.stop()
    assert runner.error is None
    assert [r for r in log.errors()] == []
    assert forced[0] == 120
    assert (inlet.starts, inlet.shutdowns) == (1, 1)
    assert inlet.pulls_while_inactive == 0
    delivered = sorted(p for outlet in outlets for p in outlet.delivered)
    # each link has its own transfer counter, so payloads repeat across links: count by multiset
    assert len(delivered) == len(inlet.produced)
    assert delivered == sorted(inlet.produced)
    for outlet in outlets:
        assert (outlet.starts, outlet.shutdowns) == (1, 1)
        numbers = [number for _, number, _ in outlet.delivered]
        assert len(numbers) == len(set(numbers)), "a transfer number was delivered twice"


@pytest.mark.timeout(90)
def test_shutdown_racing_add_links_starts_and_stops_every_node_once(
        counting_inlet, counting_outlet, run_in_thread, waiter):
    """add_links() racing shutdown(): every node that was started is also shut down, exactly once."""
    for round_number in range(15):
        outlet = counting_outlet()
        planner = SchedulePlanner(Link(counting_inlet(), outlet, 0.005))
        runner = run_in_thread(planner)
        assert waiter(lambda: planner.running, 30)
        added = []

        def add():
            for i in range(30):
                inlet = counting_inlet("r%d-%d" % (round_number, i))
                added.append(inlet)
                planner.add_links(Link(inlet, outlet, 0.005))

        run_threads([add, lambda: planner.shutdown(wait=True)])
        assert runner.returned.wait(30)
        runner.thread.join(30)
        for inlet in added:
            assert inlet.starts == inlet.shutdowns, (round_number, inlet, inlet.starts,
                                                     inlet.shutdowns)
            assert inlet.starts <= 1
        assert outlet.starts == outlet.shutdowns == 1
