"""A restarted shard resumes the wall-clock grid of the process it replaces (no Ray needed).

The restart happens mid-slot, where an immediate transfer or a grid anchored
at the restart would run off the grid: every pull must run early in its own
slot, no slot twice, none skipped.
"""

import collections
import time

import pytest

from databay.distributed import Shard
from databay.distributed._spec import RunSpec

INTERVAL = 1.0


@pytest.fixture(autouse=True)
def _close_report_files():
    """The shards run in this process: close the files their nodes report to."""
    yield
    import shard_factories

    shard_factories._Log.close_all()


def _pulls(path):
    """key -> [(slot, seconds after the slot began)], in pull order."""
    pulls = collections.defaultdict(list)
    for line in path.read_text().splitlines():
        key, slot, _pid, late = line.split()
        pulls[key].append((int(slot), float(late)))
    return pulls


def _wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_shard_restarted_mid_slot_resumes_the_same_grid(tmp_path):
    spec = RunSpec("restart", "shard_factories:slot_links", 1,
                   {"out_dir": str(tmp_path), "per_shard": 5, "interval": INTERVAL,
                    "log_pulls": True}, {}, False, -1)
    log = tmp_path / "pulled-0.txt"
    count = lambda: len(log.read_text().splitlines()) if log.exists() else 0  # noqa: E731
    first = Shard(spec, 0)
    first.start(timeout=60)
    try:
        _wait_for(lambda: count() >= 10, 30)  # two slots
        _wait_for(lambda: 0.55 <= (time.time() / INTERVAL) % 1 <= 0.7, 30)
    finally:
        first.stop(timeout=30)
    before = count()
    second = Shard(spec, 0)  # what Ray does after a crash: the same spec, a new Shard
    second.start(timeout=60)
    try:
        _wait_for(lambda: count() >= before + 10, 30)  # two slots after the restart
    finally:
        second.stop(timeout=30)
    pulls = _pulls(log)
    assert len(pulls) == 5
    for key, runs in pulls.items():
        slots = [slot for slot, _ in runs]
        assert len(slots) == len(set(slots)), (key, "a slot ran twice", runs)
        assert slots == list(range(slots[0], slots[-1] + 1)), (key, "a slot was skipped", runs)
        assert all(-0.05 < late < INTERVAL / 2 for _, late in runs), (key, "off the grid", runs)
