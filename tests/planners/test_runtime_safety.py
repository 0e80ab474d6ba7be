"""Runtime safety of the planner: hung links, shutdown deadlines, signals, bad arguments, edges.

Schedules run on the test clock (virtual time); shutdown deadlines and
signals are real time, with bounds in seconds.
"""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from databay import Cron, Every, Inlet, Link, Outlet
from databay.errors import PlannerStateError
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer


class Hanging(Inlet):
    """Pulls block until ``release`` is set (never, as far as the planner knows)."""

    def __init__(self, release):
        super().__init__()
        self.release = release
        self.entered = threading.Event()

    def pull(self, update):
        self.entered.set()
        self.release.wait(60)
        return 1


class Counting(Inlet):
    def __init__(self, clock=None):
        super().__init__()
        self.clock = clock
        self.times = []

    def pull(self, update):
        self.times.append(self.clock.now() if self.clock else time.monotonic())
        return len(self.times)


class Sink(Outlet):
    def __init__(self):
        super().__init__()
        self.records = []

    def push(self, records, update):
        self.records.extend(record.payload for record in records)


def test_four_hung_links_neither_stop_the_fifth_nor_shutdown(step_clock, caplog):
    """Four links hang forever (no timeout): the fifth keeps every slot, and shutdown(timeout=2)
    returns within seconds, naming the four as left behind; the planner can start again."""
    release = threading.Event()
    hung = [Hanging(release) for _ in range(4)]
    healthy, sink = Counting(step_clock), Sink()
    hung_links = [Link(inlet, Sink(), 10, tags="hung-%d" % n) for n, inlet in enumerate(hung)]
    healthy_link = Link(healthy, sink, 10, tags="healthy", processors=Buffer(count_threshold=100))
    planner = SchedulePlanner(hung_links + [healthy_link], clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    try:
        assert all(inlet.entered.wait(10) for inlet in hung)
        for moment in range(1000, 1101, 10):
            step_clock.set(moment)
            for _ in range(1000):
                if len(healthy.times) == (moment - 1000) // 10 + 1:
                    break
                time.sleep(0.01)
        assert healthy.times == [float(t) for t in range(1000, 1101, 10)]
        began = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="databay"):
            left = planner.shutdown(timeout=2)
        took = time.monotonic() - began
        assert 1.5 <= took < 8, took
        assert set(left) == set(hung_links) and set(planner.left_behind) == set(hung_links)
        assert sink.records == list(range(1, 12)), "the healthy link's Buffer was flushed"
        thread.join(10)  # start() returns once the report is logged
        report = [r.getMessage() for r in caplog.records if "behind" in r.getMessage()]
        assert len(report) == 1 and all(repr(link) in report[0] for link in hung_links)
        assert not thread.is_alive() and not planner.running
    finally:
        release.set()
    # The hung transfers return; the planner starts and stops again normally.
    restarted = threading.Thread(target=planner.start, daemon=True)
    restarted.start()
    for _ in range(1000):
        if planner.running:
            break
        time.sleep(0.01)
    assert planner.running
    assert planner.shutdown(timeout=10) == []
    restarted.join(10)


