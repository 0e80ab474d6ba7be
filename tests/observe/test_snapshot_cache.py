"""A link that did not change since its last snapshot gets that snapshot back; nothing else does.

``planner.stats()`` of thousands of mostly idle links stays cheap because each
link keeps its last snapshot (databay/_stats.py, ``LinkStats.snapshot``). These
tests check both sides: the snapshot is reused while nothing changed, and every
kind of change shows in the next snapshot exactly as a snapshot built from
scratch shows it.
"""

import gc
import time

import pytest

from databay import Link, Outlet, RejectedRecords
from databay._stats import WINDOW, LinkStats
from databay._transfer import note
from databay.planners import SchedulePlanner


class RejectingOutlet(Outlet):
    """Rejects the first record of every batch (``RejectedRecords``), keeps the rest."""

    def __init__(self):
        super().__init__()
        self.kept = []

    def push(self, records, update):
        self.kept.extend(records[1:])
        raise RejectedRecords(records[:1], "the first one is malformed")

    def __repr__(self):
        return "RejectingOutlet()"


def close(cached, fresh, path="snapshot"):
    """``cached`` equals ``fresh`` up to the jitter of converting clock readings to Unix time."""
    if isinstance(fresh, dict):
        assert isinstance(cached, dict) and cached.keys() == fresh.keys(), path
        for key in fresh:
            close(cached[key], fresh[key], "%s[%r]" % (path, key))
    elif isinstance(fresh, list):
        assert isinstance(cached, list) and len(cached) == len(fresh), path
        for index, (one, other) in enumerate(zip(cached, fresh)):
            close(one, other, "%s[%d]" % (path, index))
    elif isinstance(fresh, float) and not isinstance(cached, bool):
        assert cached == pytest.approx(fresh, abs=0.002), path
    else:
        assert cached == fresh and type(cached) is type(fresh), path


@pytest.fixture
def held(obs):
    """A link held by a (not started) SchedulePlanner, its inlet and outlet, and the planner."""
    inlet, outlet = obs.CountInlet(size=3), obs.KeepOutlet()
    link = Link(inlet, outlet, interval=3600, tags=["cached"])
    planner = SchedulePlanner([link], immediate_transfer=False)
    return link, inlet, outlet, planner


def check_change_shows(link, planner, change):
    """Snapshot, ``change()``, snapshot again: the second equals one built without the cache."""
    before = planner.stats()["links"][0]
    assert planner.stats()["links"][0] is before  # nothing changed yet: reused (not a vacuous test)
    change()
    after = planner.stats()["links"][0]
    link._stats.cache = None
    fresh = planner.stats()["links"][0]
    assert after is not fresh
    close(after, fresh)
    return before, after


def test_an_unchanged_link_gets_its_previous_snapshot_back(held):
    link, _, _, planner = held
    planner.force_transfer()
    first, second = planner.stats(), planner.stats()
    assert first is not second and first["planner"] is not second["planner"]
    assert second["links"][0] is first["links"][0]
    assert link.stats() is link.stats()


@pytest.mark.parametrize("what", ["direct transfer", "planner-run transfer", "skipped", "missed"])
def test_transfers_show_in_the_next_snapshot(held, what):
    link, _, _, planner = held
    change = {"direct transfer": link.transfer,
              "planner-run transfer": planner.force_transfer,
              "skipped": link._stats.was_skipped,  # as the planner counts them
              "missed": lambda: link._stats.was_missed(2)}[what]
    planner.force_transfer()
    change()  # health now says so; the second one changes only the count
    before, after = check_change_shows(link, planner, change)
    assert after != before


def test_a_failing_node_shows_in_the_next_snapshot(held):
    link, inlet, _, planner = held
    planner.force_transfer()

    def fail():
        inlet.failing = True
        with pytest.raises(ConnectionError):
            planner.force_transfer()

    _, after = check_change_shows(link, planner, fail)
    assert after["health"] == "failing" and after["last_error"]["type"] == "ConnectionError"
    assert after["nodes"][0]["failures"] == 1


