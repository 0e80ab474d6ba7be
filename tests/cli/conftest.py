"""Helpers for the command-line tests: write a pipeline module, run ``python -m databay`` on it."""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Nodes the test pipelines share: each writes what happened to files in the
# working directory, so the test reads the truth after the process is gone.
NODES = textwrap.dedent('''
    import json, os, threading
    from databay import Inlet, Link, Outlet
    from databay.support.buffers import Buffer

    def note(name, text):
        with open(name, "a", encoding="utf-8") as handle:
            handle.write(text + "\\n")

    def lines(name):
        if not os.path.exists(name):
            return []
        with open(name, encoding="utf-8") as handle:
            return handle.read().splitlines()

    class Count(Inlet):
        """Pulls 1, 2, 3, ... and notes each value in pulled.txt."""
        def __init__(self, name="count"):
            super().__init__()
            self.name, self.n = name, 0
        def pull(self, update):
            self.n += 1
            note("pulled.txt", "%s %d" % (self.name, self.n))
            return {"source": self.name, "n": self.n}
        def on_start(self):
            note("events.txt", "start " + self.name)
        def on_shutdown(self):
            note("events.txt", "stop " + self.name)

    class Keep(Outlet):
        """Notes every record it gets in pushed.txt."""
        def __init__(self, name="keep", **kwargs):
            super().__init__(**kwargs)
            self.name = name
        def push(self, records, update):
            for record in records:
                note("pushed.txt", json.dumps(record.payload))
        def on_start(self):
            note("events.txt", "start " + self.name)
        def on_shutdown(self):
            note("events.txt", "stop " + self.name)

    class Fail(Inlet):
        """Raises on every pull."""
        def pull(self, update):
            raise RuntimeError("the source is down")
''')


class Cli:
    """Runs ``python -m databay ...`` in a temporary directory holding ``pipeline.py``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.env.pop("PYTHONWARNINGS", None)

    def write(self, source: str, name: str = "pipeline") -> None:
        (self.workdir / ("%s.py" % name)).write_text(NODES + textwrap.dedent(source), encoding="utf-8")

    def command(self, *args: str) -> list:
        return [sys.executable, "-m", "databay", *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.workdir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lines(self, name: str) -> list:
        path = self.workdir / name
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def wait_for_lines(self, name: str, count: int, process: subprocess.Popen, timeout: float = 30) -> None:
        """Block until file ``name`` has ``count`` lines (the pipeline is demonstrably running)."""
        deadline = time.monotonic() + timeout
        while len(self.lines(name)) < count:
            if process.poll() is not None:
                raise AssertionError("the process ended early: %s" % (process.communicate(),))
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError("%s never got %d lines: %s" % (name, count, process.communicate()))
            time.sleep(0.05)


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path)
