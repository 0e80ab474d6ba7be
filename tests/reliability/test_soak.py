"""Soak: 1,000 links at 100 ms for about a minute; memory stays flat and lateness bounded."""

import gc
import threading
import time
import tracemalloc

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner
from databay._stats import WINDOW
from databay.planners.clock import SystemClock

LINKS = 1000
INTERVAL = 0.1
LATENESS_SECONDS = 20.0  # phase 1: lateness, untraced (tracemalloc roughly doubles the CPU cost)
MEMORY_SECONDS = 40.0  # phase 2: memory under tracemalloc
SAMPLE_EVERY = 5.0
WARM_UP = 10.0  # of phase 2


class Lateness:
    """A fixed-size histogram of pull lateness (1 ms buckets up to 2 s): it never grows."""

    def __init__(self):
        self.buckets = [0] * 2001
        self.count = 0
        self.lock = threading.Lock()

    def add(self, seconds):
        index = min(max(int(seconds * 1000), 0), 2000)
        with self.lock:
            self.buckets[index] += 1
            self.count += 1

    def percentile(self, fraction):
        target, seen = fraction * self.count, 0
        for index, number in enumerate(self.buckets):
            seen += number
            if seen >= target:
                return index / 1000
        return 2.0


class Clock(SystemClock):
    """The system clock, remembering its first reading: the planner's grid anchor t0."""

    def __init__(self):
        self.t0 = None

    def now(self):
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        return now


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_thousand_links_for_a_minute_keep_memory_flat_and_lateness_bounded(run_in_thread, waiter):
    """1,000 links at 100 ms for ~60 s: traced memory does not grow after warm-up and transfers keep running."""
    clock = Clock()
    lateness = Lateness()
    early = []
    delivered = [0]
    lock = threading.Lock()

    class Source(Inlet):
        def pull(self, update):
            late = time.monotonic() - (clock.t0 + update.transfer_number * INTERVAL)
            if late < -0.002:
                early.append(late)
            lateness.add(late)
            return {"n": update.transfer_number}

    class Count(Outlet):
        def push(self, records, update):
            with lock:
                delivered[0] += len(records)

    outlet = Count()
    planner = SchedulePlanner([Link(Source(), outlet, INTERVAL) for _ in range(LINKS)], clock=clock)
    runner = run_in_thread(planner)
    assert waiter(lambda: planner.running, 30)
    pause = threading.Event()
    pause.wait(LATENESS_SECONDS)  # the measured period, not synchronisation
    measured = lateness.count
    p50, p99 = lateness.percentile(0.5), lateness.percentile(0.99)
    due = LINKS * LATENESS_SECONDS / INTERVAL
    tracemalloc.start()
    try:
        samples = []
        began = time.monotonic()
        while time.monotonic() - began < MEMORY_SECONDS:
            pause.wait(SAMPLE_EVERY)  # sampling cadence, not synchronisation
            gc.collect()
            samples.append((time.monotonic() - began, tracemalloc.get_traced_memory()[0],
                            lateness.count - measured))
            assert planner.running and runner.error is None
        runner.stop()
    finally:
        tracemalloc.stop()
    # Warm-up lasts until every link ran a full stats window under tracing: until then each
    # transfer replaces an untraced value in the fixed-size rings of databay/_stats.py by a
    # traced one, which tracemalloc reports as growth although nothing grows.
    settled = [size for at, size, traced in samples if at >= WARM_UP and traced >= LINKS * (WINDOW + 8)]
    if len(settled) < 2:  # a very slow machine: compare the last two samples (5 s apart)
        settled = [size for _, size, _ in samples[-2:]]
    growth = settled[-1] - settled[0]
    print("\nsoak: %d links; %.0f s untraced: %d of %d transfers, p50 %.1f ms, p99 %.1f ms; "
          "%.0f s traced: %d transfers, memory %s"
          % (LINKS, LATENESS_SECONDS, measured, due, p50 * 1000, p99 * 1000, MEMORY_SECONDS,
             lateness.count - measured, ["%.2f MB" % (size / 1e6) for _, size, _ in samples]))
    assert early == [], "transfers ran before their slot"
    assert delivered[0] == lateness.count
    # Generous floors for a loaded machine; benchmarks/ measures throughput and lateness.
    assert measured >= 0.25 * due, (measured, due)
    # p50/p99 are printed, not asserted: lateness by transfer number grows by an interval with
    # every coalesced slot, so on a loaded machine it measures the load (see benchmarks/).
    assert growth < 1_000_000, samples