def test_rejected_and_lost_records_show_in_the_next_snapshot(obs):
    """Delivery counts (``lost`` is counted without any other counter moving) invalidate the cache."""
    link = Link(obs.CountInlet(size=3), RejectingOutlet(), interval=3600, ignore_exceptions=True)
    planner = SchedulePlanner([link], immediate_transfer=False)
    _, after = check_change_shows(link, planner, link.transfer)
    assert after["records"]["rejected"] == 1 and after["records"]["lost"] == 1
    assert after["records"]["delivered"] == 2
    _, after = check_change_shows(link, planner, lambda: note(link, "lost", 1))  # moves nothing else
    assert after["records"]["lost"] == 2


def test_tags_nodes_and_time_spent_show_in_the_next_snapshot(held, obs):
    link, _, outlet, planner = held
    planner.force_transfer()
    _, after = check_change_shows(link, planner, lambda: link.tags.append("renamed"))
    assert after["tags"] == ["cached", "renamed"] and after["name"] == "cached.renamed"
    keyed = Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600, tags=["a"], key="keyed")
    keyed_planner = SchedulePlanner([keyed], immediate_transfer=False)
    _, after = check_change_shows(keyed, keyed_planner, lambda: keyed.tags.append("b"))  # same name
    assert after["tags"] == ["a", "b"] and after["name"] == "keyed"

    extra = obs.KeepOutlet("extra")
    _, after = check_change_shows(link, planner, lambda: link.add_outlets(extra))
    assert [node["name"] for node in after["nodes"]] == ["CountInlet(in)", "KeepOutlet(out)",
                                                          "KeepOutlet(extra)"]

    # A node call that ends after its transfer did (one abandoned after a timeout) adds its time.
    slow = link._stats.timer(outlet, lambda: time.sleep(0.05))
    _, after = check_change_shows(link, planner, slow)
    assert after["nodes"][1]["time_spent_seconds"] >= 0.05


def test_a_running_transfer_is_never_served_from_the_cache(held):
    link, inlet, _, planner = held
    seen = []
    inlet.hook = lambda: seen.extend([link.stats(), link.stats()])
    planner.force_transfer()
    during, again = seen
    assert during["transfers"]["running"] is True and during is not again
    assert link.stats()["transfers"]["running"] is False


def test_a_new_link_builds_no_timing_windows_and_no_node_counters(obs):
    """Building a link stays cheap: windows and per-node counters wait until they are needed."""
    inlet, outlet = obs.CountInlet(size=2), obs.KeepOutlet()
    link = Link(inlet, outlet, interval=3600)
    stats = link._stats
    assert stats.nodes == {} and stats.timing is LinkStats(link).timing  # the shared, empty one
    before = stats.timing
    link.transfer()
    assert stats.timing is before  # a direct transfer times nothing
    planner = SchedulePlanner([link], immediate_transfer=False)
    planner.force_transfer()
    assert stats.timing is not before and before.durations.count == 0 and before.durations.values == []
    snapshot = link.stats()
    assert snapshot["duration_seconds"]["count"] == 1
    assert [(node["calls"], node.get("records_delivered")) for node in snapshot["nodes"]] == \
        [(2, None), (2, 4)]


def test_a_warning_that_expires_shows_in_the_next_snapshot(held, monkeypatch):
    """Health moves from warning back to ok by itself (3 intervals later here): the snapshot follows."""
    import databay._stats as stats_module

    link, _, _, planner = held
    planner.force_transfer()
    link._stats.was_skipped()
    warned = planner.stats()["links"][0]
    assert warned["health"] == "warning" and planner.stats()["links"][0] is warned
    later = 3 * 3600 + 1.0  # both clocks move on: the same offset between them
    real, real_wall = time.perf_counter, time.time
    monkeypatch.setattr(stats_module, "perf_counter", lambda: real() + later)
    monkeypatch.setattr(stats_module, "wall_time", lambda: real_wall() + later)
    snapshot = planner.stats()
    assert snapshot["links"][0]["health"] == "ok" and snapshot["planner"]["health"]["ok"] == 1


