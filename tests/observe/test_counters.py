"""link.stats() and planner.stats(): every counter, exactly, after transfers we drive."""

import json
import sys

import pytest

from databay import Link
from databay.support.buffers import Buffer
from databay.planners import SchedulePlanner


def _planner(links, **kwargs):
    """A SchedulePlanner that schedules nothing on its own for an hour: tests drive transfers."""
    return SchedulePlanner(links, immediate_transfer=False, ignore_exceptions=True, **kwargs)


def test_direct_transfers_count_runs_records_and_node_calls(obs):
    """link.transfer() x4, 3 records per pull, two outlets: every counter is exact."""
    inlet, first, second = obs.CountInlet(size=3), obs.KeepOutlet("a"), obs.KeepOutlet("b")
    link = Link(inlet, [first, second], interval=3600, tags=["orders"])
    for _ in range(4):
        link.transfer()
    stats = link.stats()
    assert stats["name"] == "orders"
    assert stats["transfers"] == {"run": 4, "succeeded": 4, "failed": 0, "skipped": 0, "missed": 0,
                                  "running": False}
    assert stats["records"]["pulled"] == 12
    assert stats["records"]["delivered"] == 24  # 12 to each outlet
    assert {key: stats["records"][key] for key in ("refused", "retried", "dropped", "dead_lettered")} == \
        dict.fromkeys(("refused", "retried", "dropped", "dead_lettered"), 0)
    nodes = {node["name"]: node for node in stats["nodes"]}
    assert nodes["CountInlet(in)"]["calls"] == 4 and nodes["CountInlet(in)"]["role"] == "inlet"
    for name in ("KeepOutlet(a)", "KeepOutlet(b)"):
        assert nodes[name]["calls"] == 4 and nodes[name]["failures"] == 0
        assert nodes[name]["records_delivered"] == 12
    assert len(first.records) == len(second.records) == 12
    assert stats["health"] == "ok" and stats["last_error"] is None
    assert stats["last_transfer"] is None  # only planner-run transfers are timed
    json.dumps(stats, allow_nan=False)


def test_failing_outlet_under_ignore_exceptions_fails_the_transfer_and_names_the_node(obs):
    """A node failure ignored by ignore_exceptions still makes the transfer failed, with the node named."""
    good, bad = obs.KeepOutlet("good"), obs.KeepOutlet("bad", failing=True)
    link = Link(obs.CountInlet(size=2), [good, bad], interval=3600, ignore_exceptions=True)
    for _ in range(3):
        link.transfer()
    stats = link.stats()
    assert stats["transfers"]["run"] == 3
    assert stats["transfers"]["failed"] == 3 and stats["transfers"]["succeeded"] == 0
    assert stats["records"]["pulled"] == 6
    assert stats["records"]["delivered"] == 6  # the good outlet's; the bad one took none
    assert stats["records"]["refused"] == 6
    nodes = {node["name"]: node for node in stats["nodes"]}
    assert nodes["KeepOutlet(bad)"]["failures"] == 3 and nodes["KeepOutlet(bad)"]["records_delivered"] == 0
    assert nodes["KeepOutlet(good)"]["failures"] == 0 and nodes["KeepOutlet(good)"]["records_delivered"] == 6
    assert stats["last_error"]["type"] == "ValueError"
    assert stats["last_error"]["message"] == "database bad refused the batch"
    assert stats["last_error"]["node"] == "outlet KeepOutlet(bad)"
    assert stats["health"] == "failing" and stats["failing_since"] is not None


def test_raising_transfer_counts_once_and_recovers(obs):
    """Without ignore_exceptions a failing pull raises; one failure per transfer; success clears it."""
    inlet = obs.CountInlet(size=1, failing=True)
    link = Link(inlet, obs.KeepOutlet(), interval=3600)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            link.transfer()
    stats = link.stats()
    assert stats["transfers"]["run"] == 2 and stats["transfers"]["failed"] == 2
    assert stats["nodes"][0]["failures"] == 2 and stats["nodes"][0]["calls"] == 2
    assert stats["last_error"]["node"] == "inlet CountInlet(in)"
    assert stats["health"] == "failing"
    inlet.failing = False
    link.transfer()
    stats = link.stats()
    assert stats["transfers"] == {"run": 3, "succeeded": 1, "failed": 2, "skipped": 0, "missed": 0,
                                  "running": False}
    assert stats["health"] == "ok" and stats["failing_since"] is None
    assert stats["last_error"]["type"] == "ConnectionError"  # kept for the record


