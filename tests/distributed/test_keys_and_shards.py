"""Link keys, the stable shard split, ShardedRun's argument checks and a Shard in-process (no Ray)."""

import collections
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time

import pytest

from databay import Link
from databay.distributed import LinkKeyError, Shard, ShardedRun, ShardError, shard_of
from databay.distributed._keys import links_of_shard
from databay.distributed._spec import RunSpec
from databay.errors import DatabayError
from databay.inlets import NullInlet
from databay.outlets import NullOutlet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _close_report_files():
    """Shards run in this process here: close the files their nodes report to."""
    yield
    import shard_factories

    shard_factories._Log.close_all()


def _link(**kwargs):
    return Link(NullInlet(), NullOutlet(), interval=1, **kwargs)


# -- Link.key ---------------------------------------------------------------

def test_key_defaults_to_tags_joined_by_dots():
    assert _link(tags=["sales", "eu"]).key == "sales.eu"
    assert _link(tags="one").key == "one"
    assert _link().key == ""


def test_explicit_key_wins_over_tags():
    assert _link(tags=["a"], key="orders/42").key == "orders/42"


@pytest.mark.parametrize("key, error", [(42, TypeError), (b"k", TypeError), (["k"], TypeError),
                                        ("", ValueError)])
def test_bad_key_names_the_parameter_and_value(key, error):
    with pytest.raises(error, match=r"key=.*non-empty str"):
        _link(key=key)


# -- shard_of ---------------------------------------------------------------

def test_shard_of_is_the_same_in_every_process():
    """Not Python's salted hash(): other interpreters with other hash seeds agree."""
    keys = ["link-%d" % n for n in range(200)]
    here = [shard_of(key, 7) for key in keys]
    code = ("import json; from databay.distributed import shard_of; "
            "print(json.dumps([shard_of('link-%d' % n, 7) for n in range(200)]))")
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=ROOT)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             timeout=60, check=True).stdout
        assert json.loads(out) == here


def test_shard_of_pinned_values():
    """The mapping decides which shard (and so which journal) owns a link: it must never change."""
    assert [shard_of("link-%d" % n, 2) for n in range(12)] == [1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1]
    assert [shard_of(key, 8) for key in ("a", "b", "orders", "sales.eu")] == [6, 0, 0, 5]
    assert [shard_of("k%d" % n, 1000) for n in range(5)] == [563, 328, 56, 582, 957]


def test_shard_of_spreads_evenly_and_moves_few_keys_when_growing():
    keys = ["k%d" % n for n in range(8000)]
    counts = collections.Counter(shard_of(key, 8) for key in keys)
    assert set(counts) == set(range(8))
    assert all(800 < count < 1200 for count in counts.values()), counts
    moved = sum(shard_of(key, 8) != shard_of(key, 9) for key in keys)
    assert moved < 8000 * 1.5 / 9  # about 1/9 of the keys move, not most of them
    assert all(shard_of(key, 9) == 8 for key in keys if shard_of(key, 8) != shard_of(key, 9))


def test_shard_of_one_shard_owns_everything():
    assert {shard_of("k%d" % n, 1) for n in range(100)} == {0}


@pytest.mark.parametrize("key, nshards, error", [(1, 2, TypeError), ("k", 0, ValueError),
                                                 ("k", True, TypeError), ("k", 2.0, TypeError)])
def test_shard_of_bad_arguments(key, nshards, error):
    with pytest.raises(error):
        shard_of(key, nshards)


# -- links_of_shard ---------------------------------------------------------

def test_links_of_shard_partitions_the_links():
    links = [_link(tags=["t", str(n)]) for n in range(50)]
    parts = [links_of_shard(links, shard, 3) for shard in range(3)]
    assert sorted(id(link) for part in parts for link in part) == sorted(id(link) for link in links)
    assert all(shard_of(link.key, 3) == shard for shard, part in enumerate(parts) for link in part)


def test_duplicate_keys_are_refused_with_both_links_named():
    first, second = _link(key="same"), _link(tags="same")
    with pytest.raises(LinkKeyError, match=r"two links share the key 'same'") as caught:
        links_of_shard([first, _link(key="other"), second], 0, 2)
    assert repr(first) in str(caught.value) and repr(second) in str(caught.value)
    assert isinstance(caught.value, (ValueError, DatabayError))


def test_a_link_without_key_is_refused():
    with pytest.raises(LinkKeyError, match=r"has no key: give it tags or key="):
        links_of_shard([_link(key="x"), _link()], 0, 2)


def test_a_factory_result_that_is_not_links_is_refused():
    with pytest.raises(TypeError, match=r"must return a Link or a list of Links"):
        links_of_shard([_link(key="x"), "not a link"], 0, 1)