def test_a_wall_clock_step_shows_in_the_next_snapshot(held, monkeypatch):
    """Times are reported in Unix time: when the system clock is set, cached times follow it."""
    import databay._stats as stats_module

    link, _, _, planner = held
    planner.force_transfer()
    before = planner.stats()["links"][0]
    real_wall = time.time
    monkeypatch.setattr(stats_module, "wall_time", lambda: real_wall() + 5.0)
    after = planner.stats()["links"][0]
    assert after["last_success_at"] == pytest.approx(before["last_success_at"] + 5.0, abs=0.002)


def test_a_bump_after_a_delayed_store_never_repeats_the_cached_value(held):
    """Writers on several threads bump ``changes``; one bump's store may land late, putting the counter
    back to an older value. The next bump must still not give the value a cached snapshot was made
    under (``changes += 1`` would: the write after it would stay hidden)."""
    link, _, _, planner = held
    stats = link._stats
    planner.force_transfer()
    stats.was_skipped()
    earlier = stats.changes  # what a writer that read the counter before the next bump stores
    stats.was_skipped()
    cached = link.stats()  # made under the newer value
    stats.changes = earlier  # the delayed store lands
    stats.was_missed(2)  # a write, then its bump
    after = link.stats()
    assert after is not cached and after["transfers"]["missed"] == 2
    seen = {stats.changes}
    other = LinkStats(link)
    for _ in range(100):  # values are unique across links too, and only grow
        for writer in (stats, other):
            before = writer.changes
            writer.was_skipped()
            assert writer.changes > before and writer.changes not in seen
            seen.add(writer.changes)


def test_a_next_due_time_that_moves_alone_shows_in_the_next_snapshot(held):
    """Only the due time moved (nothing was counted): the snapshot is not reused."""
    link, _, _, planner = held
    stats = link._stats
    planner.force_transfer()
    first = stats.snapshot(link, "cached", next_due=1_000_000.0)
    assert stats.snapshot(link, "cached", next_due=1_000_000.0) is first
    moved = stats.snapshot(link, "cached", next_due=1_000_010.0)
    assert moved is not first and moved["next_due_at"] == 1_000_010.0


def test_a_restarted_planner_shows_its_new_state_and_next_due_time(obs):
    """A planner shut down and started again later (no transfer meanwhile): the link's next
    snapshot shows the new due time, and no running transfer, not the ones from before."""
    from databay_testing import VirtualClock, running_planner, virtual_planner

    clock = VirtualClock()
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=10, tags=["restarted"])
    with virtual_planner(link, clock=clock, immediate_transfer=False) as planner:
        clock.settle()
        before = link.stats()
        assert before["next_due_at"] == pytest.approx(clock.wall() + 10, abs=0.01)
        assert planner.stats()["planner"]["running"] is True
    assert planner.stats()["planner"]["running"] is False
    clock.advance(3)
    with running_planner(planner, clock) as again:  # the same planner, started again
        clock.settle()
        after = link.stats()  # no snapshot while it was stopped: only the due time moved
        assert after["next_due_at"] == pytest.approx(clock.wall() + 10, abs=0.01)
        assert after["next_due_at"] == pytest.approx(before["next_due_at"] + 3, abs=0.01)
        assert after["transfers"]["running"] is False and after["transfers"]["run"] == 0
        assert again.stats()["planner"]["running"] is True
    assert link.stats()["next_due_at"] is None


class TellingError(ConnectionError):
    """An error that runs ``tell()`` the first time its message is read (while it is being counted)."""

    def __init__(self, message, tell):
        super().__init__(message)
        self.tell = tell

    def __str__(self):
        tell, self.tell = self.tell, None
        if tell is not None:
            tell()
        return super().__str__()


