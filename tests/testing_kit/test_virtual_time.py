"""databay's own SchedulePlanner on the VirtualClock: hours of schedule, exactly, in little real time."""

import asyncio
import datetime
import re
import threading
import time
from pathlib import Path

import pytest

from databay import Cron, Every, Inlet, Link, Outlet
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer
from databay_testing import CaptureOutlet, ClockStalled, VirtualClock, running_planner, virtual_planner

UTC = datetime.timezone.utc


class Ticks(Inlet):
    """Returns the transfer number."""

    def pull(self, update):
        return update.transfer_number


class AsyncTicks(Inlet):
    """An async def pull that really awaits."""

    async def pull(self, update):
        await asyncio.sleep(0)
        return update.transfer_number


class AsyncCapture(CaptureOutlet):
    async def push(self, records, update):
        await asyncio.sleep(0)
        CaptureOutlet.push(self, records, update)


def test_two_hours_of_a_1s_link_and_a_5_minute_cron_link(capsys):
    """2 h of virtual time: 7,201 + 25 transfers, each at its due time, without real waiting.

    Wall and CPU time are printed (CI shows them with -s); how fast it is belongs
    to the benchmarks (about 1.1 s of CPU on a quiet machine, 2.2 s was seen with
    two CPU hogs on the 2 cores). The bounds here only catch a clock that sleeps
    or spins: 2 h of real waiting, or minutes of CPU.
    """
    clock = VirtualClock()
    start = clock.wall()
    fast, cron = CaptureOutlet(clock=clock), CaptureOutlet(clock=clock)
    links = [Link(Ticks(), fast, interval=1, tags="fast"),
             Link(Ticks(), cron, schedule=Cron("*/5 * * * *"), tags="cron")]
    began, cpu = time.perf_counter(), time.process_time()
    with virtual_planner(links, clock=clock):
        clock.advance(2 * 3600)
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    with capsys.disabled():
        print("\n2 h of virtual time: %.2f s wall, %.2f s CPU" % (elapsed, cpu))
    assert [push.wall - start for push in fast.pushes] == [float(k) for k in range(7201)]
    assert [push.records[0].payload for push in fast.pushes] == list(range(7201))
    assert [push.wall - start for push in cron.pushes] == [300.0 * k for k in range(25)]
    assert [str(update) for update in cron.updates][:3] == ["cron.0", "cron.1", "cron.2"]
    assert cpu < 30, "2 h of virtual time took %.2f s of CPU (%.2f s wall)" % (cpu, elapsed)
    assert elapsed < 60, elapsed  # generous: the machine is shared; see the printed time


def test_the_planner_fixture_runs_links_added_by_the_test(planner, virtual_clock, capture_outlet):
    """The plugin's planner fixture: a link added now runs one interval later, then every interval."""
    planner.add_links(Link(Ticks(), capture_outlet, interval=10))
    virtual_clock.advance(60)
    assert [push.now - virtual_clock.now() for push in capture_outlet.pushes] == [-50, -40, -30, -20, -10, 0]


def test_async_nodes_run_in_virtual_time(planner, virtual_clock):
    """async def pulls and pushes run on the virtual clock like plain ones."""
    outlet = AsyncCapture(clock=virtual_clock)
    planner.add_links(Link(AsyncTicks(), outlet, interval=2.5))
    virtual_clock.advance(10)
    assert [push.now - virtual_clock.now() for push in outlet.pushes] == [-7.5, -5.0, -2.5, 0.0]
    assert outlet.payloads == [0, 1, 2, 3]


def test_run_until_stops_at_the_instant_the_condition_holds(planner, virtual_clock, capture_outlet):
    """run_until advances due time by due time and stops as soon as the predicate holds."""
    planner.add_links(Link(Ticks(), capture_outlet, interval=7))
    start = virtual_clock.now()
    assert virtual_clock.run_until(lambda: len(capture_outlet.records) == 3, timeout=3600) == start + 21
    with pytest.raises(ClockStalled, match="still false after 10 virtual seconds"):
        virtual_clock.run_until(lambda: False, timeout=10)


