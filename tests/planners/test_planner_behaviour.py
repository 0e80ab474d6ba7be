"""Behaviour every planner shares (run against SchedulePlanner and ApsPlanner)."""

import logging
import threading
import time

import pytest

from databay import Inlet, Link, Outlet
from databay.errors import MissingLinkError, PlannerStateError


def test_start_blocks_until_shutdown_from_another_thread(planner_class, stamp_inlet, list_outlet,
                                                          run_in_thread):
    """start() blocks; shutdown() from another thread makes it return promptly, nodes shut once."""
    inlet, outlet = stamp_inlet(target=3), list_outlet()
    planner = planner_class(Link(inlet, outlet, 0.05))
    runner = run_in_thread(planner)
    assert inlet.reached.wait(10)
    assert not runner.returned.is_set()
    began = time.monotonic()
    runner.stop()
    assert time.monotonic() - began < 2.0
    assert (inlet.starts, inlet.shutdowns, outlet.starts, outlet.shutdowns) == (1, 1, 1, 1)
    assert runner.error is None
    count = len(inlet.times)
    time.sleep(0.2)
    assert len(inlet.times) == count, "a transfer ran after shutdown() returned"


def test_no_overlapping_transfers_of_one_link(planner_class, stamp_inlet, list_outlet, run_in_thread):
    """A transfer lasting three intervals causes skips, never two concurrent runs of one link."""
    inlet = stamp_inlet(target=3, delay=0.15)
    planner = planner_class(Link(inlet, list_outlet(), 0.05), ignore_exceptions=True)
    runner = run_in_thread(planner)
    assert inlet.reached.wait(15)
    runner.stop()
    assert inlet.max_concurrent == 1
    gaps = [b - a for a, b in zip(inlet.times, inlet.times[1:])]
    assert all(gap >= 0.14 for gap in gaps), gaps


@pytest.mark.parametrize("planner_flag,link_flag,expected", [
    (True, True, True), (True, False, False), (False, True, False)])
def test_immediate_transfer_flags(planner_class, stamp_inlet, list_outlet, run_in_thread,
                                  planner_flag, link_flag, expected):
    """The first transfer runs at start only when both planner and link ask for it."""
    inlet = stamp_inlet()
    planner = planner_class(Link(inlet, list_outlet(), 3600, immediate_transfer=link_flag),
                            immediate_transfer=planner_flag)
    runner = run_in_thread(planner)
    assert inlet.reached.wait(5 if expected else 0.5) is expected
    runner.stop()


def test_failing_transfer_stops_planner_and_start_raises_it(planner_class, stamp_inlet, list_outlet,
                                                             caplog):
    """ignore_exceptions=False: a transfer error is logged with the link, nodes shut down, start() raises it."""
    inlet, outlet = stamp_inlet(fail_on={2}), list_outlet()
    link = Link(inlet, outlet, 0.05, tags="failing")
    planner = planner_class(link)
    with caplog.at_level(logging.ERROR, logger="databay"):
        with pytest.raises(ValueError, match="pull 2 failed on purpose"):
            planner.start()
    assert "failing" in caplog.text
    assert (inlet.shutdowns, outlet.shutdowns) == (1, 1)
    assert not planner.running


def test_ignore_exceptions_keeps_scheduling(planner_class, stamp_inlet, list_outlet, run_in_thread,
                                            caplog):
    """ignore_exceptions=True: failures are logged and later transfers still happen."""
    inlet = stamp_inlet(target=4, fail_on={1, 2})
    planner = planner_class(Link(inlet, list_outlet(), 0.05), ignore_exceptions=True)
    with caplog.at_level(logging.ERROR, logger="databay"):
        runner = run_in_thread(planner)
        assert inlet.reached.wait(10)
        runner.stop()
    assert runner.error is None
    assert caplog.text.count("failed on purpose") >= 2


def test_failing_on_start_stops_started_nodes_and_raises(planner_class, stamp_inlet, list_outlet):
    """A failing on_start: start() shuts down the nodes that started and raises that error."""

    class BrokenOutlet(Outlet):
        def push(self, records, update):
            pass

        def on_start(self):
            raise OSError("cannot open")

    good_inlet, good_outlet = stamp_inlet(), list_outlet()
    planner = planner_class([Link(good_inlet, good_outlet, 1), Link(stamp_inlet(), BrokenOutlet(), 1)])
    with pytest.raises(OSError, match="cannot open"):
        planner.start()
    assert (good_inlet.starts, good_inlet.shutdowns) == (1, 1)
    assert (good_outlet.starts, good_outlet.shutdowns) == (1, 1)
    assert good_inlet.times == [], "no transfer may run when start-up failed"
    assert not planner.running


