"""Run the benchmark suite for ours and databay 0.3.0 side by side.

Every workload runs in a fresh process, implementations alternating A, B, B, A
(``--repeats`` runs each); the table shows the median of each metric::

    python benchmarks/driver.py                       # full comparison
    python benchmarks/driver.py --quick               # smoke test, seconds
    python benchmarks/driver.py --only W1,W4 --repeats 4
    python benchmarks/driver.py --ref none            # ours only (no reference venv)
    python benchmarks/driver.py --peers               # issue 10: databay vs sched, asyncio,
                                                      # APScheduler and schedule (peers.py)

Timings are reported, never asserted: the exit status is non-zero only when a
workload fails to run.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SUITE = HERE / 'suite.py'
DEFAULT_REF = HERE / '.venv-030' / 'bin' / 'python'
# A bare venv keeps site-packages .pth files of the base interpreter out of W7.
OURS_VENV = HERE / '.venv-ours' / 'bin' / 'python'
DEFAULT_OURS = OURS_VENV if OURS_VENV.exists() else Path(sys.executable)
WORKLOADS = ['W1', 'W1b', 'W2', 'W2b', 'W3', 'W3b', 'W4', 'W4_default', 'W5', 'W6', 'W7', 'W8']

# Targets from issue 6: (workload, metric, label, target text, check(ref, ours)).
# A check returns True/False, or None when it cannot be decided.
ratio = lambda ref, ours: ours / ref if ref else None
TARGETS = [
    ('W1', 'us_per_transfer', 'µs per transfer', '≤ 1/20 and ≤ 7 µs',
     lambda r, o: ratio(r, o) <= 1 / 20 and o <= 7),
    ('W1', 'us_per_transfer_min', 'µs per transfer, best batch', '', None),
    ('W1b', 'us_per_transfer', 'µs per transfer', '≤ 1/3', lambda r, o: ratio(r, o) <= 1 / 3),
    ('W2', 'records_per_s', 'records/s', '≥ 4×', lambda r, o: ratio(r, o) >= 4),
    ('W2b', 'records_per_s', 'records/s', '≥ 2×', lambda r, o: ratio(r, o) >= 2),
    ('W3', 's_per_transfer', 's per transfer', '≤ 0.065 s', lambda r, o: o <= 0.065),
    ('W3b', 's_per_transfer', 's per transfer', '≤ 0.055 s', lambda r, o: o <= 0.055),
    ('W4', 'transfers', 'transfers done/expected', 'all', None),
    ('W4', 'lateness_p99_ms', 'lateness p99 ms (grid t0)', '≤ 2 ms', lambda r, o: o <= 2),
    ('W4', 'drift_ms', 'drift ms (last − first)', '≤ 1 ms', lambda r, o: o <= 1),
    ('W4', 'lateness_p50_ms', 'lateness p50 ms', '', None),
    ('W4', 'lateness_max_ms', 'lateness max ms', '', None),
    ('W4', 'lateness_k1_p99_ms', 'lateness p99 ms (grid t0, k ≥ 1 only)', '', None),
    ('W4', 'lateness_first_p99_ms', 'lateness p99 ms (grid at 1st transfer)', '', None),
    ('W4', 'cpu_s', 'CPU s', '', None),
    ('W4', 'start_return_ms', 'start() returns after shutdown(), ms', '', None),
    ('W4_default', 'transfers', 'transfers done/expected', '', None),
    ('W4_default', 'lateness_p99_ms', 'lateness p99 ms (grid t0)', '≤ 2 ms', lambda r, o: o <= 2),
    ('W4_default', 'lateness_k1_p99_ms', 'lateness p99 ms (grid t0, k ≥ 1 only)', '', None),
    ('W4_default', 'lateness_first_p99_ms', 'lateness p99 ms (grid at 1st transfer)', '', None),
    ('W4_default', 'drift_ms', 'drift ms', '', None),
    ('W4_default', 'start_return_ms', 'start() returns after shutdown(), ms', '≤ 10 ms',
     lambda r, o: o <= 10),
    ('W5', 'cpu_s', 'CPU s', '≤ 1.5 s', lambda r, o: o <= 1.5),
    ('W5', 'transfers', 'transfers done/expected', 'all', None),
    ('W5', 'lateness_p99_ms', 'lateness p99 ms (grid t0)', '≤ 20 ms', lambda r, o: o <= 20),
    ('W5', 'lateness_k1_p99_ms', 'lateness p99 ms (grid t0, k ≥ 1 only)', '', None),
    ('W5', 'lateness_first_p99_ms', 'lateness p99 ms (grid at 1st transfer)', '', None),
    ('W5', 'start_return_ms', 'start() returns after shutdown(), ms', '', None),
    ('W6', 'cpu_ms', 'CPU ms idle', '≤ 2 ms', lambda r, o: o <= 2),
    ('W6', 'start_return_ms', 'start() returns after shutdown(), ms', '≤ 10 ms',
     lambda r, o: o <= 10),
    ('W7', 'import_databay_ms', 'import databay, ms (net)', '≤ 6 ms', lambda r, o: o <= 6),
    ('W7', 'import_planners_ms', 'import SchedulePlanner, ms (net)', '≤ 10 ms',
     lambda r, o: o <= 10),
    ('W8', 'records_per_s', 'CsvOutlet records/s', '≥ 10×', lambda r, o: ratio(r, o) >= 10),
]


def run_one(python, env, workload, quick, timeout):
    """Run one workload in a fresh process; return its JSON result or an error dict."""
    cmd = [python, str(SUITE), workload, '--json'] + (['--quick'] if quick else [])
    try:
        proc = subprocess.run(cmd, env=env, cwd=tempfile.gettempdir(), capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {'workload': workload, 'error': f'{type(e).__name__}: {e}'}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {'workload': workload, 'error': f'exit {proc.returncode}: ' + ' | '.join(tail)}
    return json.loads(lines[-1])


def child_environment():
    """os.environ for a measured process, with bytecode caching on as for an installed package.

    A shell with PYTHONDONTWRITEBYTECODE=1 would otherwise make every run compile the modules
    databay imports lazily (at start() or shutdown()), and count that compile in W4/W6 or P2.
    """
    return {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONDONTWRITEBYTECODE')}


def cache_bytecode(python):
    """Compile the repository's packages once, so no measured run pays for compiling them."""
    for package in ('databay', 'databay_testing'):
        subprocess.run([python, '-m', 'compileall', '-q', str(REPO / package)],
                       env=child_environment(), capture_output=True, check=False)


