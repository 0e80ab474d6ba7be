"""SchedulePlanner specifics: the grid, misfires, idle cost, scale, signals and exit."""

import resource
import threading
import time
import weakref

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner

from .conftest import in_thread, run_python


def wait_for(predicate, timeout=10.0):
    """Poll ``predicate`` (cheaply) until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def test_fifty_ms_link_keeps_its_grid_in_real_time(stamp_inlet, list_outlet, run_in_thread):
    """A 50 ms link on the real clock does 41 transfers on its grid (bounds in seconds: the exact
    grid is tested in virtual time, lateness is measured by benchmarks/)."""
    inlet = stamp_inlet(target=41)
    planner = SchedulePlanner(Link(inlet, list_outlet(), 0.05))
    runner = run_in_thread(planner)
    assert inlet.reached.wait(30)
    runner.stop()
    t0 = inlet.times[0]
    lateness = [stamp - (t0 + k * 0.05) for k, stamp in enumerate(inlet.times[:41])]
    assert max(lateness) < 1.0, "a transfer was over a second late: %.3f s" % max(lateness)
    assert min(lateness) > -0.5, "a transfer ran far before its slot"


def test_idle_planner_uses_no_cpu(stamp_inlet, list_outlet, run_in_thread):
    """A planner whose only link is due in an hour sleeps: almost no CPU over two seconds."""
    planner = SchedulePlanner(Link(stamp_inlet(), list_outlet(), 3600), immediate_transfer=False)
    runner = run_in_thread(planner)
    assert wait_for(lambda: planner.running)
    time.sleep(0.1)
    before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(2.0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    began = time.monotonic()
    runner.stop()
    assert used < 0.05, "idle planner used %.3f CPU seconds" % used
    assert time.monotonic() - began < 1.0


def test_add_and_remove_wake_the_planner_at_once(stamp_inlet, list_outlet, run_in_thread):
    """A sleeping planner (next slot in an hour) picks up a new 20 ms link immediately."""
    planner = SchedulePlanner(Link(stamp_inlet(), list_outlet(), 3600), immediate_transfer=False)
    runner = run_in_thread(planner)
    assert wait_for(lambda: planner.running)
    fast = stamp_inlet(target=3)
    link = Link(fast, list_outlet(), 0.02)
    added = time.monotonic()
    planner.add_links(link)
    assert fast.reached.wait(5)
    assert fast.times[0] - added < 0.5
    planner.remove_links(link)
    count = len(fast.times)
    time.sleep(0.1)
    assert len(fast.times) == count
    runner.stop()


def test_thousands_of_links_stay_on_time(list_outlet, run_in_thread):
    """1,000 links at 100 ms: ten slots each all run (within generous seconds on a loaded machine)."""
    stamps = []
    lock = threading.Lock()

    class Stamp(Inlet):
        def pull(self, update):
            with lock:
                stamps.append(time.monotonic())
            return 1

    class Quiet(Outlet):
        def push(self, records, update):
            pass

    outlet = Quiet()
    links = [Link(Stamp(), outlet, 0.1) for _ in range(1000)]
    planner = SchedulePlanner(links)
    started = time.monotonic()
    runner = run_in_thread(planner)
    assert wait_for(lambda: len(stamps) >= 10000, 60)
    runner.stop()
    elapsed = time.monotonic() - started
    # ten slots (0..9) take 0.9 s on the grid; a loaded 2-core machine gets a lot of slack
    # (throughput and lateness are measured by benchmarks/, not asserted here)
    assert elapsed < 30.0, elapsed


def test_sub_second_intervals_work(stamp_inlet, list_outlet, run_in_thread):
    """A 10 ms link runs about a hundred times a second (no refresh-interval floor)."""
    inlet = stamp_inlet(target=50)
    runner = run_in_thread(SchedulePlanner(Link(inlet, list_outlet(), 0.01)))
    assert inlet.reached.wait(10)
    runner.stop()
    assert inlet.times[49] - inlet.times[0] < 1.5


def test_two_planners_keep_their_own_links(stamp_inlet, list_outlet, run_in_thread):
    """Two planners in one process never run each other's links."""
    first, second = stamp_inlet(target=2), stamp_inlet(target=2)
    planner_a = SchedulePlanner(Link(first, list_outlet(), 0.02))
    planner_b = SchedulePlanner(Link(second, list_outlet(), 3600), immediate_transfer=False)
    run_a, run_b = run_in_thread(planner_a), run_in_thread(planner_b)
    assert first.reached.wait(5)
    run_a.stop()
    run_b.stop()
    assert second.times == []