def test_a_buffer_on_the_virtual_clock_releases_by_virtual_time(planner, virtual_clock, capture_outlet):
    """Buffer(time_threshold=..., clock=clock.now): records wait for virtual time, not real time."""
    buffer = Buffer(time_threshold=30, clock=virtual_clock.now)
    planner.add_links(Link(Ticks(), capture_outlet, interval=10, processors=[buffer]))
    virtual_clock.advance(39)
    assert capture_outlet.records == []  # 3 records held since t=10; 29 virtual seconds so far
    virtual_clock.advance(1)
    assert capture_outlet.payloads == [0, 1, 2, 3]


def test_cron_in_a_time_zone_follows_daylight_saving():
    """Cron('30 2 * * *', tz='Europe/Berlin') over the spring change: 02:30 does not exist that day."""
    clock = VirtualClock(start=datetime.datetime(2030, 3, 30, 12, tzinfo=UTC))
    outlet = CaptureOutlet(clock=clock)
    link = Link(Ticks(), outlet, schedule=Cron("30 2 * * *", tz="Europe/Berlin"), immediate_transfer=False)
    with virtual_planner(link, clock=clock):
        clock.advance_to(datetime.datetime(2030, 4, 2, tzinfo=UTC))
    berlin = [datetime.datetime.fromtimestamp(push.wall, UTC).isoformat() for push in outlet.pushes]
    # 31 March: 02:00 jumps to 03:00 local (01:00 UTC); the skipped 02:30 runs at 03:00 local.
    assert berlin == ["2030-03-31T01:00:00+00:00", "2030-04-01T00:30:00+00:00"]


def test_a_transfer_that_hangs_makes_advance_raise_not_hang():
    """A pull that blocks for good: advance raises ClockStalled after the guard, naming the cause."""
    clock = VirtualClock(guard=0.5)
    gate = threading.Event()

    class Stuck(Inlet):
        def pull(self, update):
            gate.wait(30)
            return 1

    with virtual_planner(Link(Stuck(), CaptureOutlet(), interval=5), clock=clock,
                         immediate_transfer=False):
        with pytest.raises(ClockStalled, match=r"1 transfer\(s\) held"):
            clock.advance(10)
        gate.set()


def test_running_planner_reraises_what_stopped_a_virtual_planner():
    """With ignore_exceptions=False, a failing transfer stops the planner; leaving the block raises it."""
    class Broken(Outlet):
        def push(self, records, update):
            raise ConnectionError("the sink is down")

    clock = VirtualClock()
    with pytest.raises(ConnectionError, match="the sink is down"):
        with virtual_planner(Link(Ticks(), Broken(), interval=1), clock=clock,
                             immediate_transfer=False):
            clock.advance(1)


def test_the_readme_example_runs():
    """The README's virtual-time block runs as written."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "VirtualClock()" in b)
    exec(compile(block, "README.md", "exec"), {})


def test_the_docs_pipeline_example_runs():
    """docs/testing.md's two-hours example is a passing test as written."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", docs, re.S) if "def test_two_hours" in b)
    namespace = {}
    exec(compile(block, "docs/testing.md", "exec"), namespace)
    namespace["test_two_hours_of_schedule"]()


def test_every_with_alignment_lands_on_wall_clock_multiples():
    """Every(10, align=True, offset=3) started at 00:01:07 runs at :13, :23, ... after the immediate run."""
    clock = VirtualClock(start=datetime.datetime(2030, 1, 1, 0, 1, 7, tzinfo=UTC))
    outlet = CaptureOutlet(clock=clock)
    planner = SchedulePlanner(Link(Ticks(), outlet, schedule=Every(10, align=True, offset=3)), clock=clock)
    with running_planner(planner, clock):
        clock.advance(30)
    seconds = [datetime.datetime.fromtimestamp(push.wall, UTC).strftime("%M:%S") for push in outlet.pushes]
    assert seconds == ["01:07", "01:13", "01:23", "01:33"]
