"""A small pool of daemon worker threads, created on demand and joined on close.

``concurrent.futures.ThreadPoolExecutor`` would do, but it costs ~10 ms to
import and a Future per task; the planner needs neither results nor futures,
only "run this soon" for thousands of tiny transfers a second.

Starting a thread takes 0.1-2 ms (``Thread.start`` waits for the new thread to
run), so no worker ever starts one: a *spawner* thread adds workers while
tasks wait and no worker is idle, and workers go straight to their tasks.
Fast tasks are drained by the first worker long before a crowd is started;
blocking tasks get more workers as the backlog persists, up to ``max_workers``.
"""

from __future__ import annotations

import collections
import threading

from .._log import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Tuple

    Task = Tuple[Callable[..., Any], tuple]

_LOGGER = get_logger("databay.SchedulePlanner")


class WorkerPool:
    """Runs submitted ``(function, args)`` tasks on at most ``max_workers`` threads.

    ``submit_many`` and ``close`` are meant to be called from one thread (the
    planner's scheduling loop); tasks may run anywhere in the pool.
    """

    def __init__(self, max_workers: int, name: str = "databay-worker") -> None:
        self._max_workers = max_workers
        self._name = name
        self._tasks: collections.deque = collections.deque()
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # workers wait here for tasks
        self._short = threading.Condition(lock)  # the spawner waits here for a backlog
        self._threads: List[threading.Thread] = []
        self._spawner: Optional[threading.Thread] = None
        self._idle = 0
        self._closed = False

    def submit_many(self, tasks: Iterable[Task]) -> None:
        """Queue tasks; wake idle workers, or ask for more if none is idle."""
        with self._ready:
            if self._closed:
                return
            self._tasks.extend(tasks)
            self._ready.notify(min(len(self._tasks), self._idle))
            starting: List[threading.Thread] = []
            if self._short_of_workers():
                if self._spawner is None:  # first use: one worker at once, then the spawner
                    starting = [self._new_worker(), threading.Thread(
                        target=self._spawn, name="%s-spawner" % self._name, daemon=True)]
                    self._spawner = starting[1]
                else:
                    self._short.notify()
        for thread in starting:
            thread.start()

    def close(self) -> None:
        """Drop queued tasks, let running ones finish, and join every thread."""
        with self._ready:
            self._closed = True
            self._tasks.clear()
            self._ready.notify_all()
            self._short.notify_all()
            spawner = self._spawner
        if spawner is not None and spawner is not threading.current_thread():
            spawner.join()  # after this, no worker can be added
        current = threading.current_thread()
        for thread in list(self._threads):
            if thread is not current and thread.ident is not None:  # never started: nothing to join
                thread.join()

    def _short_of_workers(self) -> bool:
        """Tasks wait, nobody is idle, and the cap allows another worker (lock held)."""
        return bool(self._tasks) and not self._idle and not self._closed and \
            len(self._threads) < self._max_workers

    def _spawn(self) -> None:
        """The spawner: start one worker at a time while the pool is short of them."""
        while True:
            with self._ready:
                while not self._closed and not self._short_of_workers():
                    self._short.wait()
                if self._closed:
                    return
                thread = self._new_worker()
            thread.start()

    def _new_worker(self) -> threading.Thread:
        """A new, unstarted worker thread, already counted (lock held)."""
        thread = threading.Thread(target=self._work, daemon=True,
                                  name="%s-%d" % (self._name, len(self._threads)))
        self._threads.append(thread)
        return thread

    def _work(self) -> None:
        tasks = self._tasks
        while True:
            with self._ready:
                while not tasks:
                    if self._closed:
                        return
                    self._idle += 1
                    self._ready.wait()
                    self._idle -= 1
                function, args = tasks.popleft()
                if self._short_of_workers():
                    self._short.notify()
            try:
                function(*args)
            except BaseException:  # noqa: BLE001 - a worker must outlive any task
                _LOGGER.exception("Task %r raised in the worker pool", function)
