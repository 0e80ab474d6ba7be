"""The planner's worker threads: as few as keep up, more only while tasks are stuck.

``concurrent.futures.ThreadPoolExecutor`` starts a thread per submitted task
until it reaches its cap, so a burst of a thousand 5 µs transfers ends up on
thirty threads fighting for the GIL. This pool grows only when workers are
blocked, not busy: a *spawner* thread (asleep unless tasks wait and no worker
is idle) watches a window of ``patience`` seconds of real time and adds one
worker when tasks waited through it and either no task was taken at all (every
worker is stuck, e.g. in a hung transfer) or the backlog did not shrink while
the process used less than half a CPU (the workers wait on I/O, so another
thread gets work done). A backlog of short transfers that keeps the process on
the CPU gets no new thread: under the GIL it would only contend. Blocking
transfers get a new worker every ``patience`` up to ``max_workers``, so a hung
transfer never blocks the others. Workers idle for ``idle_timeout`` seconds
exit (the last one stays).

A timer is unavoidable: nothing but time tells a blocking task from a short
one. Growth is real time, never the planner's clock, so it also works under a
virtual clock. Workers take queued tasks without the lock (``deque.popleft``
is atomic); they take it only to wait for work.

``call_at(deadline, function)`` has an idle worker make one call at a
deadline: it waits for it awake, sleeping then spinning the last stretch, and then runs the
tasks that call queued itself. A planner hands it its next due time, so the
transfers start on the thread already awake at the due time, not after two
more wake-ups (the planner's own, and the worker's when the tasks are handed
to it: 0.2-0.3 ms of every slot here).
"""

from __future__ import annotations

import collections
import threading
import time

from .._log import get_logger
from .clock import FINISH_BY_SLEEP, finish

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, List, Optional, Tuple

    Task = Tuple[Callable[..., Any], tuple]

_LOGGER = get_logger("databay.SchedulePlanner")

_EXIT = object()  # _idle_wait: this worker ends


