"""The benchmark scripts run (quick mode, our package only); no timing is asserted."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_driver_quick_mode_runs_every_workload():
    """driver.py --quick runs every workload against this repository and prints the table."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "driver.py"), "--quick",
                             "--ref", "none", "--ours", sys.executable],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for workload in ("W1", "W1b", "W2", "W2b", "W3", "W3b", "W4", "W4_default", "W5", "W6", "W7", "W8"):
        assert "| %s |" % workload in result.stdout, workload


def test_peers_quick_mode_runs_the_w4_shape_for_databay_and_the_sched_loop():
    """peers.py P5 (W4's shape) runs for databay and the sched loop and stamps every link's slot 0."""
    import json

    for peer in ("databay", "sched"):
        result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peers.py"), "P5", peer,
                                 "--quick"], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
        line = json.loads(result.stdout.strip().splitlines()[-1])
        assert line["workload"] == "P5" and line["peer"] == peer
        assert line["fires"] >= 5, line  # 5 links, each at least its first slot
        assert line["p50_ms"] <= line["p99_ms"], line
