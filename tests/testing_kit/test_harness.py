"""The pipeline harness: CaptureOutlet, run_transfers and running_planner, with the plugin's fixtures."""

import threading
import time

import pytest

from databay import Inlet, Link, Record
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer
from databay_testing import CaptureOutlet, run_transfers, running_planner


class CountingInlet(Inlet):
    """Returns the next ``per_pull`` integers; raises FuzzyError when ``fail`` is set."""

    def __init__(self, per_pull=1, fail=None):
        super().__init__()
        self.per_pull = per_pull
        self.fail = fail
        self.count = 0
        self.lifecycle = []

    def on_start(self):
        self.lifecycle.append("start")

    def on_shutdown(self):
        self.lifecycle.append("shutdown")

    def pull(self, update):
        if self.fail is not None:
            raise self.fail
        values = list(range(self.count, self.count + self.per_pull))
        self.count += self.per_pull
        return values


class AsyncCountingInlet(CountingInlet):
    async def pull(self, update):
        return CountingInlet.pull(self, update)


def test_capture_outlet_keeps_records_with_their_updates_and_clock_time(virtual_clock, capture_outlet):
    """Each push is kept with its update and the fixture clock's now()/wall(); views are copies."""
    link = Link(CountingInlet(per_pull=2), capture_outlet, interval=1, tags="cap")
    run_transfers(link, 2)
    assert capture_outlet.payloads == [0, 1, 2, 3]
    assert [str(update) for update in capture_outlet.updates] == ["cap.0", "cap.1"]
    assert [(record.payload, str(update)) for record, update in capture_outlet.captured] == [
        (0, "cap.0"), (1, "cap.0"), (2, "cap.1"), (3, "cap.1")]
    assert {push.now for push in capture_outlet.pushes} == {virtual_clock.now()}
    assert {push.wall for push in capture_outlet.pushes} == {virtual_clock.wall()}
    capture_outlet.records.clear()
    assert len(capture_outlet.records) == 4  # a copy was cleared, not the outlet
    capture_outlet.clear()
    assert capture_outlet.records == [] and capture_outlet.pushes == []


def test_capture_outlet_without_a_clock_records_no_time():
    """Without clock=, pushes carry now=None and wall=None; a clock without now()/wall() is refused."""
    outlet = CaptureOutlet()
    outlet.push([Record(1)], None)
    assert outlet.pushes[0].now is None and outlet.pushes[0].wall is None
    with pytest.raises(TypeError, match="clock=3 must have now\\(\\) and wall\\(\\) methods"):
        CaptureOutlet(clock=3)


def test_wait_for_returns_once_enough_records_arrived_from_another_thread():
    """wait_for blocks until n records arrived (pushed by other threads), then returns them all."""
    outlet = CaptureOutlet()
    pushers = [threading.Thread(target=outlet.push, args=([Record(n)], None)) for n in range(5)]
    for thread in pushers:
        thread.start()
    records = outlet.wait_for(5, timeout=10)
    for thread in pushers:
        thread.join()
    assert sorted(record.payload for record in records) == [0, 1, 2, 3, 4]


def test_wait_for_times_out_saying_how_many_arrived():
    """Too few records: TimeoutError naming the count expected and the count that arrived."""
    outlet = CaptureOutlet()
    outlet.push([Record(1)], None)
    with pytest.raises(TimeoutError, match="waited 0.05s for 3 record\\(s\\), 1 arrived"):
        outlet.wait_for(3, timeout=0.05)
    with pytest.raises(TypeError, match="count='3' must be an int >= 0"):
        outlet.wait_for("3")
    with pytest.raises(ValueError, match="timeout=0 must be a number of seconds > 0"):
        outlet.wait_for(1, timeout=0)


@pytest.mark.parametrize("inlet_class", [CountingInlet, AsyncCountingInlet], ids=["def", "async def"])
def test_run_transfers_starts_transfers_flushes_and_shuts_down(inlet_class, capture_outlet):
    """run_transfers: on_start, n transfers, the Buffer's flush, on_shutdown, for def and async def pulls."""
    inlet = inlet_class()
    link = Link(inlet, capture_outlet, interval=1, processors=[Buffer(count_threshold=10)])
    run_transfers(link, 3)
    assert capture_outlet.payloads == [0, 1, 2]  # held by the Buffer until the flush
    assert inlet.lifecycle == ["start", "shutdown"] and not inlet.active


def test_run_transfers_without_flush_leaves_buffered_records_held(capture_outlet):
    """flush=False: what the Buffer holds stays there."""
    buffer = Buffer(count_threshold=10)
    run_transfers(Link(CountingInlet(), capture_outlet, interval=1, processors=[buffer]), 2, flush=False)
    assert capture_outlet.records == [] and [r.payload for r in buffer.records] == [0, 1]


def test_run_transfers_shuts_down_when_a_transfer_raises(capture_outlet):
    """A failing pull propagates, and the nodes are shut down anyway; bad arguments are refused."""
    inlet = CountingInlet(fail=KeyError("boom"))
    with pytest.raises(KeyError, match="boom"):
        run_transfers(Link(inlet, capture_outlet, interval=1), 2)
    assert inlet.lifecycle == ["start", "shutdown"]
    link = Link(CountingInlet(), capture_outlet, interval=1)
    with pytest.raises(TypeError, match="n=-1 must be an int >= 0"):
        run_transfers(link, -1)
    with pytest.raises(TypeError, match="flush=1 must be True or False"):
        run_transfers(link, 1, flush=1)


def test_running_planner_on_the_real_clock_always_shuts_down(capture_outlet):
    """running_planner starts a planner in a thread and shuts it down even when the block raises."""
    inlet = CountingInlet()
    planner = SchedulePlanner(Link(inlet, capture_outlet, interval=0.01))
    with pytest.raises(RuntimeError, match="the test failed"):
        with running_planner(planner) as started:
            assert started is planner and planner.running
            capture_outlet.wait_for(3, timeout=30)
            raise RuntimeError("the test failed")
    assert not planner.running and inlet.lifecycle == ["start", "shutdown"]


def test_running_planner_reraises_what_stopped_the_planner(capture_outlet):
    """A planner that stopped on an exception (ignore_exceptions=False) makes the block's exit raise it."""
    inlet = CountingInlet(fail=LookupError("the source is gone"))
    planner = SchedulePlanner(Link(inlet, capture_outlet, interval=0.01))
    with pytest.raises(LookupError, match="the source is gone"):
        with running_planner(planner):
            deadline = time.monotonic() + 30
            while planner.running and time.monotonic() < deadline:  # the failing transfer stops it
                time.sleep(0.01)
    assert not planner.running