class TellingOutlet(Outlet):
    """Raises ``error`` from every push."""

    def __init__(self):
        super().__init__()
        self.error = ValueError("database refused the batch")

    def push(self, records, update):
        raise self.error


@pytest.mark.parametrize("writer", ["node_failed", "transfer_raised"])
def test_a_snapshot_taken_while_a_failure_is_counted_is_not_reused_after(obs, writer):
    """Writers bump ``changes`` after their writes: a snapshot taken in the middle of them (here while
    the error's message is read, after the counters moved) is not given back once they are done."""
    outlet = TellingOutlet()
    # No records: nothing but the failure is counted after the outlet raises (the refused count
    # of an empty batch stays 0), so only the failure's own bump of ``changes`` can show it.
    link = Link(obs.CountInlet(size=0), outlet, interval=3600, ignore_exceptions=True)
    link.transfer()  # the outlet fails: counted
    seen = []
    error = TellingError("database gone", lambda: seen.append(link.stats()))
    if writer == "node_failed":  # counted by the pipeline during a direct transfer
        outlet.error = error
        link.transfer()
    else:  # a transfer that raised for another reason than a node
        link._stats.run += 1  # as Link._run counts a transfer
        link._stats.transfer_raised(error)
    during = seen[0]
    assert during["last_error"]["message"] != "database gone"  # taken before the error was noted
    after = link.stats()
    assert after is not during
    assert after["last_error"]["message"] == "database gone"
    assert after["transfers"]["failed"] == 2 and after["health"] == "failing"
    link._stats.cache = None
    close(after, link.stats())


def test_a_snapshot_taken_from_an_event_inside_a_planner_transfer_shows_what_followed(obs):
    """``subscribe()`` callbacks run inside the transfer: a snapshot they take is cached, and the
    next one (after the transfer ended) shows the final counters."""
    inlet, outlet = obs.CountInlet(size=2), obs.KeepOutlet()
    link = Link(inlet, outlet, interval=3600)
    planner = SchedulePlanner([link], immediate_transfer=False)
    seen = []
    planner.subscribe(lambda event: seen.append((event.kind, link.stats())))
    planner.force_transfer()
    planner.force_transfer()
    kinds = [kind for kind, _ in seen]
    assert kinds.count("transfer_finished") == 2
    final = link.stats()
    assert final["transfers"]["run"] == 2 and final["records"]["pulled"] == 4
    assert final["transfers"]["running"] is False and final["duration_seconds"]["count"] == 2


def _write(stats, inlet, outlet, writer, start=0.0):
    """One write through the LinkStats writer named ``writer`` (``start``: the transfer ``ended`` ends)."""
    {"started": lambda: stats.started(0.5),
     "ended": lambda: stats.ended(start),
     "ended with an error": lambda: stats.ended(start, ConnectionError("gone")),
     "timer": lambda: stats.timer(outlet, lambda: None)(),
     "transfer_raised": lambda: stats.transfer_raised(ValueError("other")),
     "node_failed": lambda: stats.node_failed("inlet", inlet, ValueError("bad")),
     "push_retrying": lambda: stats.push_retrying(outlet, ValueError("busy")),
     "outlet_delivered": lambda: stats.outlet_delivered(outlet, 2),
     "skipped": stats.was_skipped,
     "missed": lambda: stats.was_missed(1),
     "records_noted": lambda: stats.records_noted("refused", 1),
     "nodes_changed": lambda: stats.nodes_changed([inlet], [outlet]),
     }[writer]()


@pytest.mark.parametrize("writer", ["started", "ended", "ended with an error", "transfer_raised",
                                    "node_failed", "push_retrying", "outlet_delivered", "skipped",
                                    "missed", "records_noted", "nodes_changed"])
