"""SchedulePlanner in virtual time: the grid, misfires, skips, removal, the pool, schedules.

Every test drives the real SchedulePlanner through a test clock implementing
the clock protocol (``StepClock`` in conftest): no sleeping on schedule time,
no private attributes. Several tests exist to catch one deliberate bug each
(named in their docstrings).
"""

import datetime
import logging
import threading
import zoneinfo

import pytest

from databay import Cron, Every, Inlet, Link, Outlet
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


class ClockInlet(Inlet):
    """Records the clock time of every pull; optionally blocks until ``release`` is set."""

    def __init__(self, clock, block=None, on_pull=None):
        super().__init__()
        self.clock = clock
        self.times = []
        self.walls = []
        self.block = block
        self.on_pull = on_pull
        self.entered = threading.Event()

    def pull(self, update):
        self.times.append(self.clock.now())
        self.walls.append(self.clock.wall())
        self.entered.set()
        if self.on_pull is not None:
            self.on_pull()
        if self.block is not None:
            assert self.block.wait(10), "test never released the pull"
        return len(self.times)


class Sink(Outlet):
    def __init__(self):
        super().__init__()
        self.records = []
        self.starts = 0
        self.shutdowns = 0

    def push(self, records, update):
        self.records.extend(record.payload for record in records)

    def on_start(self):
        self.starts += 1

    def on_shutdown(self):
        self.shutdowns += 1


@pytest.fixture
def running():
    """Start planners in threads; shut down and join whatever a test leaves running."""
    started = []

    def run(planner):
        thread = threading.Thread(target=planner.start, daemon=True)
        thread.start()
        started.append((planner, thread))
        return thread

    yield run
    for planner, thread in started:
        planner.shutdown(timeout=10)
        thread.join(10)
        assert not thread.is_alive()


def test_the_grid_is_exact_and_drift_free(step_clock, running):
    """A 10 s link over 100 virtual seconds runs at exactly t0 + k * 10, k = 0..10."""
    inlet = ClockInlet(step_clock)
    running(SchedulePlanner(Link(inlet, Sink(), 10), clock=step_clock))
    step_clock.advance_to(1100)
    assert inlet.times == [1000.0 + 10 * k for k in range(11)]


def test_a_running_transfer_sees_its_links_next_due_time(step_clock, running):
    """``link.job.due`` is already the next slot when a transfer's pull runs (a shard's inlet
    derives its slot from it), for every one of many links due at the same instant.

    Catches: handing transfers to the pool before their next due times are entered (a race:
    it fails when a worker overtakes the loop, on some runs, not all).
    """
    seen = []

    class DueInlet(Inlet):
        link = None

        def pull(self, update):
            seen.append((step_clock.now(), self.link.job.due))
            return 1

    links = []
    for _ in range(300):
        inlet = DueInlet()
        inlet.link = Link(inlet, Sink(), 10)
        links.append(inlet.link)
    running(SchedulePlanner(links, clock=step_clock))
    step_clock.advance_to(1030)
    assert len(seen) == 4 * 300
    assert all(due == now + 10 for now, due in seen), sorted(set(seen))[:5]


def test_links_of_one_interval_share_a_grid_but_never_across_offsets(step_clock, running):
    """Links bound together with one interval and offset share one grid (bound once, asked
    once per slot); a link with another offset or interval, listed in between, keeps its own.

    Catches: sharing a grid between links whose offset or interval differ, and reusing one
    grid's next due time for the next link of the slot without checking it is the same grid.
    """
    plain, again, shifted, other = (ClockInlet(step_clock) for _ in range(4))
    running(SchedulePlanner([Link(plain, Sink(), 10), Link(shifted, Sink(), schedule=Every(10, offset=4)),
                             Link(other, Sink(), 15), Link(again, Sink(), 10)], clock=step_clock))
    step_clock.advance_to(1060)
    assert plain.times == again.times == [1000.0 + 10 * k for k in range(7)]
    assert shifted.times == [1000.0] + [1004.0 + 10 * k for k in range(6)]
    assert other.times == [1000.0 + 15 * k for k in range(5)]


