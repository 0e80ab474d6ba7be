"""Logs stay readable when a node fails forever and a link is always busy.

A real planner runs for 30 s in a subprocess with default logging (warnings and
errors reach stderr through ``logging.lastResort``): one link at 10 ms whose
inlet always raises the same error, and one link at 10 ms whose pull takes
25 ms, so most of its slots are skipped. Without the repeat limiter this prints
thousands of lines (a traceback per failure, a warning per skip); with it, a
few dozen, each naming the link and the node.
"""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import threading, time
    from databay import Inlet, Link
    from databay.outlets import NullOutlet
    from databay.planners import SchedulePlanner

    class DeadEndpoint(Inlet):
        calls = 0
        def pull(self, update):
            DeadEndpoint.calls += 1
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        def __repr__(self):
            return "DeadEndpoint()"

    class SlowSource(Inlet):
        def pull(self, update):
            time.sleep(0.025)
            return 1
        def __repr__(self):
            return "SlowSource()"

    failing = Link(DeadEndpoint(), NullOutlet(), interval=0.01, tags="dead-api")
    slow = Link(SlowSource(), NullOutlet(), interval=0.01, tags="slow-source")
    planner = SchedulePlanner([failing, slow], ignore_exceptions=True)
    threading.Timer(30, planner.shutdown).start()
    planner.start()
    stats = slow.stats()
    print("failures", DeadEndpoint.calls, "skipped", stats["transfers"]["skipped"])
""")


@pytest.mark.slow
def test_a_node_failing_every_10_ms_for_30_s_logs_a_few_dozen_lines_naming_link_and_node(tmp_path):
    """Thousands of identical failures and skips give at most a few dozen stderr lines."""
    script = tmp_path / "flood.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    failures = int(words[words.index("failures") + 1])
    assert failures >= 200, done.stdout  # the node really failed again and again (100/s when on time)
    lines = done.stderr.splitlines()
    assert len(lines) <= 60, "%d stderr lines:\n%s" % (len(lines), "\n".join(lines[:80]))
    messages = [line for line in lines if "DeadEndpoint" in line or "SlowSource" in line
                or "dead-api" in line or "slow-source" in line]
    failure_lines = [line for line in messages if "DeadEndpoint" in line]
    assert failure_lines, done.stderr
    assert all("dead-api" in line for line in failure_lines), failure_lines
    skip_lines = [line for line in lines if "kip" in line]  # "Skipped ..." / "skipped ..."
    assert skip_lines, done.stderr  # the slow link was skipped, and it was said
    # One message for the planner's skips, then summaries; each names a link (the latest skipped).
    assert all("Link(tags:[" in line for line in skip_lines), skip_lines
