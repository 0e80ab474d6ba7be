"""The observability benchmark workloads run (quick mode); timings are reported, never asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("workload, metric", [("W1_stats", "overhead_pct"),
                                              ("stats_2000", "ms_per_stats_call")])
def test_workload_runs_and_reports(workload, metric):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite.py"), workload, "--quick",
                             "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert metric in report["metrics"] or "skipped" in report["notes"], report