def test_every_writer_off_the_hot_path_gives_changes_a_new_value(held, writer):
    """The cache compares ``changes`` for everything but the hot-path counters: every other writer
    must move it (a snapshot taken by another thread between a transfer's start and end is made
    under the values before ``ended``: only ``ended``'s own bump shows its writes)."""
    link, inlet, outlet, planner = held
    stats = link._stats
    planner.force_transfer()
    start = stats.started(0.5) if writer.startswith("ended") else 0.0  # a transfer to end
    before = stats.changes
    _write(stats, inlet, outlet, writer, start)
    assert stats.changes != before


@pytest.mark.parametrize("writer", ["timer", "transfer_raised", "node_failed", "push_retrying",
                                    "outlet_delivered", "skipped", "missed", "records_noted",
                                    "nodes_changed", "delivery count", "lost records"])
def test_every_writer_but_the_planners_timing_gives_counted_a_new_value(held, writer):
    """A snapshot lends its counter sections (transfers, records, nodes) to the next one while
    ``counted`` and the hot-path counters stay put: every writer but started/ended must move it,
    after its writes (the delivery counts too: ``lost`` is counted without any warning)."""
    link, inlet, outlet, planner = held
    stats = link._stats
    planner.force_transfer()
    before = stats.counted
    if writer in ("delivery count", "lost records"):
        seen = []

        class Watched(dict):
            def __setitem__(self, key, value):  # ``counted`` when the count is written
                seen.append(stats.counted)
                super().__setitem__(key, value)

        link._counts = Watched(link._counts)
        note(link, "refused" if writer == "delivery count" else "lost", 1)
        assert len(seen) == 1 and stats.counted not in (before, seen[0])
        return
    _write(stats, inlet, outlet, writer)
    assert stats.counted != before


def test_a_timed_transfer_alone_lends_the_counter_sections(held):
    """What a running planner's stats() pays most for: every link was timed since the last call.
    Only the timing sections are built again; the counters are the previous snapshot's."""
    link, _, _, planner = held
    stats = link._stats
    planner.force_transfer()
    before = link.stats()
    stats.ended(stats.started(0.25))  # the planner's timing of a transfer, nothing counted
    after = link.stats()
    assert after is not before and after["lateness_seconds"]["max"] == 0.25
    for section in ("transfers", "records", "nodes", "tags"):
        assert after[section] is before[section], section
    stats.cache = None
    close(after, link.stats())
    planner.force_transfer()  # counted: nothing lent
    again = link.stats()
    assert again["transfers"] is not after["transfers"] and again["transfers"]["run"] == 2
    assert again["nodes"][0]["calls"] == 2


def test_a_lent_last_error_follows_a_wall_clock_step(obs, monkeypatch):
    """An unchanged last error is lent to the next snapshot, unless Unix time moved."""
    import databay._stats as stats_module

    inlet = obs.CountInlet()
    link = Link(inlet, obs.KeepOutlet(), interval=3600, tags=["failing"])
    planner = SchedulePlanner([link], immediate_transfer=False)
    inlet.failing = True
    with pytest.raises(ConnectionError):
        planner.force_transfer()
    before = link.stats()
    link._stats.ended(link._stats.started(0.5))  # timed again: a new snapshot, the same error
    lent = link.stats()
    assert lent is not before and lent["last_error"] is before["last_error"]
    real_wall = time.time
    monkeypatch.setattr(stats_module, "wall_time", lambda: real_wall() + 5.0)
    link._stats.ended(link._stats.started(0.5))
    after = link.stats()
    assert after["last_error"]["at"] == pytest.approx(before["last_error"]["at"] + 5.0, abs=0.002)


