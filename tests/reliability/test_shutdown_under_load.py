"""Shutdown under load: from another thread, a signal handler and an outlet, with hundreds in flight.

Each way of shutting down must return, start no transfer afterwards, call
on_shutdown exactly once per node, and flush every Buffer, so that every record
a pull produced reaches its outlet.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from databay import Link
from databay.planners import ApsPlanner, SchedulePlanner
from databay.support.buffers import Buffer

NEEDS_APS = pytest.mark.skipif(importlib.util.find_spec("apscheduler") is None,
                               reason="APScheduler not installed (install databay[aps])")


def build_links(inlet_class, outlet_class, count, interval=0.01, delay=0.004):
    """``count`` links; every third shares an outlet, and all carry link and outlet Buffers.

    The Buffers' thresholds are never reached, so every record that is
    delivered at all is delivered by the shutdown flush.
    """
    inlets = [inlet_class("in%d" % i, per_pull=2, delay=delay) for i in range(count)]
    shared = outlet_class("shared", processors=[Buffer(count_threshold=10 ** 6)])
    outlets = [outlet_class("out%d" % i, processors=[Buffer(count_threshold=10 ** 6)])
               for i in range(count)]
    links = []
    for i, inlet in enumerate(inlets):
        targets = [outlets[i], shared] if i % 3 == 0 else [outlets[i]]
        links.append(Link(inlet, targets, interval + (i % 5) / 1000, tags="link%d" % i,
                          processors=[Buffer(count_threshold=10 ** 6)]))
    return links, inlets, outlets + [shared]


def check_clean_shutdown(links, inlets, outlets, after_shutdown):
    """on_shutdown once per node, nothing pulled after shutdown, produced == delivered."""
    for node in inlets + outlets:
        assert (node.starts, node.shutdowns) == (1, 1), node
        assert not node.active
    assert sum(inlet.pulls_while_inactive for inlet in inlets) == 0
    assert sum(outlet.pushes_while_inactive for outlet in outlets) == 0
    for count, inlet in zip(after_shutdown, inlets):
        assert len(inlet.produced) == count, "%r pulled after shutdown() returned" % (inlet,)
    shared = outlets[-1]
    expected_shared = []
    for i, (link, inlet) in enumerate(zip(links, inlets)):
        assert sorted(outlets[i].delivered) == sorted(inlet.produced), "lost records of %r" % link
        if i % 3 == 0:
            expected_shared += inlet.produced
    assert sorted(shared.delivered) == sorted(expected_shared)
    assert sum(len(inlet.produced) for inlet in inlets) > 0


PLANNERS = [
    pytest.param(SchedulePlanner, 300, id="schedule-300-links"),
    pytest.param(ApsPlanner, 60, id="aps-60-links", marks=NEEDS_APS),
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("planner_class,count", PLANNERS)
def test_shutdown_from_another_thread_under_load(planner_class, count, counting_inlet,
                                                 counting_outlet, run_in_thread, waiter):
    """shutdown(wait=True) from another thread with hundreds of transfers in flight returns, flushes Buffers and stops every node once."""
    links, inlets, outlets = build_links(counting_inlet, counting_outlet, count)
    planner = planner_class(links, threads=30)
    runner = run_in_thread(planner)
    assert waiter(lambda: sum(len(inlet.produced) for inlet in inlets) >= 4 * count, 60)
    returned = threading.Event()
    stopper = threading.Thread(target=lambda: (planner.shutdown(wait=True), returned.set()),
                               name="reliability-stopper")
    stopper.start()
    stopper.join(30)
    assert returned.is_set(), "shutdown(wait=True) did not return"
    after_shutdown = [len(inlet.produced) for inlet in inlets]
    assert runner.returned.wait(30)
    runner.thread.join(30)
    assert runner.error is None
    assert not planner.running
    check_clean_shutdown(links, inlets, outlets, after_shutdown)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("planner_class,count", PLANNERS)
def test_shutdown_from_inside_an_outlet_under_load(planner_class, count, counting_inlet,
                                                   counting_outlet, run_in_thread, waiter):
    """An outlet calling shutdown(wait=True) mid-push under load does not deadlock; the planner stops cleanly."""
    links, inlets, outlets = build_links(counting_inlet, counting_outlet, count)
    called = threading.Event()
    returned = threading.Event()

    def maybe_stop(records, update):
        if sum(len(inlet.produced) for inlet in inlets) >= 4 * count and not called.is_set():
            called.set()
            planner.shutdown(wait=True)
            returned.set()

    trigger = counting_outlet("trigger", on_push=maybe_stop)
    trigger_link = Link(counting_inlet("trigger-in"), trigger, 0.005, tags="trigger")
    planner = planner_class(links + [trigger_link], threads=30)
    runner = run_in_thread(planner)
    assert called.wait(60), "the outlet never asked for shutdown"
    assert returned.wait(30), "shutdown(wait=True) from inside an outlet did not return"
    assert runner.returned.wait(30), "start() did not return"
    runner.thread.join(30)
    assert runner.error is None
    after_shutdown = [len(inlet.produced) for inlet in inlets]
    assert not planner.running
    planner.shutdown(wait=True)  # idempotent once stopped
    check_clean_shutdown(links, inlets, outlets, after_shutdown)
    assert (trigger.starts, trigger.shutdowns) == (1, 1)


SIGNAL_SCRIPT = """
    import json, os, signal, sys, threading
    from databay import Inlet, Link, Outlet
    from databay.planners import SchedulePlanner
    from databay.support.buffers import Buffer

    SIGNAL = getattr(signal, sys.argv[1])
    lock = threading.Lock()
    pulls = [0]
    stopped = threading.Event()
    late = []

    class Source(Inlet):
        def __init__(self):
            super().__init__()
            self.produced, self.starts, self.shutdowns = [], 0, 0
        def pull(self, update):
            if stopped.is_set():
                late.append(str(update))
            with lock:
                pulls[0] += 1
                if pulls[0] == 2000:
                    threading.Thread(target=os.kill, args=(os.getpid(), SIGNAL)).start()
            payload = [(id(self), update.transfer_number, i) for i in range(2)]
            self.produced += payload
            return payload
        def on_start(self):
            self.starts += 1
        def on_shutdown(self):
            self.shutdowns += 1

    class Sink(Outlet):
        def __init__(self):
            super().__init__(processors=[Buffer(count_threshold=10 ** 6)])
            self.delivered, self.starts, self.shutdowns = [], 0, 0
        def push(self, records, update):
            with lock:
                self.delivered += [record.payload for record in records]
        def on_start(self):
            self.starts += 1
        def on_shutdown(self):
            self.shutdowns += 1

    inlets = [Source() for _ in range(300)]
    sink = Sink()
    links = [Link(inlet, sink, 0.01 + (i % 7) / 1000, processors=[Buffer(count_threshold=10 ** 6)])
             for i, inlet in enumerate(inlets)]
    planner = SchedulePlanner(links, handle_signals=False)  # this test's own handler stops it
    handled = []
    def handler(number, frame):
        handled.append(number)
        planner.shutdown(wait=True)
    signal.signal(SIGNAL, handler)
    planner.start()
    stopped.set()
    produced = sorted(p for inlet in inlets for p in inlet.produced)
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(10)
    print(json.dumps({
        "handled": handled == [SIGNAL],
        "produced": len(produced),
        "delivered_equal": sorted(sink.delivered) == produced,
        "lifecycle": sorted({(n.starts, n.shutdowns) for n in inlets + [sink]}),
        "late_pulls": late,
        "running": planner.running,
        "threads": [t.name for t in threading.enumerate()],
    }))
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGINT"])
def test_shutdown_from_a_signal_handler_under_load(signal_name):
    """A SIGTERM/SIGINT handler calling shutdown() while 300 links run ends start() cleanly with every buffered record delivered."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(SIGNAL_SCRIPT), signal_name],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["handled"], report
    assert report["produced"] >= 4000
    assert report["delivered_equal"], "buffered records were lost at shutdown"
    assert report["lifecycle"] == [[1, 1]], report["lifecycle"]
    assert report["late_pulls"] == []
    assert report["running"] is False
    assert report["threads"] == ["MainThread"]