def test_refresh_interval_is_accepted_and_ignored():
    """refresh_interval (0.3.0) is accepted and changes nothing."""
    planner = SchedulePlanner(refresh_interval=5)
    assert planner.refresh_interval == 5


def test_no_atexit_reference_unless_asked():
    """Planners without shutdown_at_exit can be collected; with it, only a weak reference is held."""
    plain = SchedulePlanner()
    plain_ref = weakref.ref(plain)
    at_exit = SchedulePlanner(shutdown_at_exit=True)
    at_exit_ref = weakref.ref(at_exit)
    del plain, at_exit
    import gc

    gc.collect()
    assert plain_ref() is None
    assert at_exit_ref() is None



COMMON = """
    import os, signal, sys, threading, time
    from databay import Inlet, Link, Outlet
    from databay.planners import SchedulePlanner

    class Source(Inlet):
        def pull(self, update):
            return update.transfer_number
        def on_shutdown(self):
            print("inlet shut down", flush=True)

    class Sink(Outlet):
        def push(self, records, update):
            if update.transfer_number == 2:
                print("transferring", flush=True)
                READY.set()
        def on_shutdown(self):
            print("outlet shut down", flush=True)

    READY = threading.Event()
"""


def test_ctrl_c_during_start_shuts_down_gracefully():
    """SIGINT while start() blocks in the main thread shuts down gracefully and start() returns."""
    result = run_python(COMMON + """
    planner = SchedulePlanner(Link(Source(), Sink(), 0.02))
    threading.Thread(target=lambda: (READY.wait(10), os.kill(os.getpid(), signal.SIGINT)),
                     daemon=True).start()
    planner.start()
    print("start returned", planner.running, flush=True)
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-3:] == ["inlet shut down", "outlet shut down", "start returned False"] or \
        lines[-3:] == ["outlet shut down", "inlet shut down", "start returned False"], result.stdout


def test_shutdown_from_a_signal_handler():
    """A SIGTERM handler calling shutdown() while start() blocks ends the planner cleanly."""
    result = run_python(COMMON + """
    planner = SchedulePlanner(Link(Source(), Sink(), 0.02))
    signal.signal(signal.SIGTERM, lambda *_: planner.shutdown())
    threading.Thread(target=lambda: (READY.wait(10), os.kill(os.getpid(), signal.SIGTERM)),
                     daemon=True).start()
    planner.start()
    print("start returned", flush=True)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("shut down") == 2
    assert result.stdout.splitlines()[-1] == "start returned"


def test_shutdown_at_exit_shuts_a_background_planner_down():
    """shutdown_at_exit=True: a planner still running when the interpreter exits is shut down."""
    result = run_python(COMMON + """
    planner = SchedulePlanner(Link(Source(), Sink(), 0.02), shutdown_at_exit=True)
    threading.Thread(target=planner.start, daemon=True).start()
    READY.wait(10)
    print("main exits", flush=True)
    """)
    assert result.returncode == 0, result.stderr
    assert "inlet shut down" in result.stdout and "outlet shut down" in result.stdout


def test_apsplanner_without_apscheduler_names_the_extra():
    """Importing databay.planners works without APScheduler; constructing ApsPlanner names the extra."""
    result = run_python("""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "apscheduler" or name.startswith("apscheduler."):
                raise ImportError("blocked for the test")
    sys.meta_path.insert(0, Block())
    from databay.planners import ApsPlanner, SchedulePlanner
    try:
        ApsPlanner()
    except ImportError as error:
        print(error)
    """)
    assert result.returncode == 0, result.stderr
    assert 'pip install "databay[aps]"' in result.stdout


def test_shutdown_returns_quickly_and_stops_transfers(stamp_inlet, list_outlet, run_in_thread):
    """shutdown() of a busy planner returns promptly; on_shutdown runs once; nothing runs afterwards."""
    inlets = [stamp_inlet(target=5) for _ in range(50)]
    outlet = list_outlet()
    planner = SchedulePlanner([Link(inlet, outlet, 0.01) for inlet in inlets])
    runner = run_in_thread(planner)
    assert all(inlet.reached.wait(10) for inlet in inlets)
    began = time.monotonic()
    runner.stop()
    assert time.monotonic() - began < 2.0
    counts = [len(inlet.times) for inlet in inlets]
    time.sleep(0.1)
    assert [len(inlet.times) for inlet in inlets] == counts
    assert all(inlet.shutdowns == 1 for inlet in inlets) and outlet.shutdowns == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", None])
def test_bad_threads(bad):
    """threads must be an int >= 1; the message names the parameter and the value."""
    with pytest.raises((TypeError, ValueError), match="threads=%r" % (bad,)):
        SchedulePlanner(threads=bad)


def test_start_up_cost_is_linear_in_links(run_in_thread):
    """3,000 links all get their immediate transfer within seconds of start() (no quadratic start-up)."""
    done = threading.Semaphore(0)

    class Once(Inlet):
        def pull(self, update):
            done.release()
            return 1

    class Quiet(Outlet):
        def push(self, records, update):
            pass

    outlet = Quiet()
    planner = SchedulePlanner([Link(Once(), outlet, 3600) for _ in range(3000)])
    began = time.monotonic()
    runner = run_in_thread(planner)
    for _ in range(3000):
        assert done.acquire(timeout=10)
    elapsed = time.monotonic() - began
    runner.stop()
    assert elapsed < 10.0, "3,000 immediate transfers took %.2f s" % elapsed  # benchmarks/ times it


def test_no_transfer_starts_before_its_due_time_on_the_system_clock(list_outlet, run_in_thread):
    """On the system clock the loop hands each due time it idles for to an idle worker, which
    waits for it awake and dispatches it (schedule_planner.HAND_OVER): every pull still happens
    at or after its slot's due time. While a transfer runs, ``link.job.due`` is the next slot."""
    interval, early, reached = 0.01, [], threading.Event()

    class DueInlet(Inlet):
        def pull(self, update):
            early.append(link.job.due - interval - time.monotonic())
            if len(early) == 30:
                reached.set()
            return 1

    link = Link(DueInlet(), list_outlet(), interval)
    runner = run_in_thread(SchedulePlanner(link))
    assert reached.wait(30)
    runner.stop()
    assert max(early) <= 1e-9, "a transfer started %.6f s before its due time" % max(early)


class CustomSchedule:
    """A schedule as a user may write one (anything with ``bind``): its timeline's
    ``next_due`` is the function given."""

    def __init__(self, next_due):
        self.next_due = next_due

    def bind(self, anchor, clock, seed):
        return self


def test_a_schedule_raising_in_a_handed_dispatch_stops_the_planner_as_in_the_loop(
        stamp_inlet, list_outlet):
    """A schedule's ``next_due`` that raises inside a dispatch handed to a worker (system clock)
    is raised by ``start()``, as when the loop dispatches itself; it is not left in the worker's
    log while the planner runs on with that link gone from its slots."""
    calls = [0]

    def next_due(after):
        calls[0] += 1
        if calls[0] >= 4:
            raise RuntimeError("schedule broke")
        return after + 0.05

    inlet = stamp_inlet()
    planner = SchedulePlanner(Link(inlet, list_outlet(), schedule=CustomSchedule(next_due)),
                              handle_signals=False)
    thread, raised = in_thread(planner.start)
    thread.join(20)
    if thread.is_alive():  # the bug: still running, the link never due again
        planner.shutdown()
        thread.join(10)
    assert [str(error) for error in raised] == ["schedule broke"], (raised, len(inlet.times))
    assert not planner.running


def test_a_schedule_raising_in_a_handed_dispatch_while_the_planner_stops_is_not_lost(
        stamp_inlet, list_outlet, caplog):
    """The worker is inside the schedule's ``next_due`` when ``shutdown()`` comes; it raises
    then: ``start()`` raises it (or, once the loop has ended, the planner logs it)."""
    inside, go, loop, calls = threading.Event(), threading.Event(), [], [0]

    def next_due(after):
        calls[0] += 1
        if calls[0] >= 3 and threading.current_thread() not in loop:
            inside.set()
            assert go.wait(20)
            raise RuntimeError("schedule broke while stopping")
        return after + 0.05

    planner = SchedulePlanner(Link(stamp_inlet(), list_outlet(), schedule=CustomSchedule(next_due)),
                              handle_signals=False)

    def start():
        loop.append(threading.current_thread())
        planner.start()

    thread, raised = in_thread(start)
    if not inside.wait(20):  # the loop dispatched every time itself (no worker was idle)
        planner.shutdown()
        thread.join(20)
        pytest.skip("no dispatch was handed to a worker on this machine")
    stopping, _ = in_thread(planner.shutdown)
    stopping.join(0.5)  # shutdown() under way (it waits for the dispatch the worker is in)
    go.set()
    thread.join(20)
    stopping.join(20)
    assert not thread.is_alive() and not stopping.is_alive()
    said = [str(error) for error in raised] + \
        [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    assert said == ["schedule broke while stopping"], (raised, caplog.text)