def test_shutdown_without_timeout_still_waits_for_slow_transfers(step_clock):
    """shutdown() with no timeout waits for a transfer that ends, and leaves nothing behind."""
    release = threading.Event()
    inlet, sink = Hanging(release), Sink()
    planner = SchedulePlanner(Link(inlet, sink, 10), clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    assert inlet.entered.wait(10)
    threading.Timer(0.3, release.set).start()
    assert planner.shutdown() == []
    assert sink.records == [1]
    thread.join(10)


SIGNAL_SCRIPT = r"""
import logging, os, sys, threading, time
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer

out = sys.argv[1]
MODE = sys.argv[2]
release = threading.Event()

class Numbers(Inlet):
    def __init__(self, name):
        super().__init__()
        self.name, self.n = name, 0
    def pull(self, update):
        self.n += 1
        with open(os.path.join(out, "pulled-" + self.name), "a") as f:
            f.write("%d\n" % self.n)
        if MODE == "hurry" and self.name == "hang" and self.n == 2:
            release.wait()  # hangs for ever: only a second signal gets past it
        return self.n

class File(Outlet):
    def __init__(self, name, slow=False):
        super().__init__()
        self.name, self.slow = name, slow
    def push(self, records, update):
        with open(os.path.join(out, "delivered-" + self.name), "a") as f:
            for record in records:
                f.write("%d\n" % record.payload)

links = [Link(Numbers("a"), File("a"), 0.02, tags="a", processors=Buffer(count_threshold=10**6))]
if MODE == "hurry":
    links.append(Link(Numbers("hang"), File("hang"), 0.05, tags="hang",
                      processors=Buffer(count_threshold=10**6)))
planner = SchedulePlanner(links)
open(os.path.join(out, "ready"), "w").close()
planner.start()
print("start returned", flush=True)
if MODE == "hurry":
    # In-process, the planner starts again (the hung link's transfer is skipped while it hangs).
    threading.Timer(0.5, lambda: planner.shutdown(timeout=1)).start()
    planner.start()
    print("restarted", flush=True)
"""


def _count(path):
    try:
        with open(path) as handle:
            return [int(line) for line in handle]
    except FileNotFoundError:
        return []


def _spawn(tmp_path, mode):
    script = tmp_path / "run.py"
    script.write_text(SIGNAL_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path), mode],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(_count(tmp_path / "pulled-a")) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_count(tmp_path / "pulled-a")) >= 20, "the planner did not run"
    return process


def test_sigterm_delivers_every_buffered_record_and_exits_0(tmp_path):
    """SIGTERM to a process whose blocking start() holds records in a Buffer: exit 0, all delivered."""
    process = _spawn(tmp_path, "plain")
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "start returned" in stdout
    pulled, delivered = _count(tmp_path / "pulled-a"), _count(tmp_path / "delivered-a")
    assert pulled and sorted(delivered) == pulled
    assert "SIGTERM received" in stderr


