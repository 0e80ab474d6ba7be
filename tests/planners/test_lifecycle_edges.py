"""Lifecycle edges found in review: signals, BaseExceptions, exit, partial adds, failing removals."""

import logging
import threading

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner

from .conftest import run_python


class Quiet(Outlet):
    def push(self, records, update):
        pass



def test_shutdown_from_a_signal_handler_never_deadlocks():
    """A signal handler calling shutdown() while the loop waits on its Event returns, 30 times over."""
    result = run_python("""
        import logging, random, signal, sys
        logging.disable(logging.CRITICAL)
        from databay import Link
        from databay.inlets import NullInlet
        from databay.outlets import NullOutlet
        from databay.planners import SchedulePlanner
        for trial in range(30):
            planner = SchedulePlanner([Link(NullInlet(), NullOutlet(), 0.0001 * (k + 1))
                                       for k in range(5)], threads=2)
            signal.signal(signal.SIGALRM, lambda *_: planner.shutdown())
            signal.setitimer(signal.ITIMER_REAL, random.uniform(0.01, 0.05))
            planner.start()
        print("done")
    """, timeout=90)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"


def test_system_exit_in_a_transfer_stops_the_planner_and_start_raises_it(caplog):
    """A BaseException escaping a pull stops the planner (nodes shut down) and start() re-raises it."""
    shut = []

    class Exiting(Inlet):
        def pull(self, update):
            raise SystemExit(3)

        def on_shutdown(self):
            shut.append(True)

    planner = SchedulePlanner(Link(Exiting(), Quiet(), 0.01), threads=1, ignore_exceptions=True)
    with caplog.at_level(logging.ERROR, logger="databay"):
        with pytest.raises(SystemExit):
            planner.start()
    assert shut == [True] and not planner.running


def test_shutdown_at_exit_stops_a_planner_in_a_non_daemon_thread():
    """shutdown_at_exit=True: the interpreter exits even when start() runs in a plain Thread."""
    result = run_python("""
        import threading
        from databay import Inlet, Link, Outlet
        from databay.planners import SchedulePlanner
        started = threading.Event()
        class Source(Inlet):
            def pull(self, update):
                started.set()
                return 1
            def on_shutdown(self):
                print("shut down", flush=True)
        class Sink(Outlet):
            def push(self, records, update):
                pass
        planner = SchedulePlanner(Link(Source(), Sink(), 0.05), shutdown_at_exit=True)
        threading.Thread(target=planner.start).start()
        started.wait(10)
        print("main returns", flush=True)
    """, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["main", "returns", "shut", "down"]


def test_failing_add_links_stops_what_it_started(stamp_inlet, list_outlet, run_in_thread):
    """add_links([a, b]) while running: b's on_start fails, so a's nodes are shut down and neither is added."""
    keep_inlet = stamp_inlet()
    planner = SchedulePlanner(Link(keep_inlet, list_outlet(), 3600))
    runner = run_in_thread(planner)
    assert keep_inlet.reached.wait(5)

    class Refusing(Inlet):
        def pull(self, update):
            return 1

        def on_start(self):
            raise OSError("refused")

    first = stamp_inlet()
    with pytest.raises(OSError, match="refused"):
        planner.add_links([Link(first, list_outlet(), 1), Link(Refusing(), list_outlet(), 1)])
    assert (first.starts, first.shutdowns, first.active) == (1, 1, False)
    assert len(planner.links) == 1 and keep_inlet.active
    runner.stop()


def test_a_schedule_that_refuses_to_bind_leaves_no_link_of_that_add_behind(stamp_inlet, list_outlet):
    """add_links([good, bad]) where bad's schedule raises: neither is registered, scheduled or
    run, and good can then join another planner without running on two timelines."""
    from databay_testing import VirtualClock, virtual_planner

    class Refusing:
        def bind(self, anchor, clock, seed):
            raise ValueError("no timeline for you")

    clock = VirtualClock()
    keep = Link(stamp_inlet(), list_outlet(), 60, immediate_transfer=False)
    good_inlet = stamp_inlet()
    good = Link(good_inlet, list_outlet(), 60, immediate_transfer=False)
    with virtual_planner(keep, clock=clock) as planner:
        with pytest.raises(ValueError, match="no timeline for you"):
            planner.add_links([good, Link(stamp_inlet(), list_outlet(), schedule=Refusing())])
        assert planner.links == [keep]
        clock.advance(600)
        assert not good_inlet.times, "a link of the failed add_links ran"
        planner.add_links(good)
        clock.advance(600)
    assert len(good_inlet.times) == 10  # one timeline: every 60 s, once


def test_remove_links_reports_its_own_shutdown_failure_once(stamp_inlet, list_outlet, run_in_thread,
                                                            caplog):
    """A removed link's failing on_shutdown is raised by remove_links, not later by an unrelated start()."""

    class Stubborn(Inlet):
        def pull(self, update):
            return 1

        def on_shutdown(self):
            raise OSError("cannot stop")

    link = Link(Stubborn(), list_outlet(), 3600)
    other = stamp_inlet()
    planner = SchedulePlanner([link, Link(other, list_outlet(), 3600)])
    runner = run_in_thread(planner)
    assert other.reached.wait(5)
    with caplog.at_level(logging.ERROR, logger="databay"):
        with pytest.raises(OSError, match="cannot stop"):
            planner.remove_links(link)
    assert planner.links and link not in planner.links
    runner.stop()
    assert runner.error is None


def test_link_removed_during_start_up_is_not_left_running(stamp_inlet, list_outlet):
    """A link removed while another link's slow on_start runs ends up shut down, not started."""
    release = threading.Event()

    class SlowStart(Inlet):
        def pull(self, update):
            return 1

        def on_start(self):
            release.wait(10)

    removed_inlet = stamp_inlet()
    removed = Link(removed_inlet, list_outlet(), 3600)
    planner = SchedulePlanner([Link(SlowStart(), list_outlet(), 3600), removed])
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    for _ in range(500):
        if planner._state == "starting":
            break
        threading.Event().wait(0.01)
    planner.remove_links(removed)
    release.set()
    planner.shutdown()
    thread.join(10)
    assert not removed_inlet.active and removed_inlet.starts == removed_inlet.shutdowns