def test_a_built_or_lent_snapshot_keeps_its_keys_in_the_documented_order(held):
    """Snapshots are copies of a key layout (or of the previous snapshot) with values stored in:
    json.dumps output keeps the order docs/observability.md shows."""
    link, _, _, planner = held
    order = ["name", "key", "tags", "interval_seconds", "health", "transfers", "records", "last_transfer",
             "last_success_at", "failing_since", "last_error", "last_warning", "next_due_at",
             "lateness_seconds", "duration_seconds", "recent", "nodes"]
    assert list(link.stats()) == order  # nothing run yet
    planner.force_transfer()
    built = link.stats()
    link._stats.ended(link._stats.started(0.5))
    lent = link.stats()
    assert lent["transfers"] is built["transfers"]  # the lending path
    assert list(built) == order and list(lent) == order


def test_a_returned_snapshot_is_never_changed_afterwards(held):
    """Snapshots are read-only and later ones lend their parts (and the windows' summaries): nothing a
    caller was given changes when the link moves on, whichever path built the next snapshot."""
    import json

    link, inlet, _, planner = held
    stats = link._stats
    given = []

    def take():
        snapshot = link.stats()
        given.append((snapshot, json.dumps(snapshot)))

    take()
    for round_ in range(WINDOW + 3):  # past a full window: values leave the recent lists
        stats.ended(stats.started(round_ / 100.0))  # timing only: the lending path
        take()
        if round_ % 5 == 0:
            planner.force_transfer()  # counted: built again
            take()
        if round_ % 7 == 0:
            stats.was_skipped()
            take()
        if round_ == 20:
            inlet.failing = True
            with pytest.raises(ConnectionError):
                planner.force_transfer()
            take()
            inlet.failing = False
    assert len({id(snapshot) for snapshot, _ in given}) > WINDOW  # new snapshots, not one reused
    for snapshot, dumped in given:
        assert json.dumps(snapshot) == dumped


def test_what_moves_with_the_timing_alone_shows_in_a_lending_snapshot(held, monkeypatch):
    """The lending path stores only what moved: a new name and tags, and health that changed by
    itself (a warning expired), show exactly as in a snapshot built from scratch."""
    import databay._stats as stats_module

    link, _, _, planner = held
    stats = link._stats
    planner.force_transfer()
    stats.was_skipped()
    before = link.stats()
    assert before["health"] == "warning"
    later = 3 * 3600 + 1.0  # the warning has expired: both clocks move on together
    real, real_wall = time.perf_counter, time.time
    monkeypatch.setattr(stats_module, "perf_counter", lambda: real() + later)
    monkeypatch.setattr(stats_module, "wall_time", lambda: real_wall() + later)
    link.tags.append("renamed")
    stats.ended(stats.started(0.5))
    after = link.stats()
    assert after["transfers"] is before["transfers"]  # the lending path
    assert (after["health"], after["name"], after["tags"]) == ("ok", "cached.renamed", ["cached", "renamed"])
    stats.cache = None
    fresh = link.stats()
    close(after, fresh)
    stats.ended(stats.started(0.5))
    again = link.stats()
    assert again["tags"] is fresh["tags"] and again["name"] == "cached.renamed"


