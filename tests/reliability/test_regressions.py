"""Regression tests for defects the reliability suite found."""

import threading

import pytest

from databay import Inlet, Link
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer


def test_flush_passes_link_buffer_release_through_an_empty_outlet_buffer(counting_inlet,
                                                                           counting_outlet):
    """Link.flush() delivers what a link Buffer releases even when the outlet's own Buffer was empty."""
    inlet = counting_inlet(per_pull=2)
    outlet = counting_outlet(processors=[Buffer(count_threshold=1000)])
    link = Link(inlet, outlet, 1, processors=[Buffer(count_threshold=1000)])
    for _ in range(3):
        link.transfer()
    assert outlet.delivered == []
    assert link.flush()
    assert sorted(outlet.delivered) == sorted(inlet.produced)
    assert not link.flush()  # nothing held any more


def test_flush_empties_chained_link_buffers(counting_inlet, counting_outlet):
    """Two Buffers in a row among link processors both release on flush: nothing stays behind."""
    inlet = counting_inlet()
    second = Buffer(count_threshold=1000)
    outlet = counting_outlet()
    link = Link(inlet, outlet, 1, processors=[Buffer(count_threshold=1000), second])
    link.transfer()
    link.flush()
    assert outlet.delivered == inlet.produced
    assert second.records == [] and second.flush is False


@pytest.mark.timeout(60)
def test_planner_shutdown_flushes_link_and_outlet_buffers(counting_inlet, counting_outlet,
                                                          run_in_thread, waiter):
    """A planner shutting down delivers records held by a link Buffer and an outlet Buffer."""
    inlet = counting_inlet(per_pull=2)
    outlet = counting_outlet(processors=[Buffer(count_threshold=1000)])
    planner = SchedulePlanner(Link(inlet, outlet, 0.01, processors=[Buffer(count_threshold=1000)]))
    runner = run_in_thread(planner)
    assert waiter(lambda: len(inlet.produced) >= 10, 30)
    runner.stop()
    assert sorted(outlet.delivered) == sorted(inlet.produced)


@pytest.mark.timeout(60)
def test_transfer_queued_before_remove_links_never_runs(counting_outlet, run_in_thread):
    """A transfer already queued for a link that remove_links() then retires is dropped, not run on stopped nodes."""
    release = threading.Event()
    hanging = threading.Event()

    class Hang(Inlet):
        def pull(self, update):
            hanging.set()
            assert release.wait(30)
            return []

    class Probe(Inlet):
        def __init__(self):
            super().__init__()
            self.pulled_when_inactive = []
            self.pulled = threading.Event()

        def pull(self, update):
            self.pulled_when_inactive.append(not self.active)
            self.pulled.set()

    class Marker(Inlet):
        def __init__(self):
            super().__init__()
            self.pulled = threading.Event()

        def pull(self, update):
            self.pulled.set()

    probe, marker = Probe(), Marker()
    blocker = Link(Hang(), counting_outlet(), 3600)
    removed = Link(probe, counting_outlet(), 3600)
    after = Link(marker, counting_outlet(), 3600)
    # one worker: the probe's transfer queues behind the hanging one, the marker's behind it
    planner = SchedulePlanner([blocker, removed, after], threads=1)
    runner = run_in_thread(planner)
    assert hanging.wait(30)
    planner.remove_links(removed)  # its slot-0 transfer waits behind the hanging one
    assert not probe.active
    release.set()
    assert marker.pulled.wait(30)  # the queue was worked through past the probe's transfer
    runner.stop()
    assert probe.pulled_when_inactive == []


@pytest.mark.timeout(60)
def test_link_added_while_shutdown_runs_has_its_nodes_shut_down(counting_outlet, run_in_thread,
                                                                 waiter):
    """A link whose add_links() is starting its nodes when shutdown() begins is shut down too."""
    entered, gate = threading.Event(), threading.Event()

    class SlowStart(Inlet):
        def __init__(self):
            super().__init__()
            self.shutdowns = 0

        def pull(self, update):
            return []

        def on_start(self):
            entered.set()
            assert gate.wait(30)

        def on_shutdown(self):
            self.shutdowns += 1

    planner = SchedulePlanner(Link(SlowStart(), counting_outlet(), 3600), immediate_transfer=False)
    gate.set()
    runner = run_in_thread(planner)
    assert waiter(lambda: planner.running, 30)
    entered.clear()
    gate.clear()
    late = SlowStart()
    adder = threading.Thread(target=planner.add_links, args=(Link(late, counting_outlet(), 3600),))
    adder.start()
    assert entered.wait(30)
    stopper = threading.Thread(target=planner.shutdown, kwargs={"wait": True})
    stopper.start()
    assert waiter(lambda: not planner.running, 30)
    gate.set()
    adder.join(30)
    stopper.join(30)
    assert runner.returned.wait(30)
    assert not adder.is_alive() and not stopper.is_alive()
    assert late.shutdowns == 1 and not late.active
