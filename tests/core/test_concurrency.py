"""Pulls and pushes run concurrently, bounded, with or without an event loop."""

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from databay import Link

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _blocking_pull(probe, seconds, until=None):
    """A sync pull that counts itself in ``probe`` while blocking for ``seconds``."""
    def pull(update):
        probe.enter()
        try:
            if until is not None:
                until.wait(5)
            time.sleep(seconds)
            return 1
        finally:
            probe.leave()
    return pull


def _async_pull(probe, seconds, until=None):
    async def pull(update):
        probe.enter()
        try:
            if until is not None:
                await until.wait()
            await asyncio.sleep(seconds)
            return 1
        finally:
            probe.leave()
    return pull


def test_eight_blocking_pulls_run_at_once(nodes):
    """Eight blocking sync pulls all run simultaneously (a barrier of 8 is reached)."""
    barrier = threading.Barrier(8, timeout=5)
    inlets = [nodes.FuncInlet(lambda u: (barrier.wait(), 1)[1]) for _ in range(8)]
    outlet = nodes.RecordingOutlet()
    Link(inlets, outlet, 1).transfer()
    assert outlet.payloads == [[1] * 8]
    assert not barrier.broken


def test_eight_blocking_pulls_take_about_one_pull(nodes):
    """Eight sync pulls blocking 50 ms each finish in well under 400 ms."""
    probe = nodes.ConcurrencyProbe()
    inlets = [nodes.FuncInlet(_blocking_pull(probe, 0.05)) for _ in range(8)]
    outlet = nodes.RecordingOutlet()
    link = Link(inlets, outlet, 1)
    start = time.perf_counter()
    link.transfer()
    elapsed = time.perf_counter() - start
    assert outlet.payloads == [[1] * 8]
    assert elapsed < 0.25
    assert probe.maximum > 1


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_inlet_concurrency_bounds_sync_pulls(nodes, limit):
    """inlet_concurrency=k never lets more than k sync pulls run at once, and reaches k."""
    probe = nodes.ConcurrencyProbe()
    reached = threading.Event()

    def pull(update):
        if probe.enter() >= limit:
            reached.set()
        try:
            reached.wait(5)  # hold until the limit is reached, so overlaps are certain
            time.sleep(0.05)
            return 1
        finally:
            probe.leave()

    inlets = [nodes.FuncInlet(pull) for _ in range(4)]
    outlet = nodes.RecordingOutlet()
    start = time.perf_counter()
    Link(inlets, outlet, 1, inlet_concurrency=limit).transfer()
    elapsed = time.perf_counter() - start
    assert probe.maximum == limit
    assert outlet.payloads == [[1] * 4]
    rounds = -(-4 // limit)
    assert elapsed >= 0.05 * rounds * 0.9


def test_inlet_concurrency_two_with_four_pulls_takes_two_rounds(nodes):
    """inlet_concurrency=2 with 4 × 50 ms pulls takes at least 0.1 s."""
    probe = nodes.ConcurrencyProbe()
    inlets = [nodes.FuncInlet(_blocking_pull(probe, 0.05)) for _ in range(4)]
    link = Link(inlets, nodes.RecordingOutlet(), 1, inlet_concurrency=2)
    start = time.perf_counter()
    link.transfer()
    assert time.perf_counter() - start >= 0.1 * 0.95
    assert probe.maximum <= 2


def test_async_pulls_run_concurrently(nodes):
    """Eight async pulls sleeping 50 ms overlap: all eight are in flight together."""
    probe = nodes.ConcurrencyProbe()
    inlets = [nodes.AsyncFuncInlet(_async_pull(probe, 0.05)) for _ in range(8)]
    outlet = nodes.RecordingOutlet()
    start = time.perf_counter()
    Link(inlets, outlet, 1).transfer()
    assert time.perf_counter() - start < 0.25
    assert probe.maximum == 8
    assert outlet.payloads == [[1] * 8]


def test_inlet_concurrency_bounds_async_pulls(nodes):
    """inlet_concurrency=2 lets at most two async pulls run at once."""
    probe = nodes.ConcurrencyProbe()
    inlets = [nodes.AsyncFuncInlet(_async_pull(probe, 0.02)) for _ in range(6)]
    outlet = nodes.RecordingOutlet()
    Link(inlets, outlet, 1, inlet_concurrency=2).transfer()
    assert probe.maximum == 2
    assert outlet.payloads == [[1] * 6]


def test_mixed_sync_and_async_inlets_overlap_and_are_bounded(nodes):
    """Sync and async inlets in one link run together and respect inlet_concurrency."""
    probe = nodes.ConcurrencyProbe()
    inlets = []
    for index in range(6):
        if index % 2:
            inlets.append(nodes.AsyncFuncInlet(_async_pull(probe, 0.03), label=str(index)))
        else:
            inlets.append(nodes.FuncInlet(_blocking_pull(probe, 0.03), label=str(index)))
    outlet = nodes.RecordingOutlet()
    Link(inlets, outlet, 1, inlet_concurrency=3).transfer()
    assert 1 < probe.maximum <= 3
    assert outlet.payloads == [[1] * 6]


def test_mixed_link_blocking_pulls_do_not_serialise(nodes):
    """In a link with an async node, blocking sync pulls still run at the same time."""
    barrier = threading.Barrier(4, timeout=5)
    inlets = [nodes.FuncInlet(lambda u: (barrier.wait(), "s")[1]) for _ in range(4)]
    inlets.append(nodes.AsyncFuncInlet(lambda u: "a"))
    outlet = nodes.RecordingOutlet()
    Link(inlets, outlet, 1).transfer()
    assert outlet.payloads == [["s", "s", "s", "s", "a"]]


def test_outlets_of_one_batch_push_concurrently(nodes):
    """All outlets of a batch are pushed at the same time (sync pushes on threads)."""
    barrier = threading.Barrier(3, timeout=5)
    outlets = [nodes.RecordingOutlet(on_push=lambda records, u: barrier.wait()) for _ in range(3)]
    Link(nodes.ValueInlet(1), outlets, 1).transfer()
    assert all(o.payloads == [[1]] for o in outlets)


def test_async_outlets_push_concurrently(nodes):
    """Async pushes of one batch overlap."""
    probe = nodes.ConcurrencyProbe()

    async def slow(records, update):
        probe.enter()
        await asyncio.sleep(0.03)
        probe.leave()

    outlets = [nodes.AsyncRecordingOutlet(on_push=slow) for _ in range(4)]
    Link(nodes.ValueInlet(1), outlets, 1).transfer()
    assert probe.maximum == 4


def test_sync_transfer_leaves_no_thread_behind(nodes):
    """A sync transfer's helper threads are gone when transfer() returns."""
    before = set(threading.enumerate())
    inlets = [nodes.ValueInlet(i) for i in range(5)]
    outlets = [nodes.RecordingOutlet() for _ in range(3)]
    Link(inlets, outlets, 1).transfer()
    leftovers = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftovers == []


def test_single_inlet_sync_transfer_runs_in_calling_thread(nodes):
    """One inlet and one outlet run in the calling thread (no helper thread needed)."""
    threads = []
    inlet = nodes.FuncInlet(lambda u: threads.append(threading.current_thread()) or 1)
    outlet = nodes.RecordingOutlet(on_push=lambda r, u: threads.append(threading.current_thread()))
    Link(inlet, outlet, 1).transfer()
    assert threads == [threading.current_thread()] * 2


def test_sync_only_link_creates_no_event_loop():
    """A link of plain def nodes never imports asyncio, so it pays for no event loop."""
    script = textwrap.dedent("""
        import sys
        from databay import Inlet, Outlet, Link, Record

        class In(Inlet):
            def pull(self, update):
                return [1, Record(2)]

        class Out(Outlet):
            def push(self, records, update):
                self.got = [r.payload for r in records]

        outlets = [Out(processors=lambda r: r), Out()]
        link = Link([In(), In(), In()], outlets, 1, processors=lambda r: r,
                    groupers=lambda b: b, inlet_concurrency=2)
        link.on_start()
        link.transfer()
        link.transfer()
        link.on_shutdown()
        assert outlets[0].got == [1, 2, 1, 2, 1, 2], outlets[0].got
        assert "asyncio" not in sys.modules, "asyncio was imported"
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_sync_link_does_not_use_the_loop_runner(nodes, monkeypatch):
    """A sync-only link never asks its loop runner for an event loop."""
    link = Link([nodes.ValueInlet(1), nodes.ValueInlet(2)], nodes.RecordingOutlet(), 1)

    def refuse(coroutine):
        coroutine.close()
        raise AssertionError("event loop used by a sync link")

    monkeypatch.setattr(link._loop_runner, "run", refuse)
    link.transfer()


@pytest.mark.parametrize("kind", ["sync", "async", "mixed"])
def test_transfer_inside_running_event_loop(nodes, kind):
    """transfer() called from inside a running event loop (a notebook) works for every link kind."""
    inlets = {
        "sync": [nodes.ValueInlet([1]), nodes.ValueInlet([2])],
        "async": [nodes.AsyncFuncInlet(lambda u: [1]), nodes.AsyncFuncInlet(lambda u: [2])],
        "mixed": [nodes.ValueInlet([1]), nodes.AsyncFuncInlet(lambda u: [2])],
    }[kind]
    outlet = nodes.AsyncRecordingOutlet() if kind != "sync" else nodes.RecordingOutlet()
    link = Link(inlets, outlet, 1)

    async def main():
        link.transfer()
        link.transfer()
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert loop.is_closed()
    assert outlet.payloads == [[1, 2], [1, 2]]
    link.on_shutdown()


def test_async_link_reuses_across_transfers_and_closes_on_shutdown(nodes):
    """An async link runs many transfers, then on_shutdown closes its loop; it still works after."""
    outlet = nodes.AsyncRecordingOutlet()
    link = Link(nodes.AsyncFuncInlet(lambda u: u.transfer_number), outlet, 1)
    for _ in range(3):
        link.transfer()
    link.on_shutdown()
    link.transfer()
    link.on_shutdown()
    assert outlet.payloads == [[0], [1], [2], [3]]


def test_async_link_transfers_from_several_threads(nodes):
    """An async link can transfer from several threads at once without errors."""
    outlet = nodes.AsyncRecordingOutlet()

    async def slow(update):
        await asyncio.sleep(0.02)
        return update.transfer_number

    link = Link(nodes.AsyncFuncInlet(slow), outlet, 1)
    errors = []

    def run():
        try:
            link.transfer()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    link.on_shutdown()
    assert errors == []
    assert sorted(p[0] for p in outlet.payloads) == [0, 1, 2, 3]


@pytest.mark.parametrize("outlet_count", [1, 2], ids=["inline", "on-thread"])
def test_link_shutdown_from_inside_its_async_transfer(nodes, outlet_count):
    """A node calling link.on_shutdown() during the link's own async transfer does not deadlock."""
    holder = {}

    def shut_down(records, update):
        holder["link"].on_shutdown()

    outlets = [nodes.RecordingOutlet(on_push=shut_down)]
    outlets += [nodes.RecordingOutlet() for _ in range(outlet_count - 1)]
    link = Link(nodes.AsyncFuncInlet(lambda u: u.transfer_number), outlets, 1)
    holder["link"] = link
    errors = []

    def run():
        try:
            link.transfer()
            link.transfer()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "transfer deadlocked"
    assert errors == []
    assert outlets[0].payloads == [[0], [1]]
    assert link._loop_runner._loop is None  # the loop was closed once the transfer returned
