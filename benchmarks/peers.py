"""databay's planner against the schedulers a user would pick instead (issue 10).

Runs ONE workload with ONE implementation in this process and prints one JSON line::

    python benchmarks/peers.py P1 databay --quick
    python benchmarks/peers.py --list

Implementations, all doing the same pull/push (an int from a sync pull, a no-op push):

- ``databay``: SchedulePlanner with Link(inlet, outlet, interval).
- ``sched``: the practical limit: ``sched.scheduler`` plus ONE worker thread, written here.
- ``asyncio``: one event loop, one task per link sleeping until its next slot, written here.

Every peer has databay's semantics where a workload can tell: slots missed while running late
coalesce into one run (APScheduler: ``coalesce=True``; ``schedule`` by design), and the sched
loop skips a link whose previous run is still queued. Without that, P3 measures how fast a
loop catches up on a backlog it should have dropped (the sched loop then took minutes).
- ``apscheduler``: APScheduler 3.x BackgroundScheduler, interval jobs with
  ``max_instances=1, coalesce=True`` (run with benchmarks/.venv-aps/bin/python).
- ``schedule``: the ``schedule`` package's ``run_pending`` loop (benchmarks/.venv-schedule).

Workloads:

- P1: 2,000 links all due together every 1 s for ``duration`` s: CPU s and lateness p99.
- P2: 10,000 links at 3,600 s: seconds to build the planner (links included) and, for
  databay, how long ``start()`` takes to return after ``shutdown()``; every slot run.
- P3: 1,000 links at 1 ms for 3 s: fires per second.
- P4: ``link.transfer()`` (sync int inlet, no-op outlet, copy_records=True) in µs; for
  APScheduler its ``run_job`` path is not comparable and is not measured.
- P5: W4's shape (20 links at 0.2 s for 8 s): lateness p50 and p99 against each peer's own
  grid, slot 0 included. It shows what this machine's wake-ups allow a thread-based loop
  (the sched loop) next to databay's W4 figures.

``driver.py --peers`` runs every pair in fresh processes, alternating, and prints medians
and ratios to the sched loop. Benchmarks are not tests: nothing here asserts a timing.
"""

import argparse
import asyncio
import heapq
import json
import logging
import sched
import statistics
import sys
import threading
import time

logging.disable(logging.CRITICAL)
QUICK = False


class Stamps:
    """Lateness of every fire against its slot, and the fire count."""

    def __init__(self):
        self.lateness = []
        self.lock = threading.Lock()

    def add(self, late):
        self.lateness.append(late)

    def p99_ms(self):
        return self.percentile_ms(0.99)

    def percentile_ms(self, q):
        if not self.lateness:
            return None
        ordered = sorted(self.lateness)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def pull():
    return 1


def push(records):
    return None


# -- the peers --------------------------------------------------------------------------

def run_databay(links, interval, duration, stamps, immediate=True):
    from databay import Inlet, Link, Outlet
    from databay.planners import SchedulePlanner

    class In(Inlet):
        def __init__(self, slot0):
            super().__init__()
            self.slot0 = slot0

        def pull(self, update):
            stamps.add(time.monotonic() - (self.slot0[0] + update.transfer_number * interval))
            return 1

    class Out(Outlet):
        def push(self, records, update):
            pass

    slot0 = [0.0]
    out = Out()
    began = time.perf_counter()
    planner = SchedulePlanner([Link(In(slot0), out, interval) for _ in range(links)],
                              handle_signals=False)
    built = time.perf_counter() - began
    threading.Timer(duration + min(interval / 2, 0.5), planner.shutdown).start()
    slot0[0] = time.monotonic()
    planner.start()
    return {"build_s": round(built, 4)}


def run_sched(links, interval, duration, stamps, immediate=True):
    """sched + one worker thread: the loop puts due jobs on a queue, the worker runs them.

    Like databay, a link whose previous run is still queued skips its slot, and slots
    missed while the loop was late coalesce into one run (the next due time is the first
    grid time after now): the loop stays bounded when it cannot keep up (P3).
    """
    import queue

    work = queue.SimpleQueue()
    began = time.perf_counter()
    scheduler = sched.scheduler(time.monotonic, time.sleep)
    t0 = time.monotonic()
    end = t0 + duration + min(interval / 2, 0.5)
    queued = [False] * links

    def fire(k, due):
        if not queued[k]:
            queued[k] = True
            work.put((k, due))
        nxt = due + interval
        now = time.monotonic()
        if nxt <= now:
            nxt = due + (int((now - due) / interval) + 1) * interval
        if nxt < end:
            scheduler.enterabs(nxt, 0, fire, (k, nxt))

    for k in range(links):
        scheduler.enterabs(t0 if immediate else t0 + interval, 0, fire, (k, t0))
    built = time.perf_counter() - began

    def worker():
        while True:
            item = work.get()
            if item is None:
                return
            stamps.add(time.monotonic() - item[1])
            push([pull()])
            queued[item[0]] = False

    thread = threading.Thread(target=worker)
    thread.start()
    scheduler.run()
    work.put(None)
    thread.join()
    return {"build_s": round(built, 4)}


def run_asyncio(links, interval, duration, stamps, immediate=True):
    """One task per link; slots missed while the loop was late coalesce, as in databay."""
    async def one(t0, end):
        due = t0
        loop = asyncio.get_running_loop()
        while due < end:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            stamps.add(now - due)
            push([pull()])
            due += interval
            if due <= now:  # late: the missed slots coalesce into the run just made
                due += (int((now - due) / interval) + 1) * interval

    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        end = t0 + duration + min(interval / 2, 0.5)
        await asyncio.gather(*(one(t0, end) for _ in range(links)))

    asyncio.run(main())
    return {}


