"""``python -m databay run MODULE:ATTR``: every option and every exit code, in real subprocesses."""

import json
import signal
import sys
import time
import urllib.request

import pytest

from databay import planners

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LINK = """
link = Link(Count(), Keep(), interval=0.1, tags="t")
"""


# -- what ATTR may be -------------------------------------------------------

@pytest.mark.parametrize("attr, source", [
    ("planner", "from databay.planners import SchedulePlanner\n"
                "planner = SchedulePlanner(Link(Count(), Keep(), interval=60))"),
    ("link", "link = Link(Count(), Keep(), interval=60)"),
    ("links", "links = [Link(Count('a'), Keep('x'), interval=60), Link(Count('b'), Keep('y'), 60)]"),
    ("build", "def build():\n    return [Link(Count(), Keep(), interval=60)]"),
    ("holder.pipeline", "class holder:\n    pipeline = Link(Count(), Keep(), interval=60)"),
])
def test_attr_may_be_a_planner_link_list_or_callable(cli, attr, source):
    """Each accepted kind of ATTR runs: every link transfers once with --once."""
    cli.write(source)
    result = cli.run("run", "pipeline:" + attr, "--once")
    assert result.returncode == 0, result.stderr
    pushed = [json.loads(line) for line in cli.lines("pushed.txt")]
    expected = 2 if attr == "links" else 1
    assert len(pushed) == expected and all(p["n"] == 1 for p in pushed), pushed


def test_module_in_a_package_of_the_current_directory(cli):
    """PACKAGE.MODULE:ATTR imports from the current directory, like `python -m` does."""
    package = cli.workdir / "jobs"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    cli.write("link = Link(Count(), Keep(), interval=60)", name="jobs/nightly")
    result = cli.run("run", "jobs.nightly:link", "--once")
    assert result.returncode == 0, result.stderr
    assert len(cli.lines("pushed.txt")) == 1


# -- exit code 2: usage, import and build errors ----------------------------

def test_module_that_fails_to_import_exits_2_with_a_clear_message(cli):
    """An exception while importing the module: its traceback, then one line naming module and error."""
    cli.write("link = Link(Count(), Keep(), interval=60)\nrate = 1 / 0\n")
    result = cli.run("run", "pipeline:link", "--once")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "rate = 1 / 0" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == "databay run: error: importing 'pipeline' failed: ZeroDivisionError: division by zero"
    assert cli.lines("events.txt") == []  # nothing started


def test_module_whose_own_import_is_missing_shows_the_failing_import(cli):
    """A module that imports something missing is an import failure of that module, traceback included."""
    cli.write("import no_such_dependency_xyz\n")
    result = cli.run("run", "pipeline:link")
    assert result.returncode == 2
    assert "importing 'pipeline' failed: ModuleNotFoundError: No module named 'no_such_dependency_xyz'" \
        in result.stderr


@pytest.mark.parametrize("spec, message", [
    ("nowhere.at_all:planner", "cannot import 'nowhere.at_all': no module named 'nowhere'"),
    ("pipeline:missing", "module 'pipeline' has no attribute 'missing'"),
    ("pipeline", "'pipeline' is not MODULE:ATTR"),
    ("pipeline:", "'pipeline:' is not MODULE:ATTR"),
    ("pipeline:answer", "pipeline:answer gave 42 (a int); expected a planner, a Link"),
    ("pipeline:nothing", "pipeline:nothing gave an empty list"),
    ("pipeline:mixed", "pipeline:mixed gave a list holding 'oops' (a str)"),
    ("pipeline:broken_factory", "calling pipeline:broken_factory() failed: ValueError: no config"),
    ("pipeline:empty_planner", "which has no links: nothing to run"),
])
def test_bad_targets_exit_2_and_say_why(cli, spec, message):
    """Unimportable modules, missing attributes and wrong kinds of object: exit 2 and a clear message."""
    cli.write("""
        from databay.planners import SchedulePlanner
        answer = 42
        nothing = []
        mixed = [Link(Count(), Keep(), interval=60), "oops"]
        empty_planner = SchedulePlanner()
        def broken_factory():
            raise ValueError("no config")
    """)
    result = cli.run("run", spec, "--once")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert cli.lines("events.txt") == [] and cli.lines("pulled.txt") == []


