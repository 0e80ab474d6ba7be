"""The planner's worker pool: concurrency for blocking tasks, a hard cap, clean close."""

import threading
import time

from databay.planners import clock
from databay.planners._worker_pool import WorkerPool


def test_blocking_tasks_get_enough_workers():
    """Ten tasks that each wait for all ten to be running complete: the pool grows to ten."""
    barrier = threading.Barrier(10, timeout=10)
    done = []
    pool = WorkerPool(30)
    pool.submit_many([(lambda: done.append(barrier.wait()), ()) for _ in range(10)])
    deadline = threading.Event()
    for _ in range(200):
        if len(done) == 10:
            break
        deadline.wait(0.05)
    pool.close()
    assert sorted(done) == list(range(10))


def test_never_more_workers_than_the_cap():
    """With max_workers=3, at most three tasks ever run at once."""
    lock, running, peak = threading.Lock(), [0], [0]
    finished = threading.Semaphore(0)

    def task():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.02)
        with lock:
            running[0] -= 1
        finished.release()

    pool = WorkerPool(3)
    pool.submit_many([(task, ()) for _ in range(12)])
    for _ in range(12):
        assert finished.acquire(timeout=10)
    pool.close()
    assert peak[0] <= 3


def test_close_drops_queued_tasks_and_join_waits_for_running_ones():
    """close() drops the queue at once; join() waits for the running task; no pool thread stays."""
    before = set(threading.enumerate())
    started, release, ran = threading.Event(), threading.Event(), []

    def blocker():
        started.set()
        release.wait(10)
        ran.append("blocker")

    pool = WorkerPool(1)
    pool.submit_many([(blocker, ())] + [(ran.append, ("queued",))] * 5)
    assert started.wait(10)
    pool.close()
    assert pool.join(timeout=0.05) == 1  # the blocker still runs: reported, not waited for
    release.set()
    assert pool.join(timeout=10) == 0
    assert ran == ["blocker"]
    assert set(threading.enumerate()) - before == set()
    pool.submit_many([(ran.append, ("late",))])
    assert ran == ["blocker"]


def test_short_tasks_stay_on_few_threads():
    """A burst of 2,000 tiny tasks is drained without starting a crowd of threads."""
    done = threading.Semaphore(0)
    pool = WorkerPool(30, patience=0.5)  # generous: only a stall of half a second adds a worker
    pool.submit_many([(done.release, ()) for _ in range(2000)])
    for _ in range(2000):
        assert done.acquire(timeout=10)
    size = pool.size
    pool.close()
    pool.join(10)
    assert size <= 2, size


def test_idle_workers_exit_but_the_last_stays():
    """Workers idle for idle_timeout exit (the pool shrinks), one stays for the next burst."""
    barrier = threading.Barrier(4, timeout=10)
    pool = WorkerPool(10, idle_timeout=0.2)
    pool.submit_many([(barrier.wait, ()) for _ in range(4)])  # needs four workers at once
    for _ in range(500):
        if pool.size == 1:
            break
        threading.Event().wait(0.02)
    assert pool.size == 1
    ran = threading.Event()
    pool.submit_many([(ran.set, ())])
    assert ran.wait(10)
    pool.close()
    assert pool.join(10) == 0


def _stream(pool, stop, task, per_round=8, pause=0.004):
    """Keep a backlog that never shrinks: ``per_round`` tasks every ``pause`` seconds until ``stop``."""
    while not stop.is_set():
        pool.submit_many([(task, ())] * per_round)
        stop.wait(pause)


def _stream_for(pool, seconds, task, until=None):
    """Stream tasks for ``seconds`` (or until ``until()``); returns the largest pool size seen."""
    stop = threading.Event()
    producer = threading.Thread(target=_stream, args=(pool, stop, task))
    producer.start()
    largest = 0
    try:
        for _ in range(int(seconds / 0.02)):
            largest = max(largest, pool.size)
            if until is not None and until():
                break
            threading.Event().wait(0.02)
    finally:
        stop.set()
        producer.join()
        pool.close()
        pool.join(10)
    return largest


