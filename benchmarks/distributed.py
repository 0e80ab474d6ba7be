"""Benchmark: a ShardedRun of 2 shards × 10,000 links at 1 s on a local Ray cluster.

Reports the share of grid slots each shard kept inside a measurement window,
the CPU and memory of each shard process, and the same figures for one plain
process running 10,000 of those links on a SchedulePlanner (no Ray), so the
cost of sharding shows next to the single-process figure::

    python benchmarks/distributed.py                  # 2 × 10,000 links, 30 s window
    python benchmarks/distributed.py --links 2000 --seconds 10   # quicker

It then SIGKILLs one shard of a small run ``--kills`` times (default 3) and
prints how long each restart took, until the shard's planner ran again.

Needs the ray extra (pip install -e ".[ray]"). Nothing is asserted: the
numbers are printed (``--json`` for one JSON line) and the target (≥ 99 % of
slots kept) is shown next to them.
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


def sharded(links, interval, seconds, shards):
    import ray

    from databay.distributed import ShardedRun

    out_dir = tempfile.mkdtemp(prefix="databay-dist-bench-")
    started = time.time()
    ray.init(num_cpus=shards, include_dashboard=False, namespace="databay", log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": HERE}})
    cluster_start = time.time() - started
    try:
        run = ShardedRun("distributed_links:build_links", shards=shards, name="bench",
                         factory_kwargs={"out_dir": out_dir, "per_shard": links,
                                         "interval": interval},
                         planner_kwargs={"ignore_exceptions": True})
        started = time.time()
        run.start()
        run_start = time.time() - started
        pids = [shard["pid"] for shard in run.status()["per_shard"]]
        time.sleep(WARMUP)
        before = [proc_sample(pid) for pid in pids]
        window = (time.time(), time.time() + seconds)
        peak = [sample[1] for sample in before]
        while time.time() < window[1]:
            time.sleep(1)
            peak = [max(p, proc_sample(pid)[1]) for p, pid in zip(peak, pids)]
        after = [proc_sample(pid) for pid in pids]
        cluster_rss = ray_processes_rss()
        time.sleep(TAIL)
        finals = run.stop(timeout=120)
    finally:
        ray.shutdown()
    kept, due = kept_slots(out_dir, interval, window)
    return {
        "shards": shards, "links_per_shard": links, "interval_s": interval, "window_s": seconds,
        "slots_due": due, "slots_kept": kept, "kept_pct": 100.0 * kept / due if due else None,
        "cluster_start_s": round(cluster_start, 2), "run_start_s": round(run_start, 2),
        "per_shard": [{"shard": index, "cpu_pct": round(100 * (a[0] - b[0]) / seconds, 1),
                       "rss_mib": round(peak_rss, 1),
                       "kept_pct": _pct(*kept_slots(out_dir, interval, window, index))}
                      for index, (b, a, peak_rss) in enumerate(zip(before, after, peak))],
        "ray_cluster_rss_mib": round(cluster_rss, 1),
        "stopped": [final["state"] for final in finals],
    }


def _pct(kept, due):
    return round(100.0 * kept / due, 3) if due else None


def restarts(kills, links=100, interval=1.0):
    """Seconds from SIGKILL of shard 1's process until its planner runs again, ``kills`` times."""
    import signal

    import ray

    from databay.distributed import ShardedRun

    out_dir = tempfile.mkdtemp(prefix="databay-dist-kill-")
    ray.init(num_cpus=2, include_dashboard=False, namespace="databay", log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": HERE}})
    downtimes = []
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
                time.sleep(0.01)
            downtimes.append(round(shard["started_at"] - killed_at, 3))
        run.stop(timeout=60)
    finally:
        ray.shutdown()
    return downtimes


def single_process_run(links, interval, seconds):
    """Run one shard's links in this process on a plain SchedulePlanner (the baseline)."""
    import threading

    from distributed_links import build_links

    from databay.planners import SchedulePlanner

    out_dir = tempfile.mkdtemp(prefix="databay-single-bench-")
    planner = SchedulePlanner(build_links(0, 1, out_dir, links, interval), ignore_exceptions=True,
                              immediate_transfer=False)
    thread = threading.Thread(target=planner.start)
    thread.start()
    time.sleep(WARMUP)
    before = proc_sample(os.getpid())
    window = (time.time(), time.time() + seconds)
    peak = before[1]
    while time.time() < window[1]:
        time.sleep(1)
        peak = max(peak, proc_sample(os.getpid())[1])
    after = proc_sample(os.getpid())
    time.sleep(TAIL)
    planner.shutdown()
    thread.join()
    kept, due = kept_slots(out_dir, interval, window)
    return {"links": links, "slots_due": due, "slots_kept": kept,
            "kept_pct": 100.0 * kept / due if due else None,
            "cpu_pct": round(100 * (after[0] - before[0]) / seconds, 1), "rss_mib": round(peak, 1)}


def single(links, interval, seconds):
    """The same links (one shard's worth) in a fresh plain process, no Ray."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--single-process-only",
                          "--links", str(links), "--interval", str(interval),
                          "--seconds", str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=10000, help="links per shard")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--no-single", action="store_true", help="skip the one-process baseline")
    parser.add_argument("--kills", type=int, default=3,
                        help="SIGKILL a shard this many times in a separate small run (0: skip)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--single-process-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single_process_only:
        print(json.dumps(single_process_run(args.links, args.interval, args.seconds)))
        return
    result = {"sharded": sharded(args.links, args.interval, args.seconds, args.shards)}
    if not args.no_single:
        result["single_process"] = single(args.links, args.interval, args.seconds)
    if args.kills:
        result["restart_seconds"] = restarts(args.kills)
    if args.json:
        print(json.dumps(result))
        return
    s = result["sharded"]
    print("ShardedRun: %d shards × %d links at %g s, %g s window (Ray cluster start %.1f s, "
          "run start %.1f s)" % (s["shards"], s["links_per_shard"], s["interval_s"], s["window_s"],
                                 s["cluster_start_s"], s["run_start_s"]))
    print("  slots kept: %d of %d = %.2f %% (target ≥ 99 %%)" % (s["slots_kept"], s["slots_due"],
                                                                 s["kept_pct"]))
    for shard in s["per_shard"]:
        print("  shard %(shard)d: slots kept %(kept_pct).2f %%, CPU %(cpu_pct).1f %% of a core, "
              "RSS %(rss_mib).0f MiB" % shard)
    print("  Ray's own processes: RSS %.0f MiB; shards stopped: %s" % (s["ray_cluster_rss_mib"],
                                                                      s["stopped"]))
    if "single_process" in result:
        p = result["single_process"]
        print("One process, %d links, no Ray: slots kept %.2f %%, CPU %.1f %% of a core, RSS %.0f MiB"
              % (p["links"], p["kept_pct"], p["cpu_pct"], p["rss_mib"]))
    if "restart_seconds" in result:
        print("SIGKILL of a shard (2 × 100 links): back after %s s"
              % ", ".join("%.2f" % seconds for seconds in result["restart_seconds"]))


if __name__ == "__main__":
    main()