def test_failing_immediate_transfer_raises_from_start(planner_class, stamp_inlet, list_outlet):
    """With ignore_exceptions=False a failing immediate transfer stops the planner and start() raises."""
    inlet, outlet = stamp_inlet(fail_on={1}), list_outlet()
    planner = planner_class(Link(inlet, outlet, 3600))
    with pytest.raises(ValueError):
        planner.start()
    assert (inlet.shutdowns, outlet.shutdowns) == (1, 1)


def test_shutdown_is_idempotent_and_a_noop_before_start(planner_class, stamp_inlet, list_outlet,
                                                        run_in_thread):
    """shutdown() before start() does nothing; repeated shutdown() calls are harmless."""
    inlet = stamp_inlet()
    planner = planner_class(Link(inlet, list_outlet(), 0.05))
    planner.shutdown()
    planner.shutdown(wait=False)
    assert inlet.shutdowns == 0
    runner = run_in_thread(planner)
    assert inlet.reached.wait(5)
    runner.stop()
    planner.shutdown()
    planner.shutdown(wait=False)
    assert inlet.shutdowns == 1


def test_planner_restarts_with_its_links(planner_class, stamp_inlet, list_outlet, run_in_thread):
    """A planner can be started again after shutdown() with the links it holds."""
    inlet = stamp_inlet(target=1)
    planner = planner_class(Link(inlet, list_outlet(), 0.05))
    run_in_thread(planner)
    assert inlet.reached.wait(5)
    planner.shutdown()
    inlet.reached.clear()
    inlet.target = len(inlet.times) + 2
    runner = run_in_thread(planner)
    assert inlet.reached.wait(5)
    runner.stop()
    assert (inlet.starts, inlet.shutdowns) == (2, 2)


def test_start_on_running_planner_is_refused_and_planner_keeps_working(
        planner_class, stamp_inlet, list_outlet, run_in_thread):
    """start() on a running planner raises PlannerStateError; the planner keeps transferring."""
    inlet = stamp_inlet(target=2)
    planner = planner_class(Link(inlet, list_outlet(), 0.05))
    runner = run_in_thread(planner)
    assert inlet.reached.wait(5)
    with pytest.raises(PlannerStateError, match="call shutdown"):
        planner.start()
    inlet.reached.clear()
    inlet.target = len(inlet.times) + 2
    assert inlet.reached.wait(5)
    runner.stop()


def test_bad_links_arguments(planner_class, stamp_inlet, list_outlet, run_in_thread):
    """Non-links, duplicates and unknown links are clear errors; the running planner is unaffected."""
    link = Link(stamp_inlet(target=3), list_outlet(), 0.05)
    planner = planner_class(link)
    runner = run_in_thread(planner)
    with pytest.raises(TypeError, match="not an instance of Link"):
        planner.add_links("not a link")
    with pytest.raises(ValueError, match="already added"):
        planner.add_links(link)
    stranger = Link(stamp_inlet(), list_outlet(), 1)
    with pytest.raises(MissingLinkError, match="does not contain"):
        planner.remove_links(stranger)
    assert planner.links == [link]
    assert link.inlets[0].reached.wait(5)
    runner.stop()
    assert runner.error is None


def test_threads_must_be_positive(planner_class):
    """threads < 1 is a ValueError naming the parameter."""
    with pytest.raises(ValueError, match="threads=0"):
        planner_class(threads=0)


def test_added_link_is_started_before_its_first_transfer(planner_class, stamp_inlet, list_outlet,
                                                         run_in_thread):
    """A link added while running gets on_start before its first transfer."""
    planner = planner_class(Link(stamp_inlet(), list_outlet(), 3600))
    runner = run_in_thread(planner)
    deadline = time.monotonic() + 5
    while not planner.running and time.monotonic() < deadline:
        time.sleep(0.01)
    started_before_pull = []

    class CheckingInlet(Inlet):
        def pull(self, update):
            started_before_pull.append(self.active)
            return 1

    inlet = CheckingInlet()
    planner.add_links(Link(inlet, list_outlet(), 0.05))
    deadline = time.monotonic() + 5
    while not started_before_pull and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop()
    assert started_before_pull and all(started_before_pull)
    assert not inlet.active