def test_hours_of_schedule_run_in_virtual_time(step_clock, running):
    """Two links at 1 s and 7 s over two virtual hours: every slot runs once, none early."""
    fast, slow = ClockInlet(step_clock), ClockInlet(step_clock)
    running(SchedulePlanner([Link(fast, Sink(), 1), Link(slow, Sink(), 7)], clock=step_clock))
    step_clock.advance_to(1000 + 2 * 3600)
    assert fast.times == [1000.0 + k for k in range(2 * 3600 + 1)]
    assert slow.times == [1000.0 + 7 * k for k in range(2 * 3600 // 7 + 1)]


def test_misfires_coalesce_into_one_run(step_clock, running, caplog):
    """A stall over three slots runs the link once, logs the misses once, skips nothing.

    Catches: rescheduling from the missed slot instead of from now (misfire coalescing).
    """
    inlet = ClockInlet(step_clock)
    link = Link(inlet, Sink(), 10, tags="stalled")
    running(SchedulePlanner(link, clock=step_clock))
    step_clock.settle()
    with caplog.at_level(logging.INFO, logger="databay"):
        step_clock.set(1045)  # slots 1010, 1020, 1030 and 1040 are all late
        step_clock.settle()
    assert inlet.times == [1000.0, 1045.0]
    assert link.job.due == 1050.0, "the next slot stays on the grid"
    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "missed" in m] == [
        "A link was late and ran once for its missed slots (misfires coalesce): %r missed 3 slot(s)"
        % (link,)]
    assert not [m for m in messages if "Skipped" in m]
    step_clock.advance_to(1060)
    assert inlet.times == [1000.0, 1045.0, 1050.0, 1060.0]


def test_links_stalled_together_each_count_their_misses_and_the_log_counts_every_link(
        step_clock, running, caplog):
    """Three links stalled together: each counts its own missed slots; the planner logs the
    first in full and the other two as repeats (summarised at shutdown), not as one event."""
    inlets = [ClockInlet(step_clock) for _ in range(3)]
    links = [Link(inlet, Sink(), interval, tags="stalled%d" % number)
             for number, (inlet, interval) in enumerate(zip(inlets, (10, 10, 5)))]
    planner = SchedulePlanner(links, clock=step_clock)
    running(planner)
    step_clock.settle()
    with caplog.at_level(logging.INFO, logger="databay"):
        step_clock.set(1045)  # due 1010 (10 s), 1005 (5 s): they miss 1020-1040 and 1010-1045
        step_clock.settle()
        assert [link.stats()["transfers"]["missed"] for link in links] == [3, 3, 8]
        planner.shutdown()
    missed = [record.getMessage() for record in caplog.records if "missed" in record.getMessage()]
    assert missed[0] == ("A link was late and ran once for its missed slots (misfires coalesce): "
                         "%r missed 8 slot(s)" % (links[2],))  # the earliest due comes first
    assert len(missed) == 2, missed  # the summary at shutdown: the repeats, the latest named
    assert missed[1].startswith("A link was late and ran once for its missed slots (misfires "
                                "coalesce): 2 more times in the last ")
    assert missed[1].endswith("(latest: %r missed 3 slot(s))" % (links[1],))


def test_a_late_links_missed_slots_are_counted_before_its_transfer_starts(step_clock, running):
    """Subscribers and stats() see a late link's missed slots before the run that coalesces
    them starts: events arrive in order. The first missed-event callback gives a transfer
    already handed to a worker a second to start, so the wrong order would show every time."""
    links = [Link(ClockInlet(step_clock), Sink(), 10) for _ in range(3)]
    planner = SchedulePlanner(links, clock=step_clock)
    events, events_missed, late_run_started = [], [], threading.Event()

    def record(event):
        if event.kind == "transfer_started" and event.lateness:
            late_run_started.set()
        if event.kind == "transfer_missed" and not events_missed:
            events_missed.append(late_run_started.wait(1))
        events.append((event.kind, id(event.link)))

    planner.subscribe(record, kinds=("transfer_started", "transfer_missed"))
    running(planner)
    step_clock.settle()
    step_clock.set(1045)  # every link was due at 1010 and missed 1020-1040
    step_clock.settle()
    planner.shutdown()
    for link in links:
        mine = [kind for kind, link_id in events if link_id == id(link)]
        assert mine == ["transfer_started", "transfer_missed", "transfer_started"], mine


def test_a_busy_link_skips_its_slot_and_says_which(step_clock, running, caplog):
    """A transfer still running at its next slot makes that slot skip, logged with the link."""
    release = threading.Event()
    inlet = ClockInlet(step_clock, block=release)
    link = Link(inlet, Sink(), 10, tags="slow")
    running(SchedulePlanner(link, clock=step_clock))
    assert inlet.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="databay"):
        step_clock.advance_to(1025, idle=False)  # slots 1010 and 1020 find it running
    release.set()
    step_clock.settle()
    step_clock.advance_to(1030)
    assert inlet.times == [1000.0, 1030.0]
    skips = [r.getMessage() for r in caplog.records if "Skipped" in r.getMessage()]
    assert skips and all(repr(link) in message for message in skips)  # repeats are summarised