def test_a_second_sigterm_hurries_and_loses_nothing_uncounted(tmp_path):
    """A hung transfer holds up teardown; a second SIGTERM ends it promptly: the other link's
    Buffer is delivered, the hung link's held records are counted in the log, and in-process the
    planner starts again."""
    process = _spawn(tmp_path, "hurry")
    deadline = time.monotonic() + 30
    while len(_count(tmp_path / "pulled-hang")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    time.sleep(1.0)  # teardown now waits for the hung transfer
    assert process.poll() is None, "the first SIGTERM must wait for running transfers"
    process.send_signal(signal.SIGTERM)
    began = time.monotonic()
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - began < 15
    assert process.returncode == 0, stderr
    assert stdout.split("\n")[:2] == ["start returned", "restarted"]
    pulled, delivered = _count(tmp_path / "pulled-a"), _count(tmp_path / "delivered-a")
    assert pulled and sorted(delivered) == pulled
    # The hung link pulled twice: record 1 sits in its Buffer, record 2 is in the hung pull.
    assert _count(tmp_path / "delivered-hang") == []
    assert "leaving 1 link(s) behind" in stderr and "hold 1 record(s) not delivered" in stderr


@pytest.mark.parametrize("name", ["ignore_exceptions", "immediate_transfer", "shutdown_at_exit",
                                  "handle_signals"])
@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_planner_booleans_must_be_booleans(name, value):
    """A planner flag given "false", 0, 1 or None is refused, naming the parameter and value."""
    with pytest.raises(TypeError, match="%s=%r must be True or False" % (name, value)):
        SchedulePlanner(**{name: value})


@pytest.mark.parametrize("bad, kind", [("x", TypeError), (time.monotonic, TypeError), (3, TypeError)])
def test_planner_clock_must_follow_the_protocol(bad, kind):
    """clock='x' (or a bare function) is refused, naming clock and the methods it lacks."""
    with pytest.raises(kind, match="clock=.*must be a clock with methods now"):
        SchedulePlanner(clock=bad)


@pytest.mark.parametrize("bad", [threading.TIMEOUT_MAX * 2, 1e300, 10 ** 400, float("nan"), -1, 0])
def test_intervals_beyond_what_can_be_waited_for_are_refused(bad):
    """interval above threading.TIMEOUT_MAX (1e300, huge ints, nan) is a ValueError naming it."""
    with pytest.raises(ValueError, match="interval="):
        Link([], [], bad)


@pytest.mark.parametrize("factory, name", [
    (lambda: SchedulePlanner(timeout=-1), "timeout"),
    (lambda: SchedulePlanner(timeout="2"), "timeout"),
    (lambda: Link([], [], 1, timeout=1e300), "timeout"),
    (lambda: Link([], [], 1, schedule=Every(1)), "interval"),
    (lambda: Link([], []), "interval"),
    (lambda: Link([], [], schedule="*/5 * * * *"), "schedule"),
    (lambda: Every(0), "seconds"),
    (lambda: Every(10, align="yes"), "align"),
    (lambda: Every(10, offset=10), "offset"),
    (lambda: Every(10, jitter=-1), "jitter"),
    (lambda: Cron("* * * *"), "5 fields"),
    (lambda: Cron("61 * * * *"), "minute"),
    (lambda: Cron("* * * foo *"), "month"),
    (lambda: Cron("0 0 31 feb *"), "never runs"),
    (lambda: Cron("*/0 * * * *"), "step"),
    (lambda: Cron("* * * * *", tz="Mars/Base"), "tz"),
    (lambda: Cron(5), "expression"),
])
def test_schedule_and_timeout_arguments_are_refused_by_name(factory, name):
    with pytest.raises((TypeError, ValueError), match=name):
        factory()


def test_a_link_belongs_to_one_planner():
    """Adding a link held by another planner is a ValueError naming both; after removal it may move."""
    link = Link([], [], 1)
    first = SchedulePlanner(link)
    with pytest.raises(ValueError, match="already belongs to"):
        SchedulePlanner(link)
    first.remove_links(link)
    second = SchedulePlanner(link)
    assert second.links == [link]


def test_force_transfer_on_a_stopped_planner_starts_and_stops_the_nodes():
    """force_transfer() when not running: nodes started, one transfer, Buffers flushed, nodes stopped."""
    sink = Sink()
    inlet = Counting()
    planner = SchedulePlanner(Link(inlet, sink, 3600, processors=Buffer(count_threshold=100)))
    planner.force_transfer()
    assert sink.records == [1] and not inlet.active and not sink.active


def test_force_transfer_after_shutdown_refuses(step_clock):
    """force_transfer() on a planner that ran and was shut down: PlannerStateError, nothing pulled."""
    inlet = Counting(step_clock)
    planner = SchedulePlanner(Link(inlet, Sink(), 10), clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    step_clock.settle()
    planner.shutdown()
    thread.join(10)
    pulls = len(inlet.times)
    with pytest.raises(PlannerStateError, match="shut down"):
        planner.force_transfer()
    assert len(inlet.times) == pulls and not inlet.active


def test_start_refuses_while_a_one_off_force_transfer_runs(step_clock, run_in_thread):
    """force_transfer() before the first start() runs a one-off transfer (nodes started, then
    stopped); a start() from another thread meanwhile is refused rather than interleaved with it,
    so the one-off's end can neither close the running planner's gate nor stop its nodes."""
    release = threading.Event()
    inlet, sink = Hanging(release), Sink()
    planner = SchedulePlanner(Link(inlet, sink, 10), clock=step_clock, immediate_transfer=False)
    forced = threading.Thread(target=planner.force_transfer, daemon=True)
    forced.start()
    assert inlet.entered.wait(30)
    refused = run_in_thread(planner)
    try:
        assert refused.returned.wait(10), "start() ran while a one-off force_transfer() was running"
    finally:
        release.set()
    assert isinstance(refused.error, PlannerStateError) and "force_transfer" in str(refused.error)
    forced.join(30)
    assert sink.records == [1] and not inlet.active
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    step_clock.settle()
    assert planner.running and inlet.active
    step_clock.advance_to(step_clock.now() + 10)
    assert sink.records == [1, 1]  # scheduled transfers run: the one-off left the gate open
    planner.shutdown()
    thread.join(10)
    assert not inlet.active and not thread.is_alive()


def test_a_link_without_inlets_or_outlets_warns_once_when_started(step_clock, caplog):
    planner = SchedulePlanner([Link([], Sink(), 10, tags="empty"), Link(Counting(), [], 10, tags="deaf")],
                              clock=step_clock)
    thread = threading.Thread(target=planner.start, daemon=True)
    with caplog.at_level(logging.WARNING, logger="databay"):
        thread.start()
        step_clock.advance_to(1100)
        planner.shutdown()
        thread.join(10)
    warnings = [r.getMessage() for r in caplog.records if "move nothing" in r.getMessage()]
    assert len(warnings) == 2 and "no inlets" in warnings[0] and "no outlets" in warnings[1]


def test_an_error_raised_from_start_is_not_also_logged_with_its_traceback(caplog):
    """ignore_exceptions=False: the failing transfer is logged once without traceback; start() raises."""
    class Broken(Inlet):
        def pull(self, update):
            raise OSError("source is gone")

    planner = SchedulePlanner(Link(Broken(), Sink(), 10), handle_signals=False)
    with caplog.at_level(logging.DEBUG, logger="databay"):
        with pytest.raises(OSError, match="source is gone"):
            planner.start()
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert with_traceback == []
    assert any("source is gone" in r.getMessage() for r in caplog.records)


def test_the_default_signal_handlers_are_restored_as_they_were():
    """start() installs its handlers through the signal module's C function (the Python one
    turns the handler it replaces into an enum, through a raised ValueError for SIGINT's:
    40-120 µs before the immediate transfers): what it gets back must restore the defaults."""
    script = textwrap.dedent("""
        import signal, threading
        from databay import Link
        from databay.planners import SchedulePlanner
        # the defaults, whatever this process inherited (a background job ignores SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        planner = SchedulePlanner(Link([], [], 3600))
        seen = []
        def look():
            seen.append(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
            seen.append(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
            planner.shutdown()
        threading.Timer(0.3, look).start()
        planner.start()
        print(seen, signal.getsignal(signal.SIGINT) is signal.default_int_handler,
              signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[False,", "False]", "True", "True"]


@pytest.mark.parametrize("built_inside_the_patch", [False, True])
def test_a_patched_signal_signal_is_what_start_installs_and_restores_through(built_inside_the_patch):
    """Test code that patches ``signal.signal`` (so that start() leaves the real handlers alone)
    keeps the real handlers untouched: the C function start() uses otherwise is not used then,
    also when the planner (and so databay's signal module) is first built under the patch."""
    script = textwrap.dedent("""
        import signal, sys, threading
        from unittest import mock
        from databay import Link
        from databay.planners import SchedulePlanner
        before = signal.getsignal(signal.SIGINT)
        inside = sys.argv[1] == "True"
        patch = mock.patch("signal.signal")
        if inside:
            patched = patch.start()
        planner = SchedulePlanner(Link([], [], 3600))
        seen = []
        def look():
            seen.append(signal.getsignal(signal.SIGINT) is before)
            planner.shutdown()
        threading.Timer(0.3, look).start()
        if not inside:
            patched = patch.start()
        planner.start()
        patch.stop()
        print(seen, patched.call_count, signal.getsignal(signal.SIGINT) is before)
    """)
    result = subprocess.run([sys.executable, "-c", script, str(built_inside_the_patch)], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[True]", "4", "True"]


def test_signal_handlers_are_restored_after_start(tmp_path):
    """A blocking start() in the main thread installs SIGINT/SIGTERM handlers and restores the
    previous ones; handle_signals=False leaves them alone."""
    script = textwrap.dedent("""
        import signal, threading
        from databay import Link
        from databay.planners import SchedulePlanner
        mine = lambda *args: None
        signal.signal(signal.SIGTERM, mine)
        seen = []
        for flag in (True, False):
            planner = SchedulePlanner(Link([], [], 3600), handle_signals=flag)
            def look(planner=planner):
                seen.append(signal.getsignal(signal.SIGTERM) is mine)
                planner.shutdown()
            threading.Timer(0.3, look).start()
            planner.start()
        print(seen, signal.getsignal(signal.SIGTERM) is mine)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[False,", "True]", "True"]
