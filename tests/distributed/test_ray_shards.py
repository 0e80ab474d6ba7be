"""ShardedRun on a real local Ray cluster (num_cpus=2), started once for this module.

Shards are other processes, so the nodes (tests/distributed/shard_factories.py)
report through files: delivered records, pulls, and on_start/on_shutdown calls.
A record names the grid slot its transfer ran for (wall time // interval), so
the files show which slots ran, which were missed and which ran twice.
"""

import collections
import os
import shutil
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


@pytest.fixture(scope="module")
def cluster():
    """A local two-CPU Ray cluster whose workers can import shard_factories; shut down after,
    its session files (logs, sockets) in a temporary directory that is removed too."""
    temp_dir = tempfile.mkdtemp(prefix="databay-ray-")
    ray.init(num_cpus=2, include_dashboard=False, namespace="databay", log_to_driver=False,
             configure_logging=False, _temp_dir=temp_dir,
             runtime_env={"env_vars": {"PYTHONPATH": HERE}})
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
        key, slot, pid = line.split()
        slots[key].append(int(slot))
        pids[key].add(int(pid))
    return slots, pids


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


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
