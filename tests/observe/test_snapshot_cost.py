"""What keeps planner.stats() cheap must not change what it reports."""

import gc
import random
import threading

from databay import Link
from databay._stats import WINDOW, Window, percentile
from databay.planners import SchedulePlanner


def test_the_running_window_summary_equals_sorting_the_last_values():
    """The summary kept up to date value by value (p50/p99/max of the last WINDOW values, count and
    sum of all) equals the one worked out from the values, sorted."""
    rng = random.Random(13)
    window = Window()
    seen = []
    assert window.shown is None and window.values == []
    for count in range(1, 3 * WINDOW + 7):
        value = rng.choice([0.0, 0.5, 2.0]) if count % 3 else rng.uniform(-1.0, 5.0)  # many repeats
        window.add(value)
        seen.append(value)
        last = seen[-WINDOW:]
        ordered = sorted(last)
        assert window.values == last
        assert window.ordered == ordered
        total = 0.0
        for one in seen:
            total += one
        assert window.shown == {"p50": percentile(ordered, 0.5), "p99": percentile(ordered, 0.99),
                                "max": ordered[-1], "window": len(last), "count": count, "sum": total}
        assert list(window.shown) == ["p50", "p99", "max", "window", "count", "sum"]


def test_a_window_summary_is_never_changed_once_made():
    """Snapshots hand out a window's summary dict as it is: each value gets a new one."""
    window = Window()
    window.add(1.0)
    first = window.shown
    kept = dict(first)
    window.add(3.0)
    assert window.shown is not first and first == kept
    assert window.shown["p50"] == 2.0


def test_percentile_interpolates_between_neighbours():
    assert percentile([1.0], 0.99) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.99) == 9.9


def test_stats_leave_the_garbage_collector_as_they_found_it(obs):
    """planner.stats() pauses the cyclic collector while it builds, and restores its state."""
    planner = SchedulePlanner([Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600)],
                              immediate_transfer=False)
    was = gc.isenabled()
    try:
        gc.enable()
        planner.stats()
        assert gc.isenabled()
        gc.disable()
        planner.stats()
        assert not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_concurrent_stats_calls_resume_the_collector_once_all_ended(obs):
    """Snapshots taken from several threads at once: the collector runs again after the last."""
    links = [Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600, tags=["l%d" % i]) for i in range(50)]
    planner = SchedulePlanner(links, immediate_transfer=False)
    results, errors = [], []

    def take():
        try:
            for _ in range(20):
                results.append(len(planner.stats()["links"]))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    assert gc.isenabled()
    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and results == [50] * 80
    assert gc.isenabled()