def test_removed_link_shuts_down_only_unshared_nodes(planner_class, stamp_inlet, list_outlet,
                                                     run_in_thread):
    """remove_links shuts down the nodes no remaining link uses; shared ones keep running."""
    shared, own = list_outlet(), stamp_inlet(target=1)
    keep_link = Link(stamp_inlet(), shared, 3600)
    gone_link = Link(own, shared, 0.05)
    planner = planner_class([keep_link, gone_link])
    runner = run_in_thread(planner)
    assert own.reached.wait(5)
    planner.remove_links(gone_link)
    assert own.shutdowns == 1 and not own.active
    assert shared.active and shared.shutdowns == 0
    count = len(own.times)
    time.sleep(0.2)
    assert len(own.times) == count
    runner.stop()
    assert shared.shutdowns == 1


def test_purge_removes_everything(planner_class, stamp_inlet, list_outlet, run_in_thread):
    """purge() unschedules and shuts down every link while running."""
    inlet = stamp_inlet()
    planner = planner_class(Link(inlet, list_outlet(), 0.05))
    runner = run_in_thread(planner)
    assert inlet.reached.wait(5)
    planner.purge()
    assert planner.links == [] and inlet.shutdowns == 1
    runner.stop()


def test_shutdown_from_inside_a_transfer(planner_class, list_outlet, run_in_thread):
    """shutdown() called by an outlet during a transfer ends the planner without deadlock."""
    holder = {}

    class StoppingOutlet(Outlet):
        def push(self, records, update):
            if update.transfer_number == 2:
                holder["planner"].shutdown(wait=True)

    inlet_outlet = list_outlet()
    planner = planner_class(Link(StoppingOutlet_inlet(), [StoppingOutlet(), inlet_outlet], 0.02))
    holder["planner"] = planner
    runner = run_in_thread(planner)
    assert runner.returned.wait(10), "start() did not return after shutdown from a transfer"
    assert runner.error is None
    assert inlet_outlet.shutdowns == 1


class StoppingOutlet_inlet(Inlet):
    def pull(self, update):
        return update.transfer_number


def test_with_statement_runs_in_background(planner_class, stamp_inlet, list_outlet):
    """`with planner:` runs it in the background and shuts it down (waiting) on exit, leaving no threads."""
    before = set(threading.enumerate())
    inlet, outlet = stamp_inlet(target=2), list_outlet()
    with planner_class(Link(inlet, outlet, 0.05)) as planner:
        assert planner.running
        assert inlet.reached.wait(5)
    assert not planner.running
    assert outlet.shutdowns == 1
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


def test_force_transfer_runs_every_link_now(planner_class, stamp_inlet, list_outlet):
    """force_transfer() runs each link once in the calling thread, even when not started."""
    inlets = [stamp_inlet(), stamp_inlet()]
    planner = planner_class([Link(inlet, list_outlet(), 3600) for inlet in inlets])
    planner.force_transfer()
    assert [len(inlet.times) for inlet in inlets] == [1, 1]


def test_buffered_records_are_flushed_at_shutdown(planner_class, list_outlet, run_in_thread):
    """Records held by a Buffer-like processor are delivered at shutdown, before on_shutdown."""

    class Holding:
        """Holds everything until flush is set (the Buffer protocol)."""

        databay_flushable = True

        def __init__(self):
            self.records, self.flush = [], False

        def __call__(self, records):
            self.records.extend(records)
            if not self.flush:
                return []
            released, self.records, self.flush = self.records, [], False
            return released

    produced = []

    class Counting(Inlet):
        def pull(self, update):
            produced.append(update.transfer_number)
            return update.transfer_number

    outlet = list_outlet()
    planner = planner_class(Link(Counting(), outlet, 0.02, processors=[Holding()]))
    runner = run_in_thread(planner)
    deadline = time.monotonic() + 5
    while len(produced) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.stop()
    assert len(produced) >= 3
    assert [record.payload for record in outlet.records] == produced


def test_with_statement_raises_a_start_up_failure_on_entry(planner_class, stamp_inlet):
    """`with planner:` raises at once when start-up fails (a failing on_start), not at exit."""

    class Broken(Outlet):
        def push(self, records, update):
            pass

        def on_start(self):
            raise OSError("no disk")

    inlet = stamp_inlet()
    entered = []
    with pytest.raises(OSError, match="no disk"):
        with planner_class(Link(inlet, Broken(), 1)):
            entered.append(True)
    assert entered == [] and inlet.shutdowns == 1