@pytest.mark.parametrize("args, message", [
    (["--once", "--check"], "not allowed with argument"),
    (["--once", "--for", "3"], "not allowed with argument"),
    (["--for", "0"], "'0' is not a positive number of seconds"),
    (["--for", "soon"], "'soon' is not a positive number of seconds"),
    (["--threads", "0"], "'0' is not a whole number >= 1"),
    (["--status-port", "70000"], "'70000' is not a TCP port"),
    (["--status-port", "8080", "--once"], "cannot be combined with --once"),
    (["--log-format", "xml"], "invalid choice: 'xml'"),
    (["--log-level", "loud"], "invalid choice: 'LOUD'"),
])
def test_usage_errors_exit_2(cli, args, message):
    """Contradictory or malformed options: argparse's usage message and exit code 2, nothing runs."""
    cli.write(LINK)
    result = cli.run("run", "pipeline:link", *args)
    assert result.returncode == 2
    assert "usage: python -m databay run" in result.stderr and message in result.stderr
    assert cli.lines("pulled.txt") == []


def test_threads_for_a_built_planner_is_a_usage_error(cli):
    """--threads sets the planner the CLI builds; for a planner ATTR built itself, it says so."""
    cli.write("from databay.planners import SchedulePlanner\n"
              "planner = SchedulePlanner(Link(Count(), Keep(), interval=60))\n")
    result = cli.run("run", "pipeline:planner", "--threads", "4", "--once")
    assert result.returncode == 2
    assert "--threads 4: pipeline:planner is an already built SchedulePlanner" in result.stderr


def test_status_port_without_serve_status_fails_clearly(cli):
    """--status-port needs planner.serve_status(); a planner without it: exit 2, nothing runs."""
    cli.write("""
        from databay.planners import SchedulePlanner
        class Plain(SchedulePlanner):
            serve_status = None
        planner = Plain(Link(Count(), Keep(), interval=60))
    """)
    result = cli.run("run", "pipeline:planner", "--status-port", "0")
    assert result.returncode == 2
    assert "--status-port needs Plain.serve_status(), which this databay version does not provide" \
        in result.stderr
    assert cli.lines("pulled.txt") == []


@pytest.mark.skipif(not hasattr(planners.SchedulePlanner, "serve_status"),
                    reason="planner.serve_status() is not on this branch yet (observability issue)")
