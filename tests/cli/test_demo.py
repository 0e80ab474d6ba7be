"""``python -m databay demo``: runs, prints readable readings in the batches the README promises."""

import os
import re
import subprocess
import sys
from collections import Counter

from .conftest import ROOT


def _demo(*args, tmpdir=None):
    env = None if tmpdir is None else {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.run([sys.executable, "-m", "databay", "demo", "--seconds", "1.5", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def test_demo_twice_into_the_same_directory_checks_only_this_runs_records(tmp_path):
    """Re-running with the same --out appends; each run compares its own records with the rows it added."""
    for _ in range(2):
        result = _demo("--out", str(tmp_path), "--quiet")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "OK: every record of this run reached both files" in result.stdout
        produced = int(re.search(r"this run produced (\d+) records", result.stdout).group(1))
        assert produced > 0
        assert "CSV got %d new rows" % produced in result.stdout
        assert "SQLite got %d" % produced in result.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["readings.csv", "readings.sqlite"]


def test_demo_prints_readable_readings_six_at_a_time(tmp_path):
    """Each printed line is `demo.N {'city': ..., 'celsius': ...}`; the Buffer releases two transfers (6).

    Without --out the demo writes into a new temporary directory, which it names; the test points
    TMPDIR at its own tmp_path so that directory is cleaned up with it.
    """
    result = _demo(tmpdir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (workdir,) = tmp_path.iterdir()
    assert workdir.name.startswith("databay-demo-") and str(workdir) in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("databay 0.4.0 demo: polling http://127.0.0.1:")
    records = [line for line in lines if line.startswith("demo.")]
    assert records
    for line in records:
        pattern = r"demo\.\d+ \{'city': '(Oslo|Lima|office)', 'celsius': -?\d+(\.\d+)?\}"
        assert re.fullmatch(pattern, line), line
    batches = Counter(line.split(" ")[0] for line in records)
    sizes = [batches[tag] for tag in sorted(batches, key=lambda tag: int(tag.split(".")[1]))]
    assert all(size == 6 for size in sizes[:-1]), sizes  # the last one is the shutdown flush
    assert 0 < sizes[-1] <= 6
