"""ShardedRun on a real local Ray cluster (num_cpus=2), started once for this module.

Shards are other processes, so the nodes (tests/distributed/shard_factories.py)
report through files: delivered records, pulls, the planner's own counts of
skipped and missed slots, and on_start/on_shutdown calls. A record names the
grid slot its transfer was dispatched for, so the files show which slots ran
and whether one ran twice; the grid itself (slot k of a link is due at
k * interval + the link's fixed jitter) says which slots were due.
"""

import collections
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from databay.distributed import RayBackend, ShardedRun, ShardError

ray = pytest.importorskip("ray", reason="Ray is not installed (scripts/setup.d/ray.sh installs the "
                                        "databay[ray] extra where Ray publishes a wheel)")

pytestmark = [
    # Ray's own modules warn about their deprecated internals; databay's warnings still fail.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:google"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INTERVAL = 0.2
KILL_INTERVAL = 0.5  # the kill test journals every pull: SQLite checkpoints need room on a busy machine


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU Ray cluster whose workers can import shard_factories; shut down after,
    its session files (logs, sockets) in a temporary directory that is removed too."""
    temp_dir = tempfile.mkdtemp(prefix="databay-ray-")
    # The cluster's processes inherit PYTHONPATH from this one while ray.init starts them. A
    # runtime_env={"env_vars": ...} would do too, but then every worker process boots twice
    # (Ray's setup_worker, then the worker) and cannot be one of the workers Ray prestarts:
    # each start and each restart would take about a second longer.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, ROOT, saved]))
    try:
        ray.init(num_cpus=2, include_dashboard=False, namespace="databay", log_to_driver=False,
                 configure_logging=False, _temp_dir=temp_dir)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def _slots(out_dir, kind, shard):
    """key -> list of slots (with repeats), and key -> set of pids, from ``kind-<shard>.txt``."""
    slots, pids = collections.defaultdict(list), collections.defaultdict(set)
    for line in _lines(out_dir / ("%s-%d.txt" % (kind, shard))):
        key, slot, pid = line.split()[:3]
        slots[key].append(int(slot))
        pids[key].add(int(pid))
    return slots, pids


def _check_every_slot_accounted(out_dir, shard, kind="delivered", allow_missed=False):
    """Check each link's slots of ``shard``'s one process against the grid; return the totals.

    Ground truth is the grid: every slot from a link's first run to its last was
    due. Each must have run exactly once or, only where that link's previous
    transfer was still running at the slot's due time, been skipped by the
    planner's no-overlap rule and counted as skipped; no slot may be lost without
    the planner counting it, and none may run twice. Other processes saturating the
    machine delay transfers and so cause skips, never repeats or silent losses.
    The planner must have missed none (a miss means the whole shard stalled for an
    interval), unless ``allow_missed``: then missed slots count like skipped ones.
    """
    slots, pids = _slots(out_dir, kind, shard)
    counts = {}
    for line in _lines(out_dir / ("pull-counts-%d.txt" % shard)):
        key, pid, pulls, skipped, missed = line.split()
        counts[key] = (int(pid), int(pulls), int(skipped), int(missed))
    assert set(slots) == set(counts) and slots, (sorted(slots)[:3], sorted(counts)[:3])
    due = ran = skipped_total = 0
    for key, ran_slots in slots.items():
        pid, pulls, skipped, missed = counts[key]
        assert pids[key] == {pid}, (key, "the links of shard %d ran in one process" % shard)
        assert len(ran_slots) == len(set(ran_slots)) == pulls, (key, "a slot ran twice")
        assert allow_missed or missed == 0, (key, "the planner missed %d slot(s)" % missed)
        counted = skipped + (missed if allow_missed else 0)
        link_due = max(ran_slots) - min(ran_slots) + 1
        lost = link_due - len(ran_slots)
        assert lost <= counted, (key, "%d due slot(s) neither ran nor were counted: %s" % (
            lost - counted, sorted(set(range(min(ran_slots), max(ran_slots) + 1)) -
                                   set(ran_slots))[:10]))
        due, ran, skipped_total = due + link_due, ran + len(ran_slots), skipped_total + counted
    print("shard %d: %d of %d due slots ran, %d skipped%s by the planner (load %.1f)"
          % (shard, ran, due, skipped_total, " or missed" if allow_missed else "",
             os.getloadavg()[0]))
    # Skips are a busy machine's doing, but a shard that skipped most of its slots is broken.
    assert ran >= due / 2, (shard, ran, due)
    return due, ran


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.5)  # status() asks every shard for its planner's stats(): not too often


def test_two_shards_of_500_links_run_every_slot_and_deliver_every_record(cluster, tmp_path):
    """2 shards × 500 links at 0.2 s; Buffers hold records until stop() flushes them."""
    run = ShardedRun("shard_factories:slot_links", shards=2, name="every-slot",
                     factory_kwargs={"out_dir": str(tmp_path), "per_shard": 500, "interval": INTERVAL,
                                     "buffer_count": 3, "jitter": 0.4 * INTERVAL})
    run.start()
    try:
        with pytest.raises(ShardError, match=r"a run named 'every-slot' is already running"):
            ShardedRun("shard_factories:all_links", name="every-slot").start()
        _wait_for(lambda: run.status()["transfers"] >= 1000 * 12, 60, "12 slots of 1000 links")
        status = run.status()
        assert (status["shards"], status["running"], status["links"]) == (2, 2, 1000)
        assert [shard["links"] for shard in status["per_shard"]] == [500, 500]
        assert status["failed_transfers"] == 0
        # Ray started the workers at niceness 15; the shards run at RayBackend's default 0
        # (lowering it needs root here: elsewhere they log how to start the cluster).
        if os.geteuid() == 0:
            assert [shard["niceness"] for shard in status["per_shard"]] == [0, 0]
    finally:
        finals = run.stop(timeout=60)
    assert [final["state"] for final in finals] == ["stopped", "stopped"], finals
    assert [final["links"] for final in finals] == [500, 500]
    assert not run.running
    for shard in (0, 1):
        # each record delivered once; 0.2 s is short enough for a saturated machine to
        # stall a whole shard past a slot now and then: the planner counts it as missed
        due, ran = _check_every_slot_accounted(tmp_path, shard, allow_missed=True)
        assert ran >= 500 * 3  # every link kept running
        events = collections.Counter(line.rsplit(" ", 1)[0]
                                     for line in _lines(tmp_path / ("events-%d.txt" % shard)))
        assert len(events) == 2000  # on_start and on_shutdown of 500 inlets and 500 outlets
        assert set(events.values()) == {1}, "a node was started or shut down more than once"


def _fresh_worker_seconds():
    """How long Ray takes right now to start an actor in a new worker process: most of a
    shard's restart, and what a busy machine slows down. A probe that lands in a worker
    process Ray had started earlier does not count: it stays while the next one starts."""
    from shard_factories import BootProbe

    probes = []
    try:
        for _ in range(4):
            asked = time.time()
            probes.append(ray.remote(num_cpus=0)(BootProbe).remote())
            _pid, process_started = ray.get(probes[-1].started.remote(), timeout=60)
            if process_started >= asked - 0.05:  # /proc start times tick in 1/100 s
                return time.time() - asked
        return float("nan")  # only old workers: no measure, so the 2 s bound stands
    finally:
        for probe in probes:
            ray.kill(probe)


def test_sigkilled_shard_is_back_fast_and_the_other_never_misses_a_slot(cluster, tmp_path):
    """SIGKILL one shard's process mid-run: Ray restarts it, the grid is the same after,
    and the journal replays what the killed process held in its Buffers.

    "Back" is when the restarted shard's planner runs again: within 2 s, or on a
    machine so busy that Ray itself needs longer to start a worker process, within
    1.5 times what a fresh worker takes, measured right after. The shard's own part of
    the restart (factory, planner) must be small either way.
    """
    # The Buffers release nothing before stop(): at the kill they hold every record the
    # killed process pulled (journaled, not yet pushed), whatever the moment of the kill.
    links = {"per_shard": 50, "interval": KILL_INTERVAL, "jitter": 0.4 * KILL_INTERVAL,
             "buffer_count": 1000, "journal": True, "log_pulls": True, "log_acks": True}
    run = ShardedRun("shard_factories:slot_links", shards=2, name="kill-one",
                     factory_kwargs={"out_dir": str(tmp_path), **links})
    run.start()
    try:
        _wait_for(lambda: run.status()["transfers"] >= 100 * 4, 60, "4 slots of 100 links")
        steady, victim = run.status()["per_shard"]
        os.kill(victim["pid"], signal.SIGKILL)
        killed_at = time.time()

        def restarted():
            shard = run.status(timeout=1)["per_shard"][1]
            return shard["state"] == "running" and shard["pid"] != victim["pid"]

        _wait_for(restarted, 60, "the killed shard to come back")
        back = run.status()["per_shard"][1]
        before = back["transfers"]
        _wait_for(lambda: run.status()["per_shard"][1]["transfers"] >= before + 50 * 3, 60,
                  "3 slots after the restart")
        assert run.status()["per_shard"][0]["pid"] == steady["pid"]
    finally:
        finals = run.stop(timeout=60)
    boot = {step: at - killed_at for step, at in back["boot"].items()}
    downtime = back["started_at"] - killed_at
    fresh_worker = _fresh_worker_seconds() if downtime >= 2.0 else float("nan")  # only if needed
    print("restart: back after %.2f s (new process at +%.2f s, shard start +%.2f s, links built "
          "+%.2f s, planner running +%.2f s); a fresh Ray worker takes %.2f s now (load %.1f)"
          % (downtime, boot["process"], boot["start"], boot["built"], boot["running"],
             fresh_worker, os.getloadavg()[0]))
    assert back["links"] == 50
    assert downtime < 2.0 or downtime < 1.5 * fresh_worker, (downtime, fresh_worker, boot)
    assert boot["running"] - boot["start"] < 0.5, ("the shard's own start-up is slow", boot)
    assert [final["state"] for final in finals] == ["stopped", "stopped"], finals
    # Shard 0 was never killed: one process throughout, and every slot of its links due
    # before, during and after shard 1's restart is accounted for.
    _check_every_slot_accounted(tmp_path, 0)
    pulled, pids = _slots(tmp_path, "pulled", 1)
    assert len(pulled) == 50
    for key, slots in pulled.items():
        assert len(pids[key]) == 2, "every link of shard 1 ran in both processes"
        assert len(slots) == len(set(slots)), (key, "a slot ran twice across the restart")
    replayed = old_records = 0
    for shard in (0, 1):
        delivered, delivered_pids = _slots(tmp_path, "delivered", shard)
        acked, acked_pids = _slots(tmp_path, "acked", shard)
        assert len(acked) == 50
        for key, slots in acked.items():
            missing = set(slots) - set(delivered[key])
            assert not missing, (key, "journaled records were lost", sorted(missing))
        by_pid = collections.defaultdict(set)
        for line in _lines(tmp_path / ("delivered-%d.txt" % shard)):
            key, slot, pid = line.split()
            by_pid[int(pid)].add((key, int(slot)))
        if shard == 1:  # records the killed process held were delivered by its successor
            old = {(key, int(slot)) for line in _lines(tmp_path / "acked-1.txt")
                   for key, slot, pid in [line.split()] if int(pid) == victim["pid"]}
            replayed, old_records = len(old & by_pid[back["pid"]]), len(old)
        with sqlite3.connect(str(tmp_path / ("journal-%d.sqlite" % shard))) as journal:
            left = journal.execute("SELECT (SELECT COUNT(*) FROM databay_pulled) + "
                                   "(SELECT COUNT(*) FROM databay_queued)").fetchone()[0]
        assert left == 0, "a clean stop leaves the journal empty"
    assert replayed == old_records > 0, ("records held at the kill and not replayed by the "
                                         "restarted shard", old_records - replayed)


def test_a_detached_run_is_stopped_from_a_second_driver(cluster, tmp_path):
    run = ShardedRun("shard_factories:slot_links", shards=2, name="detached-run", detached=True,
                     factory_kwargs={"out_dir": str(tmp_path), "per_shard": 5, "interval": INTERVAL})
    run.start()
    _wait_for(lambda: run.status()["transfers"] >= 10 * 3, 60, "3 slots of 10 links")
    driver = textwrap.dedent("""
        import json, sys
        from databay.distributed import RayBackend, ShardedRun
        run = ShardedRun.attach("detached-run", backend=RayBackend(address=sys.argv[1]))
        print(json.dumps([shard["state"] for shard in run.stop(timeout=30)]))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, HERE]))
    result = subprocess.run([sys.executable, "-c", driver, cluster], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == '["stopped", "stopped"]'
    for shard in (0, 1):
        events = collections.Counter(line.split()[0] for line in
                                     _lines(tmp_path / ("events-%d.txt" % shard)))
        assert events == {"on_start": 10, "on_shutdown": 10}
    for index in (0, 1):  # the actors are gone, not just idle
        with pytest.raises(ValueError):
            ray.get_actor("detached-run.shard-%d" % index, namespace="databay")
    with pytest.raises(ShardError, match=r"no run named 'detached-run'"):
        ShardedRun.attach("detached-run", backend=RayBackend())


def test_a_failing_factory_fails_start_and_leaves_no_shard(cluster):
    run = ShardedRun("shard_factories:broken", shards=2, name="broken-run")
    with pytest.raises(ShardError, match=r"(?s)run 'broken-run' failed to start.*shard 0.*cannot "
                                         r"reach its database.*shard 1"):
        run.start()
    assert not run.running
    for index in (0, 1):
        with pytest.raises(ValueError):
            ray.get_actor("broken-run.shard-%d" % index, namespace="databay")