def test_a_queued_transfer_is_not_queued_twice(step_clock, running, caplog):
    """With the only worker busy, a waiting link is not queued again at its next slot.

    Catches: queueing a link whose previous transfer is still queued (skip-when-queued).
    """
    release = threading.Event()
    blocker = ClockInlet(step_clock, block=release)
    waiting = ClockInlet(step_clock)
    waiting_link = Link(waiting, Sink(), 10, tags="waiting", immediate_transfer=False)
    running(SchedulePlanner([Link(blocker, Sink(), 3600), waiting_link], threads=1,
                            clock=step_clock))
    assert blocker.entered.wait(10)
    with caplog.at_level(logging.WARNING, logger="databay"):
        step_clock.advance_to(1035, idle=False)  # 1010 queues it; 1020 and 1030 must not
    assert waiting.times == []
    assert step_clock.held == 2, "one running transfer and one queued, nothing more"
    release.set()
    step_clock.settle()
    assert waiting.times == [1035.0]  # ran once, when the worker became free
    skips = [r.getMessage() for r in caplog.records if "Skipped" in r.getMessage()]
    assert skips and all(repr(waiting_link) in message for message in skips)


def test_a_removed_link_never_runs_its_queued_transfer(step_clock, running):
    """remove_links() while the link's transfer waits for a worker: that transfer never runs.

    Catches: a worker starting a transfer without checking the gate (epoch/gate check).
    """
    release = threading.Event()
    blocker = ClockInlet(step_clock, block=release)
    queued = ClockInlet(step_clock)
    queued_link = Link(queued, Sink(), 10)
    planner = SchedulePlanner([Link(blocker, Sink(), 3600), queued_link], threads=1,
                              clock=step_clock)
    running(planner)
    assert blocker.entered.wait(10)
    assert step_clock.held == 2  # the blocker runs, the other link's immediate transfer waits
    planner.remove_links(queued_link)
    assert step_clock.held == 1, "removal releases the dropped transfer"
    release.set()
    step_clock.advance_to(1100)
    assert queued.times == []


def test_a_transfer_queued_before_shutdown_never_runs(step_clock):
    """shutdown() while a transfer waits for a worker: it is dropped, not run after shutdown.

    Catches: the same missing gate check, at shutdown.
    """
    release = threading.Event()
    blocker = ClockInlet(step_clock, block=release)
    queued = ClockInlet(step_clock)
    planner = SchedulePlanner([Link(blocker, Sink(), 3600), Link(queued, Sink(), 10)], threads=1,
                              clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    assert blocker.entered.wait(10)
    stopper = threading.Thread(target=planner.shutdown)
    stopper.start()
    release.set()
    stopper.join(10)
    thread.join(10)
    assert queued.times == [] and step_clock.held == 0


def test_remove_links_delivers_what_buffers_hold(step_clock, running):
    """Removing a running link flushes its Buffer to the outlet before its nodes stop.

    Catches: remove_links() without the flush.
    """
    sink = Sink()
    link = Link(ClockInlet(step_clock), sink, 10, processors=Buffer(count_threshold=1000))
    planner = SchedulePlanner(link, clock=step_clock)
    running(planner)
    step_clock.advance_to(1030)
    assert sink.records == []  # four pulls, all held by the Buffer
    planner.remove_links(link)
    assert sink.records == [1, 2, 3, 4]
    assert sink.shutdowns == 1


def test_remove_links_from_inside_its_own_pull_strands_nothing(step_clock, running):
    """A link removing itself during its pull: that pull's records are delivered too."""
    sink = Sink()
    holder = {}
    inlet = ClockInlet(step_clock, on_pull=lambda: holder["planner"].remove_links(holder["link"]))
    link = holder["link"] = Link(inlet, sink, 10, processors=Buffer(count_threshold=1000))
    planner = holder["planner"] = SchedulePlanner(link, clock=step_clock)
    running(planner)
    step_clock.settle()
    assert planner.links == []
    assert sink.records == [1] and sink.shutdowns == 1
    step_clock.advance_to(1050)
    assert inlet.times == [1000.0]


def test_the_pool_grows_for_blocking_transfers(step_clock, running):
    """Five transfers that each wait until all five run at once: the pool grows to five.

    Catches: a pool that does not grow while tasks wait (pool growth).
    """
    barrier = threading.Barrier(5, timeout=10)
    passed = []

    class Meeting(Inlet):
        def pull(self, update):
            passed.append(barrier.wait())
            return 1

    running(SchedulePlanner([Link(Meeting(), Sink(), 60) for _ in range(5)], threads=5,
                            clock=step_clock))
    step_clock.settle()
    assert sorted(passed) == [0, 1, 2, 3, 4]


def test_a_hung_link_does_not_stop_the_others(step_clock, running):
    """One transfer blocked forever: another link keeps every slot."""
    release = threading.Event()
    hung, healthy = ClockInlet(step_clock, block=release), ClockInlet(step_clock)
    running(SchedulePlanner([Link(hung, Sink(), 5), Link(healthy, Sink(), 5)], threads=3,
                            clock=step_clock))
    assert hung.entered.wait(10)
    for moment in range(1000, 1050, 5):
        step_clock.set(moment)
        for _ in range(1000):
            if len(healthy.times) == (moment - 1000) // 5 + 1:
                break
            threading.Event().wait(0.01)
    release.set()
    assert healthy.times == [float(t) for t in range(1000, 1050, 5)]


def test_cron_across_spring_forward(running, make_clock):
    """Cron('30 2 * * *', Europe/Berlin): on the day 02:30 does not exist it runs at 03:00 CEST."""
    clock = make_clock(wall=datetime.datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN).timestamp())
    inlet = ClockInlet(clock)
    running(SchedulePlanner(Link(inlet, Sink(), schedule=Cron("30 2 * * *", tz="Europe/Berlin"),
                                 immediate_transfer=False), clock=clock))
    clock.advance_to(clock.now() + 3 * 86400)
    local = [datetime.datetime.fromtimestamp(wall, BERLIN).isoformat() for wall in inlet.walls]
    assert local == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
                     "2026-03-31T02:30:00+02:00"]


