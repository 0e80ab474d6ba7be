"""The planner's worker pool: concurrency for blocking tasks, a hard cap, clean close."""

import threading

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


def test_close_joins_every_thread_and_drops_queued_tasks():
    """close() lets the running task finish, drops the queue and leaves no pool thread alive."""
    before = set(threading.enumerate())
    started, release, ran = threading.Event(), threading.Event(), []

    def blocker():
        started.set()
        release.wait(10)
        ran.append("blocker")

    pool = WorkerPool(1)
    pool.submit_many([(blocker, ())] + [(ran.append, ("queued",))] * 5)
    assert started.wait(10)
    closer = threading.Thread(target=pool.close)
    closer.start()
    for _ in range(200):  # close() empties the queue first, then waits for the blocker
        if pool._closed:
            break
        threading.Event().wait(0.01)
    release.set()
    closer.join(10)
    assert ran == ["blocker"]
    assert set(threading.enumerate()) - before == set()
    pool.submit_many([(ran.append, ("late",))])
    assert ran == ["blocker"]
