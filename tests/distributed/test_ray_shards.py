"""ShardedRun on a real local Ray cluster (num_cpus=2), started once for this module.

Shards are other processes, so the nodes (tests/distributed/shard_factories.py)
report through files: delivered records, pulls, and on_start/on_shutdown calls.
A record names the grid slot its transfer ran for (wall time // interval), so
the files show which slots ran, which were missed and which ran twice.
"""

import collections
import os
import signal
import subprocess
import sys
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


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU Ray cluster whose workers can import shard_factories; shut down after."""
    ray.init(num_cpus=2, include_dashboard=False, namespace="databay", log_to_driver=False,
             configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": HERE}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def _slots(out_dir, kind, shard):
    """key -> list of slots (with repeats), and key -> set of pids, from ``kind-<shard>.txt``."""
    slots, pids = collections.defaultdict(list), collections.defaultdict(set)
    for line in _lines(out_dir / ("%s-%d.txt" % (kind, shard))):
        key, slot, pid = line.split()
        slots[key].append(int(slot))
        pids[key].add(int(pid))
    return slots, pids


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def test_two_shards_of_500_links_run_every_slot_and_deliver_every_record(cluster, tmp_path):
    """2 shards × 500 links at 0.2 s; Buffers hold records until stop() flushes them."""
    run = ShardedRun("shard_factories:slot_links", shards=2, name="every-slot",
                     factory_kwargs={"out_dir": str(tmp_path), "per_shard": 500, "interval": INTERVAL,
                                     "buffer_count": 3, "log_pulls": True})
    run.start()
    try:
        with pytest.raises(ShardError, match=r"a run named 'every-slot' is already running"):
            ShardedRun("shard_factories:all_links", name="every-slot").start()
        _wait_for(lambda: run.status()["transfers"] >= 1000 * 12, 60, "12 slots of 1000 links")
        status = run.status()
        assert (status["shards"], status["running"], status["links"]) == (2, 2, 1000)
        assert [shard["links"] for shard in status["per_shard"]] == [500, 500]
        assert status["failed_transfers"] == 0
    finally:
        finals = run.stop(timeout=60)
    assert [final["state"] for final in finals] == ["stopped", "stopped"], finals
    assert [final["links"] for final in finals] == [500, 500]
    assert not run.running
    for shard in (0, 1):
        delivered, _ = _slots(tmp_path, "delivered", shard)
        pulled, _ = _slots(tmp_path, "pulled", shard)
        assert len(delivered) == 500
        for key, slots in delivered.items():
            assert sorted(slots) == sorted(pulled[key]), key  # Buffers flushed: nothing held back
            assert len(slots) == len(set(slots)), (key, "a slot ran twice")
            assert sorted(slots) == list(range(min(slots), max(slots) + 1)), (key, "a slot missed")
            assert len(slots) >= 10
        events = collections.Counter(line.rsplit(" ", 1)[0]
                                     for line in _lines(tmp_path / ("events-%d.txt" % shard)))
        assert len(events) == 2000  # on_start and on_shutdown of 500 inlets and 500 outlets
        assert set(events.values()) == {1}, "a node was started or shut down more than once"


def test_sigkilled_shard_is_back_fast_and_the_other_never_misses_a_slot(cluster, tmp_path):
    """SIGKILL one shard's process mid-run: Ray restarts it; the grid is the same after."""
    run = ShardedRun("shard_factories:slot_links", shards=2, name="kill-one",
                     factory_kwargs={"out_dir": str(tmp_path), "per_shard": 50, "interval": INTERVAL,
                                     "log_pulls": True})
    run.start()
    try:
        _wait_for(lambda: run.status()["transfers"] >= 100 * 8, 60, "8 slots of 100 links")
        victim = run.status()["per_shard"][1]
        os.kill(victim["pid"], signal.SIGKILL)
        killed_at = time.time()

        def restarted():
            shard = run.status(timeout=1)["per_shard"][1]
            return shard["state"] == "running" and shard["pid"] != victim["pid"]

        _wait_for(restarted, 60, "the killed shard to come back")
        back = run.status()["per_shard"][1]
        assert back["links"] == 50
        downtime = back["started_at"] - killed_at
        assert downtime < 2.0, "the shard came back after %.2f s" % downtime
        before = run.status()["per_shard"][1]["transfers"]
        _wait_for(lambda: run.status()["per_shard"][1]["transfers"] >= before + 50 * 5, 60,
                  "5 slots after the restart")
    finally:
        finals = run.stop(timeout=60)
    assert [final["state"] for final in finals] == ["stopped", "stopped"], finals
    steady, steady_pids = _slots(tmp_path, "delivered", 0)
    assert len(steady) == 50
    for key, slots in steady.items():
        assert sorted(slots) == list(range(min(slots), max(slots) + 1)), (key, "shard 0 missed a slot")
        assert len(slots) == len(set(slots))
        assert len(steady_pids[key]) == 1
    pulled, pids = _slots(tmp_path, "pulled", 1)
    assert len(pulled) == 50
    for key, slots in pulled.items():
        assert len(pids[key]) == 2, "every link of shard 1 ran in both processes"
        assert len(slots) == len(set(slots)), (key, "a slot ran twice across the restart")


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