def test_planner_runs_are_timed_and_planner_stats_hold_every_link(obs):
    """force_transfer() on a running planner: durations, records per transfer, last success."""
    ok = Link(obs.CountInlet(size=2), obs.KeepOutlet(), interval=3600, tags=["ok"])
    bad = Link(obs.CountInlet(size=5), obs.KeepOutlet(failing=True), interval=3600, tags=["bad"])
    planner = _planner([ok, bad])
    with planner:
        for _ in range(3):
            planner.force_transfer()
        stats = planner.stats()
    assert stats["planner"]["type"] == "SchedulePlanner" and stats["planner"]["links"] == 2
    assert stats["planner"]["health"] == {"ok": 1, "idle": 0, "warning": 0, "failing": 1}
    by_name = {link["name"]: link for link in stats["links"]}
    assert list(by_name) == ["ok", "bad"]
    good = by_name["ok"]
    assert good["transfers"]["run"] == 3 and good["transfers"]["succeeded"] == 3
    assert good["recent"]["records"] == (2, 2, 2)
    assert good["duration_seconds"]["count"] == 3 and good["duration_seconds"]["window"] == 3
    assert 0 <= good["duration_seconds"]["p50"] <= good["duration_seconds"]["max"]
    assert good["lateness_seconds"]["count"] == 0  # on demand: not late for anything
    assert good["last_transfer"]["records"] == 2 and good["last_success_at"] is not None
    assert good["next_due_at"] is not None and good["next_due_at"] > stats["planner"]["time"] + 3000
    failing = by_name["bad"]
    assert failing["transfers"]["failed"] == 3 and failing["recent"]["records"] == (5, 5, 5)
    assert failing["last_success_at"] is None and failing["health"] == "failing"
    assert failing["failing_since"] <= failing["last_error"]["at"]
    json.dumps(stats, allow_nan=False)


def test_skipped_counts_a_transfer_refused_because_the_link_is_busy(obs):
    """A transfer asked for while the link's own transfer runs is skipped and counted."""
    inlet = obs.CountInlet()
    link = Link(inlet, obs.KeepOutlet(), interval=3600)
    planner = _planner(link)
    with planner:
        inlet.hook = lambda: (setattr(inlet, "hook", None), planner.force_transfer())
        planner.force_transfer()
        stats = link.stats()
    assert inlet.pulls == 1
    assert stats["transfers"]["run"] == 1 and stats["transfers"]["skipped"] == 1
    assert stats["health"] == "warning" and stats["last_warning"]["kind"] == "transfer_skipped"


def test_nodes_count_from_when_they_were_attached(obs):
    """An outlet added later counts its own calls; a removed one disappears from the snapshot."""
    first, later = obs.KeepOutlet("first"), obs.KeepOutlet("later")
    link = Link(obs.CountInlet(size=2), first, interval=3600)
    link.transfer()
    link.add_outlets(later)
    link.transfer()
    nodes = {node["name"]: node for node in link.stats()["nodes"]}
    assert nodes["KeepOutlet(first)"]["calls"] == 2 and nodes["KeepOutlet(first)"]["records_delivered"] == 4
    assert nodes["KeepOutlet(later)"]["calls"] == 1 and nodes["KeepOutlet(later)"]["records_delivered"] == 2
    link.remove_outlets(first)
    assert [node["name"] for node in link.stats()["nodes"]] == ["CountInlet(in)", "KeepOutlet(later)"]


def test_look_alike_nodes_get_unique_names(obs):
    """Two outlets with the same repr are told apart (metric labels must be unique)."""
    link = Link(obs.CountInlet(), [obs.KeepOutlet("x"), obs.KeepOutlet("x")], interval=3600)
    assert [node["name"] for node in link.stats()["nodes"]] == \
        ["CountInlet(in)", "KeepOutlet(x)", "KeepOutlet(x)#2"]


def test_flush_counts_delivered_records_but_no_transfer(obs):
    """Records a Buffer releases at flush() are delivered and counted; a flush is no transfer."""
    outlet = obs.KeepOutlet()
    link = Link(obs.CountInlet(size=2), outlet, interval=3600, processors=[Buffer(count_threshold=100)])
    link.transfer()
    link.transfer()
    assert link.stats()["records"]["delivered"] == 0
    assert link.flush() is True
    stats = link.stats()
    assert stats["transfers"]["run"] == 2 and stats["records"]["pulled"] == 4
    assert stats["records"]["delivered"] == 4 and len(outlet.records) == 4
    assert stats["nodes"][1]["calls"] == 3  # two empty batches while the Buffer held, then the flush


def test_a_direct_transfer_calls_nothing_in_the_stats_module(obs):
    """The cost rule: a successful link.transfer() only bumps attributes, it calls no stats code."""
    link = Link(obs.CountInlet(size=2), obs.KeepOutlet(), interval=3600)
    link.transfer()  # warm up
    calls = []

    def profile(frame, event, arg):
        if event in ("call", "c_call") and "_stats" in frame.f_code.co_filename:
            calls.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        link.transfer()
    finally:
        sys.setprofile(None)
    assert calls == []
    assert link.stats()["transfers"]["run"] == 2


def test_stats_keys_are_documented_shape(obs):
    """The snapshot has the documented top-level keys (a changed shape breaks dashboards)."""
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600, key="ingest-1")
    stats = link.stats()
    assert set(stats) == {"name", "key", "tags", "interval_seconds", "health", "transfers", "records",
                          "last_transfer", "last_success_at", "failing_since", "last_error",
                          "last_warning", "next_due_at", "lateness_seconds", "duration_seconds",
                          "recent", "nodes"}
    assert stats["name"] == "ingest-1" and stats["health"] == "idle"


def test_the_readme_example_runs(tmp_path):
    """The README's "Watching a running planner" block runs as written."""
    import os
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "serve_status" in b)
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=str(root)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("status page: http://127.0.0.1:")
    assert json.loads(lines[1])["succeeded"] >= 1
    assert lines[2] == "# HELP databay_planner_running Whether the planner is running (1) or not (0)."
