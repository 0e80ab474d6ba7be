"""Per node: calls, failures and time spent, exactly (node calls are timed on a scripted clock)."""

import asyncio
import threading

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner


class ScriptedClock:
    """Stands in for ``time.perf_counter`` in databay._stats: moves only when a node says so.

    Each thread has its own reading: a link calls two or more outlets (or inlets) on threads
    of their own, and a node's time must not include another node's advance that happened
    to run between its two readings.
    """

    def __init__(self):
        self._local = threading.local()

    @property
    def value(self):
        return getattr(self._local, "value", 100.0)

    @value.setter
    def value(self, value):
        self._local.value = value

    def __call__(self):
        return self.value


@pytest.fixture
def clock(monkeypatch):
    import databay._stats as stats_module

    fake = ScriptedClock()
    monkeypatch.setattr(stats_module, "perf_counter", fake)
    return fake


class SlowInlet(Inlet):
    """Each pull takes ``seconds`` on the scripted clock; raises while ``failing``."""

    def __init__(self, clock, seconds, label="in"):
        super().__init__()
        self.clock, self.seconds, self.label, self.failing = clock, seconds, label, False

    def pull(self, update):
        self.clock.value += self.seconds
        if self.failing:
            raise ConnectionError("source %s down" % self.label)
        return [1, 2]

    def __repr__(self):
        return "SlowInlet(%s)" % self.label


class SlowOutlet(Outlet):
    def __init__(self, clock, seconds, label="out"):
        super().__init__()
        self.clock, self.seconds, self.label, self.failing = clock, seconds, label, False

    def push(self, records, update):
        self.clock.value += self.seconds
        if self.failing:
            raise ValueError("sink %s refused" % self.label)

    def __repr__(self):
        return "SlowOutlet(%s)" % self.label


class AsyncSlowInlet(SlowInlet):
    async def pull(self, update):
        await asyncio.sleep(0)
        self.clock.value += self.seconds
        await asyncio.sleep(0)
        return [1, 2]


class AsyncSlowOutlet(SlowOutlet):
    async def push(self, records, update):
        await asyncio.sleep(0)
        self.clock.value += self.seconds


def _nodes(link):
    return {node["name"]: node for node in link.stats()["nodes"]}


def _run(link, times, direct=0):
    """``times`` planner-run transfers (force_transfer) and ``direct`` link.transfer() calls."""
    planner = SchedulePlanner(link, immediate_transfer=False, ignore_exceptions=True)
    with planner:
        for _ in range(times):
            planner.force_transfer()
    for _ in range(direct):
        link.transfer()


def test_plain_link_times_its_inlet_and_outlet_calls_under_a_planner(clock):
    """One sync inlet, one sync outlet (the plain transfer path): exact seconds per node."""
    link = Link(SlowInlet(clock, 0.25), SlowOutlet(clock, 0.5), interval=3600)
    _run(link, 3, direct=2)
    nodes = _nodes(link)
    assert nodes["SlowInlet(in)"]["calls"] == 5 and nodes["SlowOutlet(out)"]["calls"] == 5
    assert (nodes["SlowInlet(in)"]["timed_calls"], nodes["SlowInlet(in)"]["time_spent_seconds"]) == (3, 0.75)
    assert (nodes["SlowOutlet(out)"]["timed_calls"], nodes["SlowOutlet(out)"]["time_spent_seconds"]) == (3, 1.5)
    assert link.stats()["duration_seconds"]["sum"] == 2.25  # the transfers: 3 x (0.25 + 0.5)


def test_pipeline_link_times_every_node_and_failing_calls_too(clock):
    """Two inlets, two outlets and a processor (the generator pipeline): each node its own time."""
    fast, slow = SlowInlet(clock, 0.125, "fast"), SlowInlet(clock, 1.0, "slow")
    first, second = SlowOutlet(clock, 0.25, "a"), SlowOutlet(clock, 2.0, "b")
    link = Link([fast, slow], [first, second], interval=3600, processors=[lambda records: records],
                inlet_concurrency=1)
    second.failing = True
    planner = SchedulePlanner(link, immediate_transfer=False, ignore_exceptions=True)
    with planner:
        planner.force_transfer()
        planner.force_transfer()
        slow.failing = True
        planner.force_transfer()
    with pytest.raises(ConnectionError):
        link.transfer()  # counted, not timed
    nodes = _nodes(link)
    assert {name: (node["calls"], node["failures"], node["timed_calls"], node["time_spent_seconds"])
            for name, node in nodes.items()} == {
        "SlowInlet(fast)": (4, 0, 3, 0.375),
        "SlowInlet(slow)": (4, 2, 3, 3.0),
        "SlowOutlet(a)": (4, 0, 3, 0.75),
        "SlowOutlet(b)": (4, 4, 3, 6.0),
    }


def test_async_nodes_are_timed_across_their_awaits(clock):
    """``async def`` pull and push: the time between call and result, awaits included."""
    link = Link(AsyncSlowInlet(clock, 0.5), AsyncSlowOutlet(clock, 0.75), interval=3600)
    _run(link, 2)
    nodes = _nodes(link)
    assert (nodes["SlowInlet(in)"]["timed_calls"], nodes["SlowInlet(in)"]["time_spent_seconds"]) == (2, 1.0)
    assert (nodes["SlowOutlet(out)"]["timed_calls"], nodes["SlowOutlet(out)"]["time_spent_seconds"]) == (2, 1.5)


def test_direct_transfers_are_counted_but_never_timed(clock):
    """link.transfer() outside a planner reads no clock: calls count, time stays 0."""
    link = Link(SlowInlet(clock, 0.25), SlowOutlet(clock, 0.5), interval=3600)
    for _ in range(3):
        link.transfer()
    for node in link.stats()["nodes"]:
        assert (node["calls"], node["timed_calls"], node["time_spent_seconds"]) == (3, 0, 0.0)


def test_node_entries_have_the_documented_keys(clock):
    link = Link(SlowInlet(clock, 0.25), SlowOutlet(clock, 0.5), interval=3600)
    inlet, outlet = link.stats()["nodes"]
    assert set(inlet) == {"name", "role", "calls", "failures", "time_spent_seconds", "timed_calls"}
    assert set(outlet) == set(inlet) | {"records_delivered", "records_pending", "oldest_pending_age_seconds"}
