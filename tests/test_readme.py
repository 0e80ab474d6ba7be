"""The README's examples run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_quickstart_runs_and_prints_transfers():
    """The quickstart block runs, prints tagged records and ends by itself after shutdown()."""
    block = next(b for b in _python_blocks() if "Counter" in b)
    env = dict(os.environ, PYTHONPATH=str(README.parent))
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                            timeout=30, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("quickstart.0 Record(payload={'count': 0}")
    assert 3 <= len(lines) <= 6


def test_custom_planner_example_runs_links():
    """The 'write your own planner' example is a working BasePlanner subclass."""
    block = next(b for b in _python_blocks() if "EveryTickPlanner" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    from databay import Inlet, Link, Outlet

    seen = []

    class Source(Inlet):
        def pull(self, update):
            return update.transfer_number

    class Sink(Outlet):
        def push(self, records, update):
            seen.extend(record.payload for record in records)
            if len(seen) >= 3:
                planner.shutdown(wait=False)

    planner = namespace["EveryTickPlanner"](Link(Source(), Sink(), 1), tick=0.01)
    planner.start()
    assert seen[:3] == [0, 1, 2]
    assert not planner.running


def test_inlet_tester_example_passes(tmp_path):
    """The 'Test your inlet' example is a passing InletTester subclass under pytest."""
    block = next(b for b in _python_blocks() if "databay_testing.InletTester" in b)
    (tmp_path / "test_counter_inlet.py").write_text(block, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(README.parent))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "test_counter_inlet.py")],
                            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\d+ passed", result.stdout)