def test_cron_across_fall_back_runs_a_repeated_time_once(running, make_clock):
    """Cron('*/30 2 * * *'): in the hour that happens twice, each time runs once (the first)."""
    clock = make_clock(wall=datetime.datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN).timestamp())
    inlet = ClockInlet(clock)
    running(SchedulePlanner(Link(inlet, Sink(), schedule=Cron("*/30 2 * * *", tz="Europe/Berlin"),
                                 immediate_transfer=False), clock=clock))
    clock.advance_to(clock.now() + 2 * 86400)
    local = [datetime.datetime.fromtimestamp(wall, BERLIN).isoformat() for wall in inlet.walls]
    assert local == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
                     "2026-10-26T02:00:00+01:00", "2026-10-26T02:30:00+01:00"]


def test_aligned_grid_sits_on_wall_clock_multiples(running, make_clock):
    """Every(10, align=True, offset=2): slots at wall times ending in 2 whatever the start time."""
    clock = make_clock(wall=1_800_000_003.7)
    inlet = ClockInlet(clock)
    running(SchedulePlanner(Link(inlet, Sink(), schedule=Every(10, align=True, offset=2),
                                 immediate_transfer=False), clock=clock))
    clock.advance_to(clock.now() + 60)
    assert [round(wall, 6) for wall in inlet.walls] == [1_800_000_012.0 + 10 * k for k in range(6)]


def test_an_aligned_link_started_on_its_grid_runs_once_at_the_start(running, make_clock):
    """Started on a wall-clock multiple of a float-rounded interval (60.00000000000001): the slot
    that rounding puts 0.3 µs after the start is the start's own, so the link runs once then."""
    clock = make_clock(wall=1_901_403_000.0)  # a whole minute (31,690,050 of them since 1970)
    inlet = ClockInlet(clock)
    running(SchedulePlanner(Link(inlet, Sink(), schedule=Every(60.00000000000001, align=True)),
                            clock=clock))
    clock.advance_to(clock.now() + 150)
    assert [round(wall - 1_901_403_000.0, 3) for wall in inlet.walls] == [0.0, 60.0, 120.0]