def environments(args):
    """(name, python, env) for each implementation to run."""
    base = child_environment()
    ours_env = dict(base, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else [])))
    impls = []
    if args.ref.lower() != 'none':
        impls.append(('0.3.0', args.ref, base))  # no PYTHONPATH: must import the PyPI package
    if args.ours.lower() != 'none':
        impls.append(('ours', args.ours, ours_env))
    return impls


def collect(args, impls, workloads):
    """Run every workload, alternating implementations A, B, B, A, ..."""
    results = {name: {w: [] for w in workloads} for name, _, _ in impls}
    for w in workloads:
        for rep in range(args.repeats):
            order = impls if rep % 2 == 0 else impls[::-1]
            for name, python, env in order:
                res = run_one(python, env, w, args.quick, args.timeout)
                results[name][w].append(res)
                status = res.get('error') or 'ok'
                print(f'  {w:11} {name:6} run {rep + 1}/{args.repeats}: {status}',
                      file=sys.stderr, flush=True)
    return results


def median_metric(runs, metric):
    """Median of a metric over successful runs (None if none has it)."""
    if metric == 'transfers':
        done = median_metric(runs, 'transfers_done')
        expected = median_metric(runs, 'transfers_expected')
        return None if done is None else (done, expected)
    values = [r['metrics'][metric] for r in runs
              if 'metrics' in r and r['metrics'].get(metric) is not None]
    return statistics.median(values) if values else None


def fmt(value):
    """Compact number: 3 significant digits, k/M suffixes for large values."""
    if value is None:
        return '–'
    if isinstance(value, tuple):
        return f'{value[0]:g} of {value[1]:g}'
    if abs(value) >= 1e6:
        return f'{value / 1e6:.3g} M'
    if abs(value) >= 1e4:
        return f'{value / 1e3:.3g} k'
    return f'{value:,.0f}' if abs(value) >= 100 else f'{value:.3g}'


def table(results, workloads, quick):
    """Markdown comparison table (one row per target metric)."""
    ref_runs = results.get('0.3.0', {})
    our_runs = results.get('ours', {})
    rows = ['| workload | metric | 0.3.0 | ours | ratio | target | met? |',
            '|---|---|---|---|---|---|---|']
    for w, metric, label, target, check in TARGETS:
        if w not in workloads:
            continue
        ref = median_metric(ref_runs.get(w, []), metric)
        ours = median_metric(our_runs.get(w, []), metric)
        if metric == 'transfers':
            rat = ''
            met = '' if ours is None or not target else ('yes' if ours[0] == ours[1] else 'no')
        else:
            rat = f'{ours / ref:.3g}' if ours is not None and ref else ''
            met = ''
            if check and ours is not None:
                try:
                    met = 'yes' if check(ref, ours) else 'no'
                except TypeError:  # ratio target without a reference value
                    met = '?'
        if quick and met:
            met = 'n/a (quick)'
        rows.append(f'| {w} | {label} | {fmt(ref)} | {fmt(ours)} | {rat} | {target} | {met} |')
    return '\n'.join(rows)


def describe(impls, results):
    """Header lines: date, machine, and which databay each interpreter imported."""
    lines = [f'Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}',
             f'Machine: {platform.platform()}, {platform.processor() or platform.machine()}, '
             f'{os.cpu_count()} CPUs']
    for name, python, _ in impls:
        ok = [r for runs in results[name].values() for r in runs if 'impl' in r]
        seen = f"{ok[0]['impl']} (Python {ok[0]['python']}) from {ok[0]['databay_file']}" \
            if ok else 'no successful run'
        lines.append(f'{name}: {python} -> {seen}')
    return lines