def test_status_port_serves_the_status_endpoint(cli):
    """--status-port PORT: /healthz answers while the pipeline runs."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli.write(LINK)
    process = cli.popen("run", "pipeline:link", "--status-port", str(port), "--for", "30")
    try:
        cli.wait_for_lines("pushed.txt", 1, process)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=5) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


@pytest.mark.skipif(not hasattr(planners.SchedulePlanner, "serve_status"),
                    reason="planner.serve_status() is not on this branch yet (observability issue)")
def test_status_port_in_use_exits_2_before_anything_runs(cli):
    """A port that cannot be bound: a clear message naming it, exit 2, no transfer."""
    import socket

    cli.write(LINK)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli.run("run", "pipeline:link", "--status-port", str(port), "--for", "30")
    assert result.returncode == 2
    assert "cannot serve the status page on 127.0.0.1:%d" % port in result.stderr
    assert cli.lines("pulled.txt") == []


# -- --once -----------------------------------------------------------------

def test_once_runs_each_link_once_flushes_and_stops_every_node(cli):
    """--once: on_start, one transfer per link, Buffers flushed, on_shutdown; exit 0."""
    cli.write("""
        links = [Link(Count("a"), Keep("x"), interval=0.01, processors=[Buffer(count_threshold=100)]),
                 Link(Count("b"), Keep("y"), interval=0.01)]
    """)
    result = cli.run("run", "pipeline:links", "--once")
    assert result.returncode == 0, result.stderr
    assert sorted(cli.lines("pulled.txt")) == ["a 1", "b 1"]
    assert sorted(json.loads(line)["source"] for line in cli.lines("pushed.txt")) == ["a", "b"]
    events = cli.lines("events.txt")
    assert sorted(events) == ["start a", "start b", "start x", "start y",
                              "stop a", "stop b", "stop x", "stop y"]
    assert "--once: 2 link(s) ran once, nothing failed" in result.stderr


def test_once_exits_1_when_a_link_raises_and_still_runs_the_others(cli):
    """--once: a failing link makes the exit code 1; the other links still run and all nodes stop."""
    cli.write("links = [Link(Fail(), Keep('x'), interval=60), Link(Count('b'), Keep('y'), interval=60)]")
    result = cli.run("run", "pipeline:links", "--once")
    assert result.returncode == 1
    assert "the source is down" in result.stderr
    assert cli.lines("pulled.txt") == ["b 1"]
    assert "stop x" in cli.lines("events.txt") and "stop b" in cli.lines("events.txt")


def test_once_exits_1_when_a_node_failure_was_only_logged(cli):
    """--once counts failures ignore_exceptions=True turned into log lines, even at --log-level CRITICAL."""
    cli.write("link = Link([Fail(), Count('b')], Keep('y'), interval=60, ignore_exceptions=True)")
    result = cli.run("run", "pipeline:link", "--once", "--log-level", "CRITICAL")
    assert result.returncode == 1
    assert cli.lines("pushed.txt") == ['{"source": "b", "n": 1}']
    assert "the source is down" not in result.stderr  # CRITICAL hides the ERROR lines...
    result = cli.run("run", "pipeline:link", "--once")
    assert result.returncode == 1 and "the source is down" in result.stderr  # ...the default shows them


# -- --check ----------------------------------------------------------------

def test_check_prints_the_pipeline_starts_and_stops_nodes_and_transfers_nothing(cli):
    """--check: lists links and nodes, runs on_start/on_shutdown of every node, pulls nothing; exit 0."""
    cli.write("links = [Link(Count('a'), Keep('x'), interval=5, tags='fast'), "
              "Link(Count('b'), Keep('y'), interval=60, processors=[Buffer(count_threshold=3)])]")
    result = cli.run("run", "pipeline:links", "--check")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pipeline:links: SchedulePlanner with 2 link(s), 4 node(s)" in out
    assert "link fast every 5s" in out and "link (untagged) every 60s" in out
    assert "processor Buffer(count_threshold=3" in out
    assert "check passed" in out
    assert cli.lines("pulled.txt") == [] and cli.lines("pushed.txt") == []
    assert sorted(cli.lines("events.txt")) == ["start a", "start b", "start x", "start y",
                                               "stop a", "stop b", "stop x", "stop y"]


def test_check_exits_1_when_a_node_cannot_start(cli):
    """--check: a node whose on_start raises is reported; exit 1; the nodes that started are stopped."""
    cli.write("""
        class NoDatabase(Keep):
            def on_start(self):
                raise ConnectionError("database unreachable")
        links = [Link(Count('a'), NoDatabase('db'), interval=60), Link(Count('b'), Keep('y'), 60)]
    """)
    result = cli.run("run", "pipeline:links", "--check")
    assert result.returncode == 1
    assert "FAILED to start" in result.stdout and "ConnectionError: database unreachable" in result.stdout
    assert "check failed: 1 problem(s)" in result.stdout
    events = cli.lines("events.txt")
    assert "start b" in events and "stop b" in events and "stop y" in events


# -- a continuing run -------------------------------------------------------

def test_for_seconds_runs_repeatedly_then_shuts_down_cleanly(cli):
    """--for 2: transfers repeat on the interval, then a graceful shutdown flushes Buffers; exit 0."""
    cli.write("link = Link(Count(), Keep(), interval=0.1, processors=[Buffer(count_threshold=1000)])")
    started = time.monotonic()
    result = cli.run("run", "pipeline:link", "--for", "2")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 2
    pulled = cli.lines("pulled.txt")
    assert len(pulled) >= 3  # generous: a busy machine still runs a few 0.1 s slots in 2 s
    assert len(cli.lines("pushed.txt")) == len(pulled)  # the Buffer was flushed at shutdown
    assert cli.lines("events.txt")[-2:] == ["stop count", "stop keep"]
    assert "Shut down cleanly" in result.stderr


def test_a_planner_whose_start_does_not_block_runs_until_stopped(cli):
    """A custom planner that schedules on its own thread: `run` waits for it, then exits 0."""
    cli.write("""
        from databay import BasePlanner
        class Background(BasePlanner):
            def _schedule(self, link): pass
            def _unschedule(self, link): pass
            def _start_planner(self):
                self._stop = threading.Event()
                def loop():
                    while not self._stop.wait(0.1):
                        self.force_transfer()
                threading.Thread(target=loop, daemon=True).start()
            def _shutdown_planner(self, wait=True):
                self._stop.set()
        planner = Background(Link(Count(), Keep(), interval=1), immediate_transfer=False)
    """)
    result = cli.run("run", "pipeline:planner", "--for", "2")
    assert result.returncode == 0, result.stderr
    assert len(cli.lines("pushed.txt")) >= 2
    assert cli.lines("events.txt")[-2:] == ["stop count", "stop keep"]


def test_run_waits_for_the_teardown_of_a_planner_whose_start_does_not_block(cli):
    """`run --for` on a non-blocking planner: the timer's shutdown tears down in the timer's
    (daemon) thread; `run` exits only once that finished, so a slow on_shutdown still runs."""
    cli.write("""
        import time
        from databay import BasePlanner
        class SlowKeep(Keep):
            def on_shutdown(self):
                time.sleep(1.5)
                note("events.txt", "stop " + self.name)
        class Background(BasePlanner):
            def _schedule(self, link): pass
            def _unschedule(self, link): pass
            def _start_planner(self): pass
            def _shutdown_planner(self, wait=True): pass
        planner = Background(Link(Count(), SlowKeep(), interval=1))
    """)
    result = cli.run("run", "pipeline:planner", "--for", "0.5")
    assert result.returncode == 0, result.stderr
    assert cli.lines("events.txt") == ["start count", "start keep", "stop count", "stop keep"]


def test_a_planner_whose_start_does_not_block_and_stops_on_an_error_exits_1(cli):
    """Its start() returned long before the error, so `run` asks for the error after the teardown."""
    cli.write("""
        from databay import BasePlanner
        class Background(BasePlanner):
            def _schedule(self, link): self.link = link
            def _unschedule(self, link): pass
            def _start_planner(self):
                threading.Timer(0.3, self._run_transfer, args=(self.link,)).start()
            def _shutdown_planner(self, wait=True): pass
        planner = Background(Link(Fail(), Keep(), interval=1), immediate_transfer=False)
    """)
    result = cli.run("run", "pipeline:planner", "--for", "30")
    assert result.returncode == 1, result.stderr
    assert "The planner stopped on an error: RuntimeError: the source is down" in result.stderr
    assert cli.lines("events.txt")[-1:] == ["stop keep"]


def test_planner_stopping_on_an_error_exits_1(cli):
    """A transfer error stops a planner with ignore_exceptions=False: exit 1, nodes stopped."""
    cli.write("links = [Link(Fail(), Keep('x'), interval=0.1), Link(Count('b'), Keep('y'), 60)]")
    result = cli.run("run", "pipeline:links", "--for", "30")
    assert result.returncode == 1
    assert "The planner stopped on an error: RuntimeError: the source is down" in result.stderr
    assert "stop x" in cli.lines("events.txt")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_run_shuts_down_gracefully_and_delivers_buffered_records(cli, signum):
    """SIGTERM or SIGINT during `run`: exit 0, every pulled record delivered, every node stopped."""
    cli.write("link = Link(Count(), Keep(), interval=0.05, processors=[Buffer(count_threshold=10**6)])")
    process = cli.popen("run", "pipeline:link")
    cli.wait_for_lines("pulled.txt", 3, process)
    assert cli.lines("pushed.txt") == []  # everything is still held by the Buffer
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "shutting down gracefully" in err
    pulled = cli.lines("pulled.txt")
    assert [json.loads(line)["n"] for line in cli.lines("pushed.txt")] == list(range(1, len(pulled) + 1))
    assert cli.lines("events.txt")[-2:] == ["stop count", "stop keep"]


def test_second_signal_exits_at_once_when_the_shutdown_hangs(cli):
    """A shutdown stuck in a node: the second SIGTERM ends the process now, with 128 + SIGTERM."""
    cli.write("""
        class Stuck(Keep):
            def on_shutdown(self):
                note("events.txt", "stuck")
                threading.Event().wait()   # never returns
        link = Link(Count(), Stuck(), interval=0.05)
    """)
    process = cli.popen("run", "pipeline:link")
    cli.wait_for_lines("pushed.txt", 1, process)
    process.send_signal(signal.SIGTERM)
    cli.wait_for_lines("events.txt", 3, process)  # start count, start keep, stuck
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGTERM
    assert "Received SIGTERM again: exiting at once" in err


def test_threads_limits_how_many_transfers_run_at_once(cli):
    """--threads N sizes the pool: two links that wait for each other meet with 2 threads, never with 1."""
    cli.write("""
        meeting = threading.Barrier(2, timeout=1.5)
        class Meet(Inlet):
            def pull(self, update):
                try:
                    meeting.wait()
                    note("met.txt", "met")
                except threading.BrokenBarrierError:
                    note("met.txt", "alone")
                    meeting.reset()
                return []
        links = [Link(Meet(), Keep('x'), interval=0.2, immediate_transfer=False),
                 Link(Meet(), Keep('y'), interval=0.2, immediate_transfer=False)]
    """)
    result = cli.run("run", "pipeline:links", "--threads", "2", "--for", "3")
    assert result.returncode == 0, result.stderr
    assert "met" in cli.lines("met.txt")
    (cli.workdir / "met.txt").unlink()
    result = cli.run("run", "pipeline:links", "--threads", "1", "--for", "3")
    assert result.returncode == 0, result.stderr
    assert "alone" in cli.lines("met.txt") and "met" not in cli.lines("met.txt")


# -- logging ----------------------------------------------------------------

def test_log_format_json_gives_one_json_object_per_line(cli):
    """--log-format json: every stderr line is a JSON object; errors carry their traceback inside."""
    cli.write("links = [Link(Fail(), Keep('x'), interval=60), Link(Count('b'), Keep('y'), 60)]")
    result = cli.run("run", "pipeline:links", "--once", "--log-format", "json")
    assert result.returncode == 1
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events and all({"time", "level", "logger", "message"} <= set(event) for event in events)
    failure = next(event for event in events if "the source is down" in event["message"])
    assert failure["level"] == "ERROR" and "Traceback" in failure["exception"]
    assert any(event["logger"] == "databay.cli" and "--once: 2 link(s), 1 failure(s)" in event["message"]
               for event in events)


def test_log_level_hides_less_severe_lines(cli):
    """--log-level WARNING: no INFO lines; the default INFO shows the planner's lifecycle."""
    cli.write(LINK)
    quiet = cli.run("run", "pipeline:link", "--once", "--log-level", "warning")
    assert quiet.returncode == 0 and quiet.stderr == ""
    chatty = cli.run("run", "pipeline:link", "--once")
    assert chatty.returncode == 0 and "|I| --once: 1 link(s) ran once" in chatty.stderr