# -- ShardedRun arguments (checked before any engine is touched) --------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"factory": "no_colon"}, ValueError, r"factory='no_colon' must be"),
    ({"factory": "mod:"}, ValueError, r"factory='mod:' must be"),
    ({"factory": 42}, TypeError, r"factory=42 must be"),
    ({"factory": lambda s, n: []}, ValueError, r"cannot be imported by the shards"),
    ({"shards": 0}, ValueError, r"shards=0 must be an int >= 1"),
    ({"shards": "2"}, TypeError, r"shards='2' must be an int >= 1"),
    ({"factory_kwargs": {"conn": object()}}, TypeError,
     r"factory_kwargs must hold plain data only .*factory_kwargs\['conn'\] is <object"),
    ({"factory_kwargs": {"nested": [1, {2: "x"}]}}, TypeError, r"key 2 of .* must be a str"),
    ({"factory_kwargs": ["dsn"]}, TypeError, r"factory_kwargs=\['dsn'\] must be a dict"),
    ({"planner_kwargs": {"links": []}}, ValueError, r"must not contain 'links'"),
    ({"detached": 1}, TypeError, r"detached=1 must be True or False"),
    ({"detached": True}, ValueError, r"detached=True needs name="),
    ({"name": "bad name"}, ValueError, r"name='bad name' must be"),
    ({"max_restarts": -2}, ValueError, r"max_restarts=-2 must be an int >= -1"),
    ({"backend": "dask"}, ValueError, r"backend='dask' must be one of 'ray'"),
])
def test_sharded_run_refuses_bad_arguments(kwargs, error, message):
    arguments = {"factory": "shard_factories:all_links", **kwargs}
    with pytest.raises(error, match=message):
        ShardedRun(**arguments)


def test_sharded_run_accepts_a_module_level_function_and_picks_a_name():
    from shard_factories import all_links

    run = ShardedRun(all_links, shards=3, factory_kwargs={"count": 5, "raw": b"x", "t": (1, 2.5)})
    assert run.shards == 3 and run.name.startswith("run-") and not run.running
    assert "shard_factories:all_links" in repr(run)


