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


def _timed_link(obs):
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600, tags=["lent"])
    stats = link._stats
    for index in range(WINDOW):
        stats.ended(stats.started(index / 1000.0))
    return link, stats


def test_snapshots_lend_the_recent_lists_and_the_next_change_copies_them(obs):
    """Copy on write (databay/_stats.py, Recent): a snapshot shows the series' own lists, the next
    value goes into a copy, so what was shown never changes."""
    link, stats = _timed_link(obs)
    shown = link.stats()["recent"]
    timing = stats.timing
    assert shown["lateness_seconds"] is timing.lateness.values and shown["records"] is timing.records.values
    kept = {key: list(values) for key, values in shown.items()}
    stats.ended(stats.started(0.5))
    assert timing.lateness.values is not shown["lateness_seconds"]
    assert timing.records.values is not shown["records"]
    assert shown == kept
    assert link.stats()["recent"]["lateness_seconds"][-1] == 0.5


def test_a_snapshot_during_a_change_shows_a_copy(obs):
    """A snapshot taken while a value is being added (``busy``) must not lend the list: the change
    may have checked the mark before the snapshot set it."""
    link, stats = _timed_link(obs)
    timing = stats.timing
    timing.lateness.busy = timing.records.busy = True
    shown = link.stats()["recent"]
    assert shown["lateness_seconds"] is not timing.lateness.values
    assert shown["records"] is not timing.records.values
    assert shown["lateness_seconds"] == timing.lateness.values


def _racing(series, snapshot):
    """``series`` (a Recent or a Window) copied into an instance whose writer, right after it
    read the lent mark, lets ``snapshot()`` run once, as another thread could: the moment a
    mark comes too late for that change. What that snapshot showed is kept in ``taken``."""

    class Racing(type(series)):
        __slots__ = ("mark", "hook", "taken")

        @property
        def lent(self):
            value = self.mark  # what the writer read; the snapshot runs right after
            hook, self.hook = self.hook, None
            if hook is not None:
                recent = hook()["recent"]
                self.taken.append((recent, {key: list(values) for key, values in recent.items()}))
            return value

        @lent.setter
        def lent(self, value):
            self.mark = value

    racing = Racing.__new__(Racing)
    for kind in type(series).__mro__:
        for name in getattr(kind, "__slots__", ()):
            if name != "lent":
                setattr(racing, name, getattr(series, name))
    racing.mark, racing.hook, racing.taken = series.lent, snapshot, []
    return racing


def test_a_snapshot_between_the_writers_mark_check_and_its_change_is_not_changed_later(obs):
    link, stats = _timed_link(obs)
    timing = stats.timing
    for which in ("lateness", "records"):
        stats.cache = None
        link.stats()  # lends both lists: the next change copies them
        stats.ended(stats.started(0.5))  # copied, not lent: this change reads no mark
        racing = _racing(getattr(timing, which), link.stats)
        setattr(timing, which, racing)
        stats.ended(stats.started(0.75))
        assert racing.taken, "the snapshot did not run inside the change"
        shown, kept = racing.taken[0]
        for _ in range(3):
            stats.ended(stats.started(0.125))
        assert shown == kept, which


def test_a_snapshot_leaves_what_the_writer_made_for_the_writer_to_free(obs):
    """planner.stats() of many changed links does not pay for freeing what the timing path made:
    a window keeps its previous summary, a series the list it copied last, until its next change,
    so dropping the previous snapshot frees neither."""
    link, stats = _timed_link(obs)
    timing = stats.timing
    first = link.stats()
    made = [(first["lateness_seconds"], timing.lateness), (first["duration_seconds"], timing.durations),
            (first["recent"]["lateness_seconds"], timing.lateness), (first["recent"]["records"], timing.records)]
    stats.ended(stats.started(0.5))
    link.stats()  # the link's cached snapshot is now this one: the first is the caller's alone
    del first
    for part, holder in made:
        assert any(referrer is holder for referrer in gc.get_referrers(part)), part


def test_lent_lists_never_change_with_snapshots_on_other_threads(obs):
    """Many snapshots from other threads while a planner-like writer adds values, with the
    interpreter switching threads as often as it can: every list shown stays as it was shown."""
    import sys

    link, stats = _timed_link(obs)
    shown, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            recent = link.stats()["recent"]
            shown.append((recent, {key: list(values) for key, values in recent.items()}))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    readers = [threading.Thread(target=read) for _ in range(2)]
    try:
        for reader in readers:
            reader.start()
        for index in range(3000):
            stats.ended(stats.started(index / 7.0))
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
        sys.setswitchinterval(interval)
    assert len(shown) > 10
    changed = [index for index, (recent, kept) in enumerate(shown)
               if {key: list(values) for key, values in recent.items()} != kept]
    assert changed == []