def test_the_pipelines_own_loggers_are_shown(cli):
    """Logging goes to the root logger, so the pipeline module's own log lines appear too."""
    cli.write("""
        import logging
        class Chatty(Count):
            def pull(self, update):
                logging.getLogger("myapp").warning("pulling %s", update)
                return super().pull(update)
        link = Link(Chatty(), Keep(), interval=60, tags="job")
    """)
    result = cli.run("run", "pipeline:link", "--once", "--log-format", "json")
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"logger": "myapp", "level": "WARNING", "message": "pulling job.0"}.items() <= \
        next(event for event in events if event["logger"] == "myapp").items()


# -- help -------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["demo", "--help"]])
def test_help_is_plain_text(cli, args):
    """--help is argparse text: no reStructuredText markup, and run's help documents the exit codes."""
    result = cli.run(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m databay")
    for markup in ("``", ":class:", ":meth:", ".. "):
        assert markup not in result.stdout
    if args[0] == "run":
        for option in ("--once", "--check", "--for SECONDS", "--status-port PORT", "--threads N",
                       "--log-level", "--log-format", "exit codes:", "0  clean shutdown",
                       "1  the planner stopped on an error", "2  usage error"):
            assert option in result.stdout


def test_no_command_is_a_usage_error(cli):
    result = cli.run()
    assert result.returncode == 2 and "usage: python -m databay" in result.stderr