def _two_ms():
    threading.Event().wait(0.002)


def test_a_backlog_that_keeps_the_process_on_the_cpu_gets_no_new_worker():
    """Workers taking tasks while the process uses a whole CPU are computing under the GIL: a
    backlog that does not shrink then adds no thread (here the CPU clock reports a busy process).
    A whole 1 s window without a task taken would also grow it: on a loaded machine a 0.2 s
    window can pass with the worker descheduled, so the windows here are long."""
    pool = WorkerPool(30, patience=1.0, cpu_clock=time.monotonic)  # CPU seconds == wall seconds
    assert _stream_for(pool, 3.5, _two_ms) == 1


def test_a_backlog_of_tasks_waiting_on_io_gets_more_workers():
    """The same backlog with workers that mostly wait (little CPU used) grows the pool."""
    pool = WorkerPool(30, patience=0.2)
    assert _stream_for(pool, 20, _two_ms, until=lambda: pool.size >= 2) >= 2


def test_a_worker_stuck_behind_a_queued_backlog_still_gets_help():
    """A worker woken for one task that hangs, with more queued behind it, makes the pool grow
    without another submit: the submit that left a backlog behind the woken worker wakes the
    spawner (the worker would too, taking its task with others waiting)."""
    release, ran = threading.Event(), threading.Event()
    pool = WorkerPool(5)
    pool.submit_many([(ran.set, ())])  # one worker, now idle
    assert ran.wait(10)
    for _ in range(500):
        if pool._idle:
            break
        threading.Event().wait(0.01)
    second = threading.Event()
    pool.submit_many([(release.wait, (10,)), (second.set, ())])
    try:
        assert second.wait(10)
    finally:
        release.set()
        pool.close()
        assert pool.join(10) == 0


def test_a_first_task_that_hangs_does_not_block_the_tasks_submitted_with_it():
    """The first submit starts the spawner itself (after the first worker, off the path to the
    first task): if that first task hangs, the tasks queued with it still run on a new worker,
    however the worker's notify and the spawner's start interleave."""
    for _ in range(3):
        release, second = threading.Event(), threading.Event()
        pool = WorkerPool(5)
        pool.submit_many([(release.wait, (60,)), (second.set, ())])  # hangs longer than we wait
        try:
            assert second.wait(10)
        finally:
            release.set()
            pool.close()
            assert pool.join(10) == 0


def test_a_pool_of_one_worker_starts_no_spawner():
    """``threads=1``: the pool can never grow, so its first submit starts the worker and no
    spawner thread (one would appear after the worker, e.g. in the middle of a leak check)."""
    pool = WorkerPool(1, name="one-worker-pool")
    done = threading.Event()
    try:
        pool.submit_many([(done.set, ())])
        assert done.wait(10)
        names = [thread.name for thread in threading.enumerate()]
        assert "one-worker-pool-spawner" not in names, names
        assert pool.size == 1
    finally:
        pool.close()
        assert pool.join(10) == 0


def test_a_pool_holds_no_thread_until_its_first_submit():
    """The first worker's and the spawner's Thread objects are made with the pool (their set-up
    is not in a planner's start()), but no thread runs before the first submit, which starts
    them under their usual names."""
    before = set(threading.enumerate())
    pool = WorkerPool(3, name="premade-pool")
    done = threading.Event()
    try:
        assert set(threading.enumerate()) - before == set()
        assert pool.size == 0
        pool.submit_many([(done.set, ())])
        assert done.wait(10)
        names = {thread.name for thread in set(threading.enumerate()) - before}
        assert names == {"premade-pool-1", "premade-pool-spawner"}, names
    finally:
        pool.close()
        assert pool.join(10) == 0