class WorkerPool:
    """Runs submitted ``(function, args)`` tasks on at most ``max_workers`` threads."""

    def __init__(self, max_workers: int, name: str = "databay-worker", patience: float = 0.005,
                 idle_timeout: float = 30.0, cpu_clock: Callable[[], float] = time.process_time) -> None:
        self._max_workers = max_workers
        self._cpu_clock = cpu_clock  # CPU seconds of this process (replaceable in tests)
        self._name = name
        self._patience = patience
        self._idle_timeout = idle_timeout
        self._tasks: collections.deque = collections.deque()
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # workers wait here for tasks
        self._short = threading.Condition(lock)  # the spawner waits here for a stall
        self._threads: List[threading.Thread] = []
        self._spawner: Optional[threading.Thread] = None
        self._idle = 0
        self._taken = 0  # tasks taken by workers so far: the spawner's measure of progress
        self._closed = False
        self._serial = 0
        self._watching = False  # the spawner was asked to watch, or watches (changed under the lock)
        self._call: Optional[Tuple[float, Callable[[], Any]]] = None  # see call_at
        self._caller: Optional[threading.Thread] = None  # the idle worker waiting to make it
        # The first worker and the spawner as Thread objects, made now and started by the first
        # submit: a Thread's set-up (its Event, Condition and name) was 30-60 µs of a planner's
        # start() before the first transfers. An unstarted Thread is no thread of the process.
        self._next_worker: Optional[threading.Thread] = self._worker_thread()
        self._next_spawner = self._spawner_thread() if max_workers > 1 else None  # one worker: no growth

    @property
    def max_workers(self) -> int:
        """The most worker threads this pool grows to."""
        return self._max_workers

    @property
    def size(self) -> int:
        """How many worker threads exist now."""
        return len(self._threads)

    def submit_many(self, tasks: Iterable[Task]) -> None:
        """Queue tasks and wake idle workers (or the spawner, if none is idle)."""
        starting: List[threading.Thread] = []
        with self._ready:
            if self._closed:
                return
            self._tasks.extend(tasks)
            idle = self._idle
            if idle:
                self._ready.notify(min(len(self._tasks), idle))
                if len(self._tasks) > idle:  # the woken workers leave a backlog
                    # Woken here, while the workers wake up, not by the first of them before
                    # its task: that notify delayed every task of the batch by 20-25 µs.
                    starting.extend(self._watch(idle))
            elif not self._threads:  # first use: one worker at once, the spawner for later
                starting.append(self._new_worker())
                if self._spawner is None and self._max_workers > 1:  # one worker: it never grows
                    # Started here after the worker (its start() waits for it while the worker
                    # runs), not by the worker before its first task: one thread start less
                    # between the first due time and the first transfers. The spawner checks
                    # for a backlog when it starts, so the worker's notify meanwhile is not lost.
                    starting.append(self._new_spawner())
            else:
                starting.extend(self._watch())
        for thread in starting:
            thread.start()

    def call_at(self, deadline: float, function: Callable[[], Any]) -> bool:
        """Have an idle worker call ``function`` once ``time.monotonic()`` reaches ``deadline``,
        then run the tasks it queued. It waits as ``SystemClock.wait`` does: the last
        :data:`~.clock.FINISH_BY_SLEEP` seconds slept (a timed wait on the pool's lock returns
        later), the last :data:`~.clock.FINISH_BY_SPIN` of them spun.
        False if nothing was arranged: no worker is idle or tasks wait (the caller waits for
        the deadline itself). Replaces the call arranged before, if it was not made yet. A
        waiting worker given tasks runs them first; the call stays for the next idle worker."""
        with self._ready:
            if self._closed or not self._idle or self._tasks:
                self._call = None
                return False
            self._call = (deadline, function)
            if self._caller is None:
                self._ready.notify()  # an idle worker wakes and waits for the deadline instead
            else:
                self._ready.notify_all()  # the waiting caller reads the new deadline
            return True

    def close(self) -> None:
        """Accept no more tasks and drop the queued ones; running tasks go on."""
        with self._ready:
            self._closed = True
            self._tasks.clear()
            self._ready.notify_all()
            self._short.notify_all()

    def join(self, timeout: Optional[float] = None) -> int:
        """After :meth:`close`, wait for the threads to end; how many are still busy
        when ``timeout`` (real seconds, for all of them) runs out (daemon threads)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            threads = list(self._threads) + ([self._spawner] if self._spawner is not None else [])
        current = threading.current_thread()
        left = 0
        for thread in threads:
            if thread is current or thread.ident is None:
                continue
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            left += thread.is_alive()
        return left

    def _may_grow(self) -> bool:
        """Tasks wait and the cap allows another worker (lock held)."""
        return bool(self._tasks) and not self._closed and len(self._threads) < self._max_workers

    def _short_of_workers(self, waking: int = 0) -> bool:
        """Tasks wait, nobody is idle (but the ``waking`` workers just notified, who are still
        counted idle until they run), and the cap allows another worker (lock held)."""
        return len(self._tasks) > waking and self._idle <= waking and self._may_grow()

    def _watch(self, waking: int = 0) -> List[threading.Thread]:
        """Wake the spawner if tasks wait and nobody is idle (see :meth:`_short_of_workers`);
        returns it to start on first use. It counts as watching from here on (lock held)."""
        if self._watching or not self._short_of_workers(waking):
            return []
        self._watching = True
        if self._spawner is None:
            return [self._new_spawner()]
        self._short.notify()
        return []

    def _new_spawner(self) -> threading.Thread:
        """The spawner thread, unstarted (lock held)."""
        thread, self._next_spawner = self._next_spawner, None
        self._spawner = thread if thread is not None else self._spawner_thread()
        return self._spawner

    def _spawner_thread(self) -> threading.Thread:
        return threading.Thread(target=self._spawn, daemon=True, name="%s-spawner" % self._name)

    def _spawn(self) -> None:
        """Add a worker whenever tasks waited ``patience`` seconds while the workers were stuck."""
        while True:
            with self._ready:
                # Asked to watch (_watch) while a notified worker may still count as idle: the
                # window's end tells whether the workers keep up.
                while not self._closed and not (self._watching and self._may_grow()):
                    self._watching = False
                    self._short.wait()
                waiting, taken = len(self._tasks), self._taken
                began, cpu = time.monotonic(), self._cpu_clock()
                end = began + self._patience
                while not self._closed:  # the whole window: a submit's notify does not cut it short
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._short.wait(left)
                if self._closed:
                    return
                if self._taken - taken >= waiting or not self._short_of_workers():
                    continue  # every task that waited then was taken: the workers keep up
                if self._taken != taken:  # progress: grow only if the workers wait, not compute
                    if len(self._tasks) < waiting:
                        continue  # the backlog drains: another thread would only contend
                    used = (self._cpu_clock() - cpu) / max(time.monotonic() - began, 1e-9)
                    if used >= 0.5:
                        continue  # on the CPU: under the GIL another thread would only contend
                thread = self._new_worker()
            thread.start()

    def _new_worker(self) -> threading.Thread:
        """A new, unstarted worker thread, already counted (lock held)."""
        thread, self._next_worker = self._next_worker, None
        if thread is None:
            thread = self._worker_thread()
        self._threads.append(thread)
        return thread

    def _worker_thread(self) -> threading.Thread:
        """The Thread object of the next worker, named by its serial number."""
        self._serial += 1
        return threading.Thread(target=self._work, daemon=True, name="%s-%d" % (self._name, self._serial))

    def _work(self) -> None:
        tasks = self._tasks
        take = tasks.popleft
        me = threading.current_thread()
        while True:
            try:
                function, args = take()  # atomic: no lock while tasks are queued
            except IndexError:
                with self._ready:
                    call = self._idle_wait(me)
                if call is _EXIT:
                    return
                if call is not None:  # its last stretch slept, then spun, as clock.SystemClock.wait
                    deadline, function = call
                    finish(deadline)
                    try:
                        function()
                    except BaseException:  # noqa: BLE001 - a worker must outlive any call
                        _LOGGER.exception("Call %r raised in the worker pool", function)
                continue
            # Progress for the spawner, unlocked: a rare lost count looks like less progress
            # and can only make the pool grow a window early.
            self._taken += 1
            if tasks and not self._watching:  # more wait: the spawner must watch (it may sleep)
                with self._ready:
                    starting = self._watch()
                for thread in starting:
                    thread.start()
            try:
                function(*args)
            except BaseException:  # noqa: BLE001 - a worker must outlive any task
                _LOGGER.exception("Task %r raised in the worker pool", function)

    def _idle_wait(self, me: threading.Thread) -> Any:
        """Wait for work (lock held): None once tasks are queued, the call to make now (see
        :meth:`call_at`; one idle worker waits for it), or ``_EXIT`` if this worker ends."""
        tasks = self._tasks
        while not tasks:
            if self._closed:
                self._threads.remove(me)
                return _EXIT
            call = self._call
            if call is not None and self._caller in (None, me):
                self._caller = me
                timeout = call[0] - FINISH_BY_SLEEP - time.monotonic()
                if timeout <= 0:
                    self._call = self._caller = None
                    return call
            else:
                if self._caller is me:  # its call was taken back (see call_at)
                    self._caller = None
                call, timeout = None, self._idle_timeout
            self._idle += 1
            woken = self._ready.wait(timeout)
            self._idle -= 1
            if call is None and not woken and not tasks and len(self._threads) > 1:
                self._threads.remove(me)  # idle too long: shrink
                return _EXIT
        if self._caller is me:  # given tasks first: another idle worker may make the call
            self._caller = None
        return None