def test_a_restarted_aligned_planner_resumes_the_same_grid(running, make_clock):
    """Two planners started at different times put an aligned link on the same wall grid."""
    walls = []
    for start in (1_800_000_001.25, 1_800_000_047.5):
        clock = make_clock(wall=start)
        inlet = ClockInlet(clock)
        planner = SchedulePlanner(Link(inlet, Sink(), schedule=Every(15, align=True),
                                       immediate_transfer=False), clock=clock)
        thread = running(planner)
        clock.advance_to(clock.now() + 40)
        planner.shutdown()
        thread.join(10)
        walls.append([round(wall, 6) % 15 for wall in inlet.walls])
    assert walls[0] and walls[1] and set(walls[0]) == set(walls[1]) == {0.0}


def test_jitter_is_within_bounds_and_stable_per_link(step_clock, running):
    """Every(10, jitter=4): each link's slots shift by one fixed amount in [0, 4), different
    between links, the same for the same tags in another planner."""
    inlets = [ClockInlet(step_clock) for _ in range(20)]
    links = [Link(inlet, Sink(), schedule=Every(10, jitter=4), tags="link-%d" % n,
                  immediate_transfer=False) for n, inlet in enumerate(inlets)]
    running(SchedulePlanner(links, clock=step_clock))
    step_clock.advance_to(1100)
    shifts = []
    for inlet in inlets:
        offsets = {round((t - 1000.0) % 10, 9) for t in inlet.times}
        assert len(offsets) == 1 and len(inlet.times) >= 9
        shift = offsets.pop()
        assert 0 <= shift < 4
        shifts.append(shift)
    assert len(set(shifts)) > 10, "jitter should spread links"
    again = Every(10, jitter=4).bind(0.0, step_clock, "link-3").next_due(0.0)
    assert round(again % 10, 9) == shifts[3]


def test_a_node_shared_by_two_planners_stops_with_the_last(step_clock):
    """One outlet used by links in two planners: started once, shut down once, when both stopped."""
    shared = Sink()
    first = SchedulePlanner(Link(ClockInlet(step_clock), shared, 10), clock=step_clock)
    second = SchedulePlanner(Link(ClockInlet(step_clock), shared, 10), clock=step_clock)
    threads = [threading.Thread(target=p.start, daemon=True) for p in (first, second)]
    for thread in threads:
        thread.start()
    for _ in range(1000):
        if first.running and second.running:
            break
        threading.Event().wait(0.01)
    assert shared.starts == 1
    first.shutdown()
    assert shared.shutdowns == 0 and shared.active
    second.shutdown()
    assert (shared.starts, shared.shutdowns) == (1, 1) and not shared.active
    for thread in threads:
        thread.join(10)


def test_every_link_due_at_once_runs_none_is_skipped_as_busy(step_clock, running):
    """A planner's links start on one shared 'never claimed' gate entry; claiming one link's
    transfer must give that link its own entry and leave the others idle, so all of them run
    (bug: writing the claim into the shared entry makes every other link look busy)."""
    inlets = [ClockInlet(step_clock) for _ in range(5)]
    links = [Link(inlet, Sink(), 10) for inlet in inlets]
    running(SchedulePlanner(links, clock=step_clock))
    step_clock.advance_to(1025)
    assert [inlet.times for inlet in inlets] == [[1000.0, 1010.0, 1020.0]] * 5
    assert [link.stats()["transfers"]["skipped"] for link in links] == [0] * 5


def test_due_times_and_timelines_read_none_while_stopped(step_clock):
    """``link.job.due``/``.timeline`` are set while the planner runs and read None once it
    stopped, for every link (also one added while stopped); a restart sets them again.

    Catches: stopping without ending the run the jobs belong to (stopping does not clear
    each job: the jobs read their run's state).
    """
    links = [Link(ClockInlet(step_clock), Sink(), 10) for _ in range(3)]
    planner = SchedulePlanner(links, clock=step_clock)
    for _ in range(2):  # the same planner, started twice
        thread = threading.Thread(target=planner.start, daemon=True)
        thread.start()
        step_clock.advance_to(step_clock.now() + 5)
        anchor = step_clock.now() - 5
        assert [link.job.due for link in links] == [anchor + 10] * len(links)
        assert all(link.job.timeline is not None for link in links)
        planner.shutdown(timeout=10)
        thread.join(10)
        assert not thread.is_alive()
        assert [(link.job.due, link.job.timeline) for link in links] == [(None, None)] * len(links)
        assert links[0].stats()["next_due_at"] is None
        added = Link(ClockInlet(step_clock), Sink(), 10)
        planner.add_links(added)
        assert (added.job.due, added.job.timeline) == (None, None)
        links.append(added)
        step_clock.set(step_clock.now() + 100)