def run_apscheduler(links, interval, duration, stamps, immediate=True):
    import datetime

    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(30)},
                                    job_defaults={"max_instances": 1, "coalesce": True},
                                    timezone="UTC")
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=0.5)
    t0 = time.monotonic() + (start - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    counters = [0] * links

    def job(k):
        stamps.add(time.monotonic() - (t0 + counters[k] * interval))
        counters[k] += 1
        push([pull()])

    began = time.perf_counter()
    for k in range(links):
        scheduler.add_job(job, "interval", seconds=interval, args=(k,),
                          next_run_time=start)
    built = time.perf_counter() - began
    scheduler.start()
    time.sleep(0.5 + duration + min(interval / 2, 0.5))
    scheduler.shutdown(wait=True)
    return {"build_s": round(built, 4)}


def run_schedule(links, interval, duration, stamps, immediate=True):
    import schedule

    t0 = time.monotonic()
    counters = [0] * links

    def job(k):
        stamps.add(time.monotonic() - (t0 + (counters[k] + 1) * interval))
        counters[k] += 1
        push([pull()])

    began = time.perf_counter()
    for k in range(links):
        schedule.every(interval).seconds.do(job, k)
    built = time.perf_counter() - began
    end = t0 + duration + min(interval / 2, 0.5)
    while time.monotonic() < end:
        schedule.run_pending()
        time.sleep(min(0.001, interval / 10))
    return {"build_s": round(built, 4)}


PEERS = {"databay": run_databay, "sched": run_sched, "asyncio": run_asyncio,
         "apscheduler": run_apscheduler, "schedule": run_schedule}


# -- the workloads ------------------------------------------------------------------------

def p1(peer):
    """2,000 links all due together every 1 s: CPU and lateness p99."""
    links, duration = (200, 2.0) if QUICK else (2000, 12.0)
    stamps = Stamps()
    cpu = time.process_time()
    extra = PEERS[peer](links, 1.0, duration, stamps)
    return {"cpu_s": round(time.process_time() - cpu, 3), "p99_ms": stamps.p99_ms(),
            "fires": len(stamps.lateness), **extra}


def p2(peer):
    """10,000 links: build time; databay: start() after shutdown(); every slot run."""
    links = 1000 if QUICK else 10000
    if peer != "databay":
        stamps = Stamps()
        extra = PEERS[peer](links, 3600.0, 0.5, stamps)
        return {"fires": len(stamps.lateness), **extra}
    from databay import Inlet, Link, Outlet
    from databay.planners import SchedulePlanner

    ran = [0]

    class In(Inlet):
        def pull(self, update):
            ran[0] += 1
            return 1

    class Out(Outlet):
        def push(self, records, update):
            pass

    out = Out()
    began = time.perf_counter()
    planner = SchedulePlanner([Link(In(), out, 3600) for _ in range(links)], handle_signals=False)
    built = time.perf_counter() - began
    thread = threading.Thread(target=planner.start)
    thread.start()
    while ran[0] < links:
        time.sleep(0.01)
    stopped = time.perf_counter()
    planner.shutdown()
    thread.join()
    returned = time.perf_counter() - stopped
    return {"build_s": round(built, 4), "start_returns_after_shutdown_ms": round(returned * 1000, 3),
            "fires": ran[0], "slots": links}


def p3(peer):
    """1,000 links at 1 ms: fires per second."""
    links, duration = (100, 1.0) if QUICK else (1000, 3.0)
    stamps = Stamps()
    began = time.perf_counter()
    PEERS[peer](links, 0.001, duration, stamps)
    return {"fires_per_s": round(len(stamps.lateness) / (time.perf_counter() - began))}


def p4(peer):
    """link.transfer() µs (databay only; the others have no equivalent call)."""
    if peer != "databay":
        return {}
    from databay import Inlet, Link, Outlet

    class In(Inlet):
        def pull(self, update):
            return 1

    class Out(Outlet):
        def push(self, records, update):
            pass

    link = Link(In(), Out(), 1, copy_records=True)
    link.on_start()
    runs = []
    deadline = time.perf_counter() + (0.3 if QUICK else 1.5)
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        for _ in range(200):
            link.transfer()
        runs.append((time.perf_counter() - began) / 200)
    link.on_shutdown()
    return {"transfer_us": round(statistics.median(runs) * 1e6, 3)}


def p5(peer):
    """W4's shape, 20 links at 0.2 s for 8 s: lateness p50 and p99 (slot 0 included)."""
    links, duration = (5, 0.4) if QUICK else (20, 8.0)
    stamps = Stamps()
    PEERS[peer](links, 0.2, duration, stamps)
    return {"p50_ms": stamps.percentile_ms(0.5), "p99_ms": stamps.p99_ms(),
            "fires": len(stamps.lateness)}


WORKLOADS = {"P1": p1, "P2": p2, "P3": p3, "P4": p4, "P5": p5}


def main():
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", nargs="?")
    parser.add_argument("peer", nargs="?")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list or not args.workload:
        for name, function in WORKLOADS.items():
            print(name, function.__doc__)
        print("peers:", ", ".join(PEERS))
        return
    QUICK = args.quick
    result = WORKLOADS[args.workload](args.peer)
    print(json.dumps({"workload": args.workload, "peer": args.peer, **result}))


if __name__ == "__main__":
    heapq  # noqa: B018 - imported for readers comparing with the sched loop
    main()
