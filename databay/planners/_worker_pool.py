"""A small pool of daemon worker threads, created on demand and joined on close.

``concurrent.futures.ThreadPoolExecutor`` would do, but it costs ~10 ms to
import and a Future per task; the planner needs neither results nor futures,
only "run this soon" for thousands of tiny transfers a second.
"""

from __future__ import annotations

import collections
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Tuple

    Task = Tuple[Callable[..., Any], tuple]


class WorkerPool:
    """Runs submitted ``(function, args)`` tasks on at most ``max_workers`` threads."""

    def __init__(self, max_workers: int, name: str = "databay-worker") -> None:
        self._max_workers = max_workers
        self._name = name
        self._tasks: collections.deque = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._threads: List[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit_many(self, tasks: Iterable[Task]) -> None:
        """Queue tasks and wake an idle worker, or start one if none is idle."""
        with self._ready:
            if self._closed:
                return
            self._tasks.extend(tasks)
            self._ready.notify(min(len(self._tasks), self._idle))
            thread = self._new_thread_if_needed()
        if thread is not None:
            thread.start()

    def _new_thread_if_needed(self) -> Optional[threading.Thread]:
        """A new (unstarted) worker if tasks wait, none is idle and the cap allows (lock held).

        Threads are started outside the lock, one at a time: each new worker
        starts the next one if the backlog persists. Starting a thread costs
        up to milliseconds on a loaded machine, and the first worker should not
        wait for twenty siblings before running the first task.
        """
        if not self._tasks or self._idle or len(self._threads) >= self._max_workers or self._closed:
            return None
        thread = threading.Thread(target=self._work, name="%s-%d" % (self._name, len(self._threads)),
                                  daemon=True)
        self._threads.append(thread)
        return thread

    def close(self) -> None:
        """Drop queued tasks, let running ones finish, and join every worker."""
        with self._ready:
            self._closed = True
            self._tasks.clear()
            self._ready.notify_all()
            threads = list(self._threads)
        current = threading.current_thread()
        for thread in threads:
            if thread is current:
                continue
            while thread.ident is None:  # created under the lock, being started outside it
                time.sleep(0.001)
            thread.join()

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
                helper = self._new_thread_if_needed()
            if helper is not None:
                helper.start()
            function(*args)