def test_a_snapshots_recent_series_cannot_be_edited_and_later_snapshots_are_unaffected(held):
    """A snapshot's ``recent`` series are the link's own tuples (not copied): a caller cannot edit
    them, and whatever else a caller edits of a snapshot (its recent section, its last transfer)
    changes neither the link's own windows nor what any later snapshot shows, whichever path
    builds it: timing only (lending the rest), counted (built again), or reused."""
    link, _, _, planner = held
    stats = link._stats
    lateness, records = [], []
    for round_ in range(WINDOW + 5):  # past a full window: values leave the link's own series
        planner.force_transfer()  # counted: 3 records (on demand: no lateness)
        records.append(3)
        edited = link.stats()
        stats.ended(stats.started(round_ / 100.0))  # timing only: 0 records
        lateness.append(round_ / 100.0)
        records.append(0)
        for snapshot in (edited, link.stats()):
            recent = snapshot["recent"]
            for series in (recent["lateness_seconds"], recent["records"]):
                assert type(series) is tuple
                with pytest.raises(AttributeError):
                    series.append(-1.0)
                with pytest.raises(TypeError):
                    series[0] = 7
                with pytest.raises(TypeError):
                    del series[0]
            recent["lateness_seconds"] += (-1.0,)  # rebinds the snapshot's key, not the link's series
            recent["records"] = [7] * 3
            recent["extra"] = []
            if snapshot["last_transfer"] is not None:
                snapshot["last_transfer"]["records"] = 99
    stats.ended(stats.started(0.5))
    lateness.append(0.5)
    records.append(0)
    shown = link.stats()
    assert shown["recent"] == {"lateness_seconds": tuple(lateness[-WINDOW:]),
                               "records": tuple(records[-WINDOW:])}
    assert shown["recent"]["lateness_seconds"] is stats.timing.lateness.recent  # shared, not copied
    assert shown["last_transfer"]["records"] == 0
    assert stats.timing.lateness.values == lateness[-WINDOW:]
    assert stats.timing.lateness.ordered == sorted(lateness[-WINDOW:])
    assert shown["lateness_seconds"]["max"] == max(lateness[-WINDOW:])
    planner.force_transfer()
    records.append(3)
    built = link.stats()
    assert built["recent"] == {"lateness_seconds": tuple(lateness[-WINDOW:]),
                               "records": tuple(records[-WINDOW:])}
    assert built["last_transfer"]["records"] == 3


def test_a_watched_links_series_are_shared_with_snapshots_and_held_one_value_longer(held):
    """While snapshots are taken (someone watches), each new value makes the link publish its recent
    series as tuples that the next snapshot shares (no copy in stats()), and the link holds what the
    snapshot a stats() call replaces showed (series and summaries) one value longer, so that call
    frees none of them (nor the floats in them: memory gone cold on a busy planner)."""
    link, _, _, planner = held
    stats = link._stats
    planner.force_transfer()
    for _ in range(2):  # a snapshot, then a value: watched and published from here on
        stats.ended(stats.started(0.0))  # (and every window has a value: its summary is its own)
        link.stats()
    for round_ in range(WINDOW + 3):  # filling up, then past a full window
        if round_ % 3 == 0:
            planner.force_transfer()  # counted: the next snapshot is built, not lent
        else:
            stats.ended(stats.started(round_ / 100.0))  # timing only: the lending path
        before = link.stats()
        timing = stats.timing
        recent = before["recent"]
        assert recent["lateness_seconds"] is timing.lateness.recent  # shared, not copied
        assert recent["records"] is timing.records.recent
        parts = (recent["lateness_seconds"], recent["records"], before["lateness_seconds"],
                 before["duration_seconds"])
        stats.ended(stats.started(0.5))
        assert link.stats() is not before  # replaced it in the link's cache
        holders = (timing.lateness, timing.records, timing.durations)
        for part in parts:
            assert any(referrer is holder for referrer in gc.get_referrers(part) for holder in holders)


def test_a_link_nobody_watches_makes_no_tuples_of_its_series(held):
    """Publishing a series costs a transfer 64 reference-count writes into cold floats: a link whose
    stats nobody reads makes none, and the first snapshot after shows the series all the same."""
    link, _, _, planner = held
    stats = link._stats
    lateness = []
    for round_ in range(WINDOW + 3):
        planner.force_transfer()
        stats.ended(stats.started(round_ / 100.0))
        lateness.append(round_ / 100.0)
    timing = stats.timing
    assert timing.lateness.recent is None and timing.records.recent is None
    assert timing.durations.recent is None
    shown = link.stats()["recent"]
    assert shown == {"lateness_seconds": tuple(lateness[-WINDOW:]), "records": (3, 0) * (WINDOW // 2)}
    stats.ended(stats.started(0.5))  # watched now: published
    assert link.stats()["recent"]["lateness_seconds"] is timing.lateness.recent
