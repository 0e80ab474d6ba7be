"""SchedulePlanner specifics: the grid, misfires, idle cost, scale, signals and exit."""

import os
import resource
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner


class FakeClock:
    """A clock the test moves by hand; the planner is nudged after each move."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def wait_for(predicate, timeout=10.0):
    """Poll ``predicate`` (cheaply) until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def test_fifty_ms_link_keeps_its_grid(stamp_inlet, list_outlet, run_in_thread):
    """A 50 ms link for 2 s does ~40 transfers, each within a few ms of its slot, without drift."""
    inlet = stamp_inlet(target=41)
    planner = SchedulePlanner(Link(inlet, list_outlet(), 0.05))
    runner = run_in_thread(planner)
    assert inlet.reached.wait(10)
    runner.stop()
    t0 = inlet.times[0]
    lateness = [stamp - (t0 + k * 0.05) for k, stamp in enumerate(inlet.times[:41])]
    assert max(lateness) < 0.05, max(lateness)  # generous: a loaded 2-core machine
    assert sorted(lateness)[len(lateness) // 2] < 0.01
    assert lateness[40] - lateness[0] < 0.02, "the grid drifted"
    assert min(lateness) > -0.001, "a transfer ran before its slot"


def test_misfires_coalesce_and_keep_the_grid():
    """After a stall of several intervals a link runs once, then resumes on its original grid."""
    clock = FakeClock()
    pulls = []
    pulled = threading.Condition()

    class Recording(Inlet):
        def pull(self, update):
            with pulled:
                pulls.append(clock.now)
                pulled.notify_all()
            return 1

    class Quiet(Outlet):
        def push(self, records, update):
            pass

    link = Link(Recording(), Quiet(), 100)
    planner = SchedulePlanner(link, clock=clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()

    def advance_to(moment, expected):
        clock.now = moment
        planner._wake.set()
        with pulled:
            assert pulled.wait_for(lambda: len(pulls) >= expected, 10)

    with pulled:
        assert pulled.wait_for(lambda: len(pulls) == 1, 10)  # the immediate transfer at t0=1000
    advance_to(1100.5, 2)  # slot 1 (due 1100), half a second late
    advance_to(1450.0, 3)  # slots 2, 3 and 4 missed: one run only
    # the job moves to its next slot right after dispatch: wait for that, then check the grid
    assert wait_for(lambda: link.job.due >= 1500.0), link.job.due
    assert link.job.due == 1500.0, "the next slot must stay on the t0 + k*interval grid"
    clock.now = 1499.0
    planner._wake.set()
    time.sleep(0.1)
    assert len(pulls) == 3
    advance_to(1500.0, 4)
    planner.shutdown()
    thread.join(10)
    assert pulls == [1000.0, 1100.5, 1450.0, 1500.0]


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
    """1,000 links at 100 ms for about a second all run on schedule."""
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
    assert wait_for(lambda: len(stamps) >= 10000, 20)
    runner.stop()
    elapsed = time.monotonic() - started
    # ten slots (0..9) take 0.9 s on the grid; allow a loaded machine a lot of slack
    assert elapsed < 5.0, elapsed


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


def _run_script(code, timeout=30):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)


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
    result = _run_script(COMMON + """
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
    result = _run_script(COMMON + """
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
    result = _run_script(COMMON + """
    planner = SchedulePlanner(Link(Source(), Sink(), 0.02), shutdown_at_exit=True)
    threading.Thread(target=planner.start, daemon=True).start()
    READY.wait(10)
    print("main exits", flush=True)
    """)
    assert result.returncode == 0, result.stderr
    assert "inlet shut down" in result.stdout and "outlet shut down" in result.stdout


def test_apsplanner_without_apscheduler_names_the_extra():
    """Importing databay.planners works without APScheduler; constructing ApsPlanner names the extra."""
    result = _run_script("""
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
    """3,000 links all get their immediate transfer within a second of start() (no quadratic start-up)."""
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
    assert elapsed < 1.0, "3,000 immediate transfers took %.2f s" % elapsed