def test_constructing_a_run_imports_no_engine():
    """databay.distributed is standard library only until a run starts."""
    code = ("import sys, threading; before = threading.active_count(); "
            "from databay.distributed import ShardedRun; "
            "ShardedRun('shard_factories:all_links', shards=2, name='x'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'dask')), "
            "threading.active_count() - before)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.dirname(__file__)]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[] 0"


def test_status_and_stop_before_start_are_refused():
    run = ShardedRun("shard_factories:all_links", name="never-started")
    with pytest.raises(DatabayError, match=r"status\(\) called on run 'never-started', which is "
                                           r"not running"):
        run.status()
    with pytest.raises(DatabayError, match=r"stop\(\) called"):
        run.stop()


# -- Shard, in this process ---------------------------------------------------

def _spec(factory, nshards=2, planner_kwargs=None, **factory_kwargs):
    return RunSpec("unit", factory, nshards, factory_kwargs, planner_kwargs or {}, False, -1)


def test_shard_keeps_only_its_own_links_and_runs_them(tmp_path):
    count = 40
    shards = [Shard(_spec("shard_factories:all_links", count=count, interval=0.05), index)
              for index in range(2)]
    try:
        statuses = [shard.start(timeout=60) for shard in shards]
        assert [status["links_built"] for status in statuses] == [count, count]
        assert sum(status["links"] for status in statuses) == count
        expected = [sum(shard_of("group.%d" % n, 2) == index for n in range(count))
                    for index in range(2)]
        assert [status["links"] for status in statuses] == expected
        assert all(status["state"] == "running" and status["pid"] == os.getpid()
                   for status in statuses)
        deadline = time.monotonic() + 30
        while min(shard.status()["transfers"] for shard in shards) < 2 * count:
            assert time.monotonic() < deadline, [shard.status() for shard in shards]
            time.sleep(0.05)
    finally:
        finals = [shard.stop(timeout=30) for shard in shards]
    assert [final["state"] for final in finals] == ["stopped", "stopped"]
    assert all(final["failed_transfers"] == 0 for final in finals)
    for final in finals:  # the sums of the planner's own stats(), next to the shard's count
        assert final["counters"]["transfers"]["run"] == final["transfers"]
        assert final["counters"]["transfers"]["failed"] == 0
        assert sum(final["health"].values()) == final["links"]
    json.dumps(finals)  # plain data


def test_shard_stop_flushes_buffers_and_calls_on_shutdown_once(tmp_path):
    shard = Shard(_spec("shard_factories:slot_links", nshards=1, out_dir=str(tmp_path), per_shard=20,
                        interval=0.05, buffer_count=1000, log_pulls=True), 0)
    shard.start(timeout=60)
    deadline = time.monotonic() + 30
    while shard.status()["transfers"] < 60:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    final = shard.stop(timeout=30)
    assert final["state"] == "stopped"
    pulled = [" ".join(line.split()[:3])
              for line in (tmp_path / "pulled-0.txt").read_text().splitlines()]
    delivered = (tmp_path / "delivered-0.txt").read_text().splitlines()
    assert len(pulled) >= 60 and sorted(pulled) == sorted(delivered)  # all held in Buffers
    events = collections.Counter(line.rsplit(" ", 1)[0]
                                 for line in (tmp_path / "events-0.txt").read_text().splitlines())
    assert len(events) == 80  # on_start and on_shutdown of 20 inlets and 20 outlets
    assert set(events.values()) == {1}


def test_shard_reports_a_failing_factory_with_its_cause():
    shard = Shard(_spec("shard_factories:broken"), 1)
    with pytest.raises(ShardError, match=r"shard 1 of 'unit': factory shard_factories:broken"
                                         r"\(1, 2, \*\*\{\}\) failed: RuntimeError\('the factory "
                                         r"of shard 1 cannot reach its database'\)"):
        shard.start()


def test_shard_refuses_duplicate_keys():
    with pytest.raises(LinkKeyError, match=r"two links share the key 'same'"):
        Shard(_spec("shard_factories:duplicate_keys"), 0).start()


def test_shard_refuses_a_missing_factory():
    with pytest.raises(ShardError, match=r"No module named 'no_such_module'"):
        Shard(_spec("no_such_module:build"), 0).start()


def test_a_failing_link_does_not_stop_its_shard():
    """Shards default to ignore_exceptions=True: the other links keep running."""
    shard = Shard(_spec("shard_factories:one_failing_link", nshards=1), 0)
    shard.start(timeout=60)
    try:
        deadline = time.monotonic() + 30
        while shard.status()["failed_transfers"] < 5 or shard.status()["transfers"] < 20:
            assert time.monotonic() < deadline, shard.status()
            time.sleep(0.05)
        assert shard.status()["state"] == "running"
    finally:
        assert shard.stop(timeout=30)["state"] == "stopped"


def test_ignore_exceptions_false_stops_the_shard_and_says_why():
    shard = Shard(_spec("shard_factories:one_failing_link", nshards=1,
                        planner_kwargs={"ignore_exceptions": False}), 0)
    try:
        shard.start(timeout=60)
    except ShardError as error:  # the planner may stop before start() saw it running
        assert "source down" in repr(error.__cause__)
        return
    deadline = time.monotonic() + 30
    while shard.status()["state"] != "failed":
        assert time.monotonic() < deadline, shard.status()
        time.sleep(0.05)
    assert "source down" in shard.status()["error"]
    shard.stop(timeout=30)


@pytest.mark.parametrize("niceness, error", [(True, TypeError), ("0", TypeError), (1.0, TypeError),
                                             (20, ValueError), (-21, ValueError)])
def test_ray_backend_refuses_a_bad_niceness(niceness, error):
    from databay.distributed import RayBackend

    with pytest.raises(error, match=r"niceness=%s must be an int from -20 to 19, or None"
                       % re.escape(repr(niceness))):
        RayBackend(niceness=niceness)


def _in_a_thread(function):
    """Run ``function`` in a new thread (niceness is per thread on Linux); return its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="niceness is POSIX")
def test_a_shard_sets_its_niceness_and_the_threads_it_starts_inherit_it():
    """Ray starts workers at niceness 15; a shard actor gives its threads the backend's."""
    from databay.distributed._ray import _renice

    def renice_then_start_a_thread():
        before = os.getpriority(os.PRIO_PROCESS, 0)
        _renice(before + 3, 0, "nice-run")  # raising one's niceness needs no privilege
        return before, os.getpriority(os.PRIO_PROCESS, 0), \
            _in_a_thread(lambda: os.getpriority(os.PRIO_PROCESS, 0))

    before, after, started_after = _in_a_thread(renice_then_start_a_thread)
    assert after == started_after == min(before + 3, 19)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # this thread is untouched


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="niceness is POSIX")
def test_a_shard_that_may_not_lower_its_niceness_says_how_to_start_the_cluster(monkeypatch, caplog):
    from databay.distributed._ray import _renice

    def refused(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refused)
    monkeypatch.setattr(os, "getpriority", lambda *args: 15)
    with caplog.at_level(logging.WARNING, logger="databay.distributed.RayBackend"):
        _renice(0, 3, "ingest")
    [record] = caplog.records
    assert "Shard 3 of 'ingest' keeps Ray's worker niceness" in record.getMessage()
    assert "RAY_worker_niceness=0" in record.getMessage()