def _idle_pool():
    """A pool whose one worker ran a task and waits for work (``call_at`` needs an idle worker)."""
    pool = WorkerPool(1)
    ran = threading.Event()
    pool.submit_many([(ran.set, ())])
    assert ran.wait(10)
    _call_when_idle(pool, time.monotonic() + 3600, lambda: None)
    threading.Event().wait(0.1)  # it took the call and waits for its deadline (or will)
    return pool


def _call_when_idle(pool, deadline, function):
    """``pool.call_at(deadline, function)`` once its worker is idle again: it goes idle just
    after the task that signalled the test, and a busy machine may not have run that step yet."""
    for _ in range(1000):
        if pool.call_at(deadline, function):
            return
        threading.Event().wait(0.01)
    raise AssertionError("the worker never went idle")


def test_call_at_is_made_at_its_deadline_never_before_and_runs_what_it_queued_on_that_worker(
        monkeypatch):
    """The idle worker makes the call once the clock reached the deadline (it wakes up early and
    spins the last stretch: here 20 ms of it), then runs the tasks the call queued itself."""
    monkeypatch.setattr(clock, "FINISH_BY_SPIN", 0.02)  # the spin clock.finish makes
    pool = _idle_pool()
    made, threads = [], []
    done = threading.Event()

    def call():
        made.append(time.monotonic())
        threads.append(threading.current_thread())
        pool.submit_many([(lambda: threads.append(threading.current_thread()), ()), (done.set, ())])

    for _ in range(3):
        done.clear()
        deadline = time.monotonic() + 0.05
        _call_when_idle(pool, deadline, call)
        assert done.wait(10)
        assert made[-1] >= deadline, "the call was made %.6f s early" % (deadline - made[-1])
    assert len(set(threads)) == 1 and pool.size == 1
    pool.close()
    assert pool.join(10) == 0


def test_call_at_needs_an_idle_worker():
    """No worker yet, or the only one busy: nothing is arranged (the caller waits itself)."""
    pool = WorkerPool(1)
    assert not pool.call_at(time.monotonic(), lambda: None)  # no worker yet
    started, release = threading.Event(), threading.Event()
    pool.submit_many([(lambda: (started.set(), release.wait(10)), ())])
    assert started.wait(10)
    assert not pool.call_at(time.monotonic(), lambda: None)  # its one worker is busy
    release.set()
    pool.close()
    assert pool.join(10) == 0


def test_a_later_call_at_replaces_the_waiting_one():
    """A worker waiting for an hour-away call takes the new deadline at once; the old call is
    never made."""
    pool = _idle_pool()  # it waits for a call an hour away
    made = threading.Event()
    assert pool.call_at(time.monotonic() + 0.02, made.set)
    assert made.wait(10), "the waiting worker kept the old deadline"
    pool.close()
    assert pool.join(10) == 0


def test_tasks_submitted_while_a_worker_waits_for_its_call_run_at_once():
    """The waiting worker takes submitted tasks instead of waiting for its call's deadline."""
    pool = _idle_pool()
    ran = threading.Event()
    pool.submit_many([(ran.set, ())])
    assert ran.wait(10)
    pool.close()
    assert pool.join(10) == 0


def test_close_ends_a_worker_waiting_for_its_call_and_the_call_is_not_made():
    pool = _idle_pool()
    made = []
    assert pool.call_at(time.monotonic() + 3600, lambda: made.append(1))
    pool.close()
    assert pool.join(10) == 0 and pool.size == 0
    assert made == []


def test_a_call_that_raises_is_logged_and_the_worker_goes_on(caplog):
    pool = _idle_pool()

    def fails():
        raise RuntimeError("boom")

    assert pool.call_at(time.monotonic(), fails)
    ran = threading.Event()
    for _ in range(1000):
        if "boom" in caplog.text:
            break
        threading.Event().wait(0.01)
    pool.submit_many([(ran.set, ())])
    assert ran.wait(10)
    pool.close()
    assert "Call" in caplog.text and "boom" in caplog.text
