"""A planner's shutdown of many plain links whose nodes have no hooks of their own: what it
must still do for nodes shared with others, equal to each other, patched, listened to, behind
Buffers or overrides. Written for a shutdown that batched node releases (taken back: see
docs/design.md "Node lifecycle"); they hold for any faster shutdown tried later."""

import threading
import time
from unittest import mock

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner
from databay.support import Buffer

from .conftest import Runner, run_started


class Plain(Inlet):
    def pull(self, update):
        return 1


class Sink(Outlet):
    def __init__(self, processors=None):
        super().__init__(processors)
        self.records = []

    def push(self, records, update):
        self.records.extend(records)


class Alike(Plain):
    """Nodes equal to each other: the shutdown must still tell them apart."""

    def __eq__(self, other):
        return isinstance(other, Alike)

    def __hash__(self):
        return 1


def planner_of(links):
    return SchedulePlanner(links, immediate_transfer=False, handle_signals=False)


def run_and_stop(planner):
    runner = run_started(planner)
    runner.stop()
    assert runner.error is None


def test_every_node_stops_and_a_planner_starts_them_again():
    out = Sink()
    inlets = [Plain() for _ in range(5)]
    planner = planner_of([Link(inlet, out, 3600) for inlet in inlets])
    for _ in range(2):
        run_and_stop(planner)
        assert not any(node.active for node in inlets + [out])
    planner = planner_of([Link(inlets[0], out, 3600)])
    run_and_stop(planner)  # the links of the first planner released their users: counts are right
    assert not inlets[0].active and not out.active


def test_a_node_shared_with_a_running_planner_or_started_by_hand_keeps_running():
    shared, by_hand, out = Plain(), Plain(), Sink()
    by_hand.try_start()
    other = planner_of([Link(shared, Sink(), 3600)])
    other_runner = run_started(other)
    run_and_stop(planner_of([Link(shared, out, 3600), Link(by_hand, out, 3600), Link(Plain(), out, 3600)]))
    assert shared.active and by_hand.active and not out.active
    other_runner.stop()
    assert not shared.active and by_hand.active
    by_hand.try_shutdown()


def test_nodes_that_are_equal_to_each_other_are_each_stopped():
    nodes = [Alike() for _ in range(3)]
    run_and_stop(planner_of([Link(node, Sink(), 3600) for node in nodes]))
    assert [node.active for node in nodes] == [False, False, False]


def test_an_on_shutdown_set_on_one_node_or_patched_on_the_class_is_called():
    nodes = [Plain() for _ in range(4)]
    calls = []
    nodes[2].on_shutdown = lambda: calls.append("own")
    run_and_stop(planner_of([Link(node, Sink(), 3600) for node in nodes]))
    assert calls == ["own"] and not any(node.active for node in nodes)
    with mock.patch.object(Plain, "on_shutdown", lambda self: calls.append(nodes.index(self))):
        del nodes[2].on_shutdown
        run_and_stop(planner_of([Link(node, Sink(), 3600) for node in nodes]))
    assert calls == ["own", 0, 1, 2, 3]


def test_a_listener_is_told_of_every_node_stopped_in_link_order():
    out = Sink()
    inlets = [Plain() for _ in range(3)]
    planner = planner_of([Link(inlet, out, 3600) for inlet in inlets])
    seen = []
    planner.subscribe(lambda event: seen.append(event.node), kinds="node_shut_down")
    run_and_stop(planner)
    assert seen == inlets + [out]


class OwnPipeline(Link):
    """Processors kept its own way (a property): its slot stays empty, the Buffer is here."""

    def __init__(self, *args, **kwargs):
        self.own = [Buffer(count_threshold=100)]
        super().__init__(*args, **kwargs)

    @property
    def processors(self):
        return self.own

    @processors.setter
    def processors(self, value):
        pass


@pytest.mark.parametrize("where", ["link", "outlet", "link property"])
def test_records_a_buffer_holds_are_delivered_at_shutdown(where):
    pulled = threading.Semaphore(0)

    class Counted(Plain):
        def pull(self, update):
            pulled.release()
            return 1

    outs = [Sink(), Sink([Buffer(count_threshold=100)] if where == "outlet" else None), Sink()]
    links = [Link(Counted(), out, 3600) for out in outs]
    if where == "link":
        links[1].processors = [Buffer(count_threshold=100)]
    if where == "link property":
        links[1] = OwnPipeline(Counted(), outs[1], 3600)
    runner = run_started(SchedulePlanner(links, handle_signals=False))  # one immediate transfer each
    for _ in outs:
        assert pulled.acquire(timeout=10)
    deadline = time.monotonic() + 10
    while len(outs[0].records) + len(outs[2].records) < 2:  # delivered; the Buffer holds its one
        assert time.monotonic() < deadline
        time.sleep(0.001)
    runner.stop()
    assert [len(out.records) for out in outs] == [1, 1, 1]


def test_a_try_shutdown_override_is_called_once_by_the_last_link():
    calls = []

    class Own(Sink):
        def try_shutdown(self):  # 0.3.0's public hook
            calls.append(self.active)
            super().try_shutdown()

    out = Own()
    run_and_stop(planner_of([Link(Plain(), out, 3600) for _ in range(3)]))
    assert calls == [True] and not out.active


def test_a_link_class_reading_its_attributes_its_own_way_is_stopped_through_them():
    calls = []

    class Watched(Link):
        def __getattribute__(self, name):
            value = super().__getattribute__(name)
            if name == "on_shutdown":
                return lambda: (calls.append(name), value())
            return value

    nodes = [Plain() for _ in range(2)]
    run_and_stop(planner_of([Watched(node, Sink(), 3600) for node in nodes]))
    assert calls == ["on_shutdown", "on_shutdown"] and not any(node.active for node in nodes)
