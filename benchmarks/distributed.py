"""Benchmark: a ShardedRun of 2 shards × 10,000 links at 1 s on a local Ray cluster.

Reports the share of grid slots each shard kept inside a measurement window,
where the lost ones went (the planner's skipped and missed counts), the CPU of
each shard process split by thread (databay's Python threads against Ray's own
threads), its memory, how long building its links took, what one ``status()``
call costs, and the same figures for one plain process running 10,000 of those
links on a SchedulePlanner (no Ray), so the cost of sharding shows next to the
single-process figure::

    python benchmarks/distributed.py                  # 2 × 10,000 links, 30 s window
    python benchmarks/distributed.py --links 2000 --seconds 10   # quicker

It then SIGKILLs one shard of a small run ``--kills`` times (default 3) and
prints how long each restart took, until the shard's planner ran again, split
into Ray's part (a new worker process boots and creates the actor) and the
shard's own (factory, planner).

Needs the ray extra (pip install -e ".[ray]"). Nothing is asserted: the
numbers are printed (``--json`` for one JSON line) with the 1-minute load
average, and the target (≥ 99 % of slots kept) is shown next to them.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, HERE]
WARMUP = 3.0  # seconds after start() before the window opens
TAIL = 1.5  # seconds between the window's end and stop()


def proc_sample(pid):
    """(CPU seconds, RSS MiB) of a process on this machine, from /proc."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0.0
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def _init_ray(ray, cpus):
    """A local cluster whose workers import distributed_links through PYTHONPATH, inherited
    while ray.init starts them (a runtime_env would boot every worker twice: slower
    starts and restarts, see docs/distributed.md)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [HERE, REPO, saved]))
    try:
        ray.init(num_cpus=cpus, include_dashboard=False, namespace="databay", log_to_driver=False,
                 configure_logging=False)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def thread_cpu(pid):
    """CPU seconds of a process's threads: (Python's, the others'). In a Ray worker, Python
    threads carry the process title (``ray::...``); Ray's own threads are named by Ray."""
    ticks = os.sysconf("SC_CLK_TCK")
    names, seconds = {}, {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as handle:
                head, tail = handle.read().rsplit(")", 1)
        except OSError:
            continue
        fields = tail.split()
        names[tid] = head.split("(", 1)[1]
        seconds[tid] = (int(fields[11]) + int(fields[12])) / ticks
    main = names.get(str(pid), "")
    prefix = "ray::" if main.startswith("ray::") else main  # a Ray worker's title, or python's
    python = sum(cpu for tid, cpu in seconds.items() if names[tid].startswith(prefix))
    return python, sum(seconds.values()) - python


def python_share(before, after, pid):
    """(Python threads' CPU seconds, Ray's threads' CPU seconds) between two thread_cpu()."""
    return after[0] - before[0], after[1] - before[1]


def load():
    return round(os.getloadavg()[0], 2)


def ray_processes_rss():
    """Total RSS (MiB) of the Ray cluster's own processes (not the shards or this driver)."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(part in cmdline for part in ("raylet", "gcs_server", "ray/dashboard", "log_monitor",
                                            "ray/_private/monitor", "runtime_env/agent")):
            try:
                total += proc_sample(int(name))[1]
            except OSError:
                pass
    return total


def kept_slots(out_dir, interval, window, shard=None):
    """(kept, due) slots of the links reported in ``out_dir`` (of one ``shard``), inside ``window``."""
    first = int(window[0] / interval) + 1
    last = int(window[1] / interval) - 1
    due = kept = 0
    prefix = "slots-" if shard is None else "slots-%d-" % shard
    for name in os.listdir(out_dir):
        if not name.startswith(prefix):
            continue
        with open(os.path.join(out_dir, name)) as handle:
            lines = handle.read().splitlines()
        for line in lines:
            ran = {int(slot) for slot in line.split()[1:]}
            due += last - first + 1
            kept += sum(first <= slot <= last for slot in ran)
    return kept, due


def sharded(links, interval, seconds, shards, jitter=0.0, threads=30, niceness=0):
    import ray

    from databay.distributed import RayBackend, ShardedRun

    out_dir = tempfile.mkdtemp(prefix="databay-dist-bench-")
    started = time.time()
    _init_ray(ray, shards)
    cluster_start = time.time() - started
    try:
        run = ShardedRun("distributed_links:build_links", shards=shards, name="bench",
                         factory_kwargs={"out_dir": out_dir, "per_shard": links,
                                         "interval": interval, "jitter": jitter},
                         planner_kwargs={"threads": threads},
                         backend=RayBackend(niceness=niceness))
        started = time.time()
        run.start()
        run_start = time.time() - started
        time.sleep(WARMUP)
        opening = run.status()["per_shard"]
        pids = [shard["pid"] for shard in opening]
        before = [proc_sample(pid) for pid in pids]
        threads_before = [thread_cpu(pid) for pid in pids]
        window = (time.time(), time.time() + seconds)
        load_before = load()
        peak = [sample[1] for sample in before]
        while time.time() < window[1]:
            time.sleep(1)
            peak = [max(p, proc_sample(pid)[1]) for p, pid in zip(peak, pids)]
        after = [proc_sample(pid) for pid in pids]
        threads_after = [thread_cpu(pid) for pid in pids]
        load_after = load()
        closing = run.status()["per_shard"]
        cluster_rss = ray_processes_rss()
        status_calls = []  # what one status() of the whole run costs, after the window
        for _ in range(3):
            asked = time.perf_counter()
            run.status()
            status_calls.append(time.perf_counter() - asked)
        time.sleep(TAIL)
        finals = run.stop(timeout=120)
    finally:
        ray.shutdown()
    kept, due = kept_slots(out_dir, interval, window)
    per_shard = []
    for index, pid in enumerate(pids):
        python, ray_threads = python_share(threads_before[index], threads_after[index], pid)
        counted = {name: closing[index]["counters"]["transfers"].get(name, 0) -
                   opening[index]["counters"]["transfers"].get(name, 0)
                   for name in ("run", "skipped", "missed")}
        boot = opening[index]["boot"]
        per_shard.append({
            "shard": index, "kept_pct": _pct(*kept_slots(out_dir, interval, window, index)),
            "cpu_pct": round(100 * (after[index][0] - before[index][0]) / seconds, 1),
            "cpu_python_pct": round(100 * python / seconds, 1),
            "cpu_ray_threads_pct": round(100 * ray_threads / seconds, 1),
            "rss_mib": round(peak[index], 1), "window_transfers": counted,
            "build_links_s": round(boot["built"] - boot["start"], 2),
            "start_planner_s": round(boot["running"] - boot["built"], 2),
        })
    return {
        "shards": shards, "links_per_shard": links, "interval_s": interval, "jitter_s": jitter,
        "threads": threads, "niceness": [shard["niceness"] for shard in opening],
        "window_s": seconds, "load": [load_before, load_after],
        "slots_due": due, "slots_kept": kept, "kept_pct": 100.0 * kept / due if due else None,
        "cluster_start_s": round(cluster_start, 2), "run_start_s": round(run_start, 2),
        "per_shard": per_shard, "status_call_s": round(max(status_calls), 3),
        "ray_cluster_rss_mib": round(cluster_rss, 1),
        "stopped": [final["state"] for final in finals],
    }


def _pct(kept, due):
    return round(100.0 * kept / due, 3) if due else None


def restarts(kills, links=100, interval=1.0):
    """SIGKILL shard 1's process ``kills`` times; for each: seconds until its planner ran
    again, and when (after the kill) its new process started, the shard began building its
    links, and its planner ran."""
    import signal

    import ray

    from databay.distributed import ShardedRun

    out_dir = tempfile.mkdtemp(prefix="databay-dist-kill-")
    _init_ray(ray, 2)
    results = []
    try:
        run = ShardedRun("distributed_links:build_links", shards=2, name="bench-kill",
                         factory_kwargs={"out_dir": out_dir, "per_shard": links,
                                         "interval": interval})
        run.start()
        for _ in range(kills):
            time.sleep(2)
            victim = run.status()["per_shard"][1]
            os.kill(victim["pid"], signal.SIGKILL)
            killed_at = time.time()
            while True:
                shard = run.status(timeout=1)["per_shard"][1]
                if shard["state"] == "running" and shard["pid"] != victim["pid"]:
                    break
                time.sleep(0.05)
            boot = {step: round(at - killed_at, 3) for step, at in shard["boot"].items()}
            results.append({"back_s": round(shard["started_at"] - killed_at, 3), "load": load(),
                            "process_s": boot["process"], "shard_start_s": boot["start"],
                            "running_s": boot["running"]})
        run.stop(timeout=60)
    finally:
        ray.shutdown()
    return results


def single_process_run(links, interval, seconds, jitter=0.0, threads=30):
    """Run one shard's links in this process on a plain SchedulePlanner (the baseline)."""
    import threading

    from distributed_links import build_links

    from databay.distributed._shard import _align
    from databay.planners import SchedulePlanner

    out_dir = tempfile.mkdtemp(prefix="databay-single-bench-")
    built = build_links(0, 1, out_dir, links, interval, jitter)
    for link in built:
        _align(link)  # the grid a shard puts them on
    planner = SchedulePlanner(built, threads=threads, ignore_exceptions=True,
                              immediate_transfer=False)
    thread = threading.Thread(target=planner.start)
    thread.start()
    time.sleep(WARMUP)
    before = proc_sample(os.getpid())
    window = (time.time(), time.time() + seconds)
    load_before = load()
    peak = before[1]
    while time.time() < window[1]:
        time.sleep(1)
        peak = max(peak, proc_sample(os.getpid())[1])
    after = proc_sample(os.getpid())
    load_after = load()
    time.sleep(TAIL)
    planner.shutdown()
    thread.join()
    kept, due = kept_slots(out_dir, interval, window)
    return {"links": links, "slots_due": due, "slots_kept": kept, "load": [load_before, load_after],
            "kept_pct": 100.0 * kept / due if due else None,
            "cpu_pct": round(100 * (after[0] - before[0]) / seconds, 1), "rss_mib": round(peak, 1)}


def single(links, interval, seconds, jitter, threads):
    """The same links (one shard's worth) in a fresh plain process, no Ray."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--single-process-only",
                          "--links", str(links), "--interval", str(interval),
                          "--seconds", str(seconds), "--jitter", str(jitter),
                          "--threads", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=10000, help="links per shard")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--jitter", type=float, default=0.0,
                        help="spread each link's slots by a fixed delay in [0, jitter) seconds")
    parser.add_argument("--threads", type=int, default=30, help="worker threads per planner")
    parser.add_argument("--niceness", type=lambda text: None if text == "ray" else int(text),
                        default=0, help="the shards' niceness (RayBackend(niceness=...)); 'ray' "
                                        "keeps Ray's worker niceness, 15")
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--no-sharded", action="store_true", help="skip the sharded run")
    parser.add_argument("--no-single", action="store_true", help="skip the one-process baseline")
    parser.add_argument("--kills", type=int, default=3,
                        help="SIGKILL a shard this many times in a separate small run (0: skip)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--single-process-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single_process_only:
        print(json.dumps(single_process_run(args.links, args.interval, args.seconds, args.jitter,
                                            args.threads)))
        return
    result = {}
    if not args.no_sharded:
        result["sharded"] = sharded(args.links, args.interval, args.seconds, args.shards,
                                    args.jitter, args.threads, args.niceness)
    if not args.no_single:
        result["single_process"] = single(args.links, args.interval, args.seconds, args.jitter,
                                          args.threads)
    if args.kills:
        result["restarts"] = restarts(args.kills)
    if args.json:
        print(json.dumps(result))
        return
    if "sharded" in result:
        s = result["sharded"]
        print("ShardedRun: %d shards × %d links at %g s (jitter %g s, %d threads, niceness %s), "
              "%g s window, load %s (Ray cluster start %.1f s, run start %.1f s)"
              % (s["shards"], s["links_per_shard"], s["interval_s"], s["jitter_s"], s["threads"],
                 s["niceness"], s["window_s"], s["load"], s["cluster_start_s"], s["run_start_s"]))
        print("  slots kept: %d of %d = %.2f %% (target ≥ 99 %%)"
              % (s["slots_kept"], s["slots_due"], s["kept_pct"]))
        for shard in s["per_shard"]:
            print("  shard %(shard)d: slots kept %(kept_pct).2f %% %(window_transfers)s, CPU "
                  "%(cpu_pct).1f %% of a core (Python threads %(cpu_python_pct).1f %%, Ray's "
                  "threads %(cpu_ray_threads_pct).1f %%), RSS %(rss_mib).0f MiB, links built in "
                  "%(build_links_s).2f s, planner started in %(start_planner_s).2f s" % shard)
        print("  one status() of the run: %.3f s; Ray's own processes: RSS %.0f MiB; shards "
              "stopped: %s" % (s["status_call_s"], s["ray_cluster_rss_mib"], s["stopped"]))
    if "single_process" in result:
        p = result["single_process"]
        print("One process, %d links, no Ray: slots kept %.2f %%, CPU %.1f %% of a core, "
              "RSS %.0f MiB, load %s" % (p["links"], p["kept_pct"], p["cpu_pct"], p["rss_mib"],
                                         p["load"]))
    for kill in result.get("restarts", []):
        print("SIGKILL of a shard (2 × 100 links): back after %(back_s).2f s (new process "
              "+%(process_s).2f s, shard start +%(shard_start_s).2f s, planner running "
              "+%(running_s).2f s), load %(load)s" % kill)


if __name__ == "__main__":
    main()