PEERS = HERE / 'peers.py'
PEER_PYTHONS = {'databay': None, 'sched': None, 'asyncio': None,
                'apscheduler': HERE / '.venv-aps' / 'bin' / 'python',
                'schedule': HERE / '.venv-schedule' / 'bin' / 'python'}
PEER_METRICS = {'P1': ['cpu_s', 'p99_ms'], 'P2': ['build_s', 'start_returns_after_shutdown_ms'],
                'P3': ['fires_per_s'], 'P4': ['transfer_us'], 'P5': ['p50_ms', 'p99_ms']}


def run_peers(repeats, quick, timeout):
    """Every peer workload in fresh processes, alternating peers; medians and ratios to sched."""
    peers = [name for name, python in PEER_PYTHONS.items() if python is None or python.exists()]
    missing = sorted(set(PEER_PYTHONS) - set(peers))
    env = dict(child_environment(), PYTHONPATH=str(REPO))
    cache_bytecode(sys.executable)
    results = {}
    for workload in PEER_METRICS:
        for round_number in range(repeats):
            order = peers if round_number % 2 == 0 else list(reversed(peers))
            for peer in order:
                python = PEER_PYTHONS[peer] or sys.executable
                command = [str(python), str(PEERS), workload, peer] + (['--quick'] if quick else [])
                try:
                    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                          env=env, cwd=str(REPO))
                    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''
                    result = json.loads(line) if line else {'error': done.stderr[-300:]}
                except (subprocess.TimeoutExpired, ValueError) as error:
                    result = {'error': repr(error)}
                results.setdefault((workload, peer), []).append(result)
    lines = ['| workload | metric | ' + ' | '.join(peers) + ' | databay / sched |',
             '|---|---|' + '---|' * (len(peers) + 1)]
    for workload, metrics in PEER_METRICS.items():
        for metric in metrics:
            medians = {}
            for peer in peers:
                values = [r[metric] for r in results.get((workload, peer), [])
                          if isinstance(r.get(metric), (int, float))]
                medians[peer] = statistics.median(values) if values else None
            ours, limit = medians.get('databay'), medians.get('sched')
            ratio_text = '%.2f×' % (ours / limit) if ours is not None and limit else ''
            cells = ['%g' % medians[p] if medians[p] is not None else '—' for p in peers]
            lines.append('| %s | %s | %s | %s |' % (workload, metric, ' | '.join(cells), ratio_text))
    print('Peers (issue 10), %d alternating run(s) each, medians%s' % (
        repeats, ' — QUICK MODE, numbers meaningless' if quick else ''))
    if missing:
        print('Not run (no venv; see benchmarks/README.md): %s' % ', '.join(missing))
    print('\n'.join(lines))
    errors = [(key, r['error']) for key, runs in results.items() for r in runs if 'error' in r]
    for (workload, peer), error in errors:
        print('ERROR %s %s: %s' % (workload, peer, error))
    return 1 if errors else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--peers', action='store_true',
                        help='issue 10: databay against sched, asyncio, APScheduler, schedule')
    parser.add_argument('--ours', default=str(DEFAULT_OURS),
                        help='interpreter for our package, the repo is put on PYTHONPATH '
                             '(default: benchmarks/.venv-ours if present, else this one); '
                             '"none" to skip')
    parser.add_argument('--ref', default=str(DEFAULT_REF),
                        help='interpreter with databay==0.3.0 installed; "none" to skip')
    parser.add_argument('--repeats', type=int,
                        help='runs per implementation and workload (default 2 = A B B A; '
                             '1 with --quick)')
    parser.add_argument('--only', help='comma-separated workloads, e.g. W1,W4')
    parser.add_argument('--quick', action='store_true', help='tiny sizes: proves the scripts run')
    parser.add_argument('--timeout', type=float, default=180, help='seconds per workload run')
    parser.add_argument('--json-out', help='write all raw results to this file')
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    if args.peers:
        return run_peers(max(args.repeats, 1 if args.quick else 3), args.quick, args.timeout)

    workloads = args.only.split(',') if args.only else WORKLOADS
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f'unknown workloads: {", ".join(sorted(unknown))}')
    impls = environments(args)
    for i, (name, python, env) in enumerate(impls):
        found = shutil.which(python)
        if not found:
            parser.error(f'{name} interpreter not found: {python} (see benchmarks/README.md)')
        impls[i] = (name, found, env)
        if name == 'ours':
            cache_bytecode(found)

    results = collect(args, impls, workloads)
    print('\n'.join(describe(impls, results)))
    print(f'Runs per implementation and workload: {args.repeats} (alternating), medians shown'
          + (' — QUICK MODE, sizes are tiny, numbers meaningless' if args.quick else ''))
    print()
    print(table(results, workloads, args.quick))
    problems = sorted({(kind, name, w, text) for name, by_w in results.items()
                       for w, runs in by_w.items() for r in runs
                       for kind, text in (('ERROR', r.get('error')),
                                          ('WARNING', r.get('notes', {}).get('warning')))
                       if text})
    if problems:
        print()
    for kind, name, w, text in problems:
        print(f'{kind} {name} {w}: {text}')
    errors = [p for p in problems if p[0] == 'ERROR']
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
