"""Benchmark workloads for databay (issue 6).

Runs ONE workload against whichever ``databay`` this interpreter imports, so the
same file runs under our package and under ``databay==0.3.0`` from PyPI::

    python benchmarks/suite.py W1 --json          # one JSON line of metrics
    python benchmarks/suite.py W4 --quick         # tiny sizes, for smoke tests
    python benchmarks/suite.py --list

Only the public API is used (Inlet, Outlet, Link, Update, Record, SchedulePlanner,
CsvOutlet). Standard library only. ``driver.py`` runs every workload in a fresh
process for both implementations and prints the comparison table.
"""

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

try:
    import databay
    from databay import Inlet, Link, Outlet, Record, Update
except ImportError as error:
    sys.exit(f'suite.py: cannot import databay with {sys.executable}: {error}\n'
             'Put the repository on PYTHONPATH or use a venv with databay installed.')

#: databay 0.3.0 defines no ``__version__``; ours does.
IS_030 = not hasattr(databay, '__version__')
IMPL = 'databay 0.3.0' if IS_030 else f'databay {databay.__version__}'

QUICK = False  # set from the command line; workloads read it for their sizes


# --------------------------------------------------------------------------- nodes

class IntInlet(Inlet):
    """Sync inlet returning one int."""

    def pull(self, update):
        return 1


class AsyncIntInlet(Inlet):
    """Async inlet returning one int."""

    async def pull(self, update):
        return 1


class NoopOutlet(Outlet):
    """Sync outlet doing nothing."""

    def push(self, records, update):
        pass


class AsyncNoopOutlet(Outlet):
    """Async outlet doing nothing."""

    async def push(self, records, update):
        pass


class RowsInlet(Inlet):
    """Returns a fresh list of the same small dicts on every pull."""

    def __init__(self, rows):
        super().__init__()
        self.rows = rows

    def pull(self, update):
        return list(self.rows)  # fresh list: 0.3.0 rewrites the returned list in place


class CountingOutlet(Outlet):
    """Counts the records it receives."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def push(self, records, update):
        self.count += len(records)


class SleepInlet(Inlet):
    """Blocks for ``seconds`` in a plain ``def`` pull."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def pull(self, update):
        time.sleep(self.seconds)
        return 1


class AsyncSleepInlet(Inlet):
    """Awaits ``asyncio.sleep(seconds)`` in an ``async def`` pull."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    async def pull(self, update):
        await asyncio.sleep(self.seconds)
        return 1


class StampInlet(Inlet):
    """Records ``time.monotonic()`` at every pull: one stamp per transfer."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def pull(self, update):
        self.stamps.append(time.monotonic())
        return 1


# --------------------------------------------------------------------------- helpers

def percentile(values, q):
    """Linear-interpolated percentile, ``q`` in [0, 1]; None for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def time_calls(fn, min_seconds, min_calls, warmup=1, batch=1):
    """Call ``fn`` repeatedly; return seconds per call, one value per batch.

    Each value is the mean over ``batch`` consecutive calls, so very short calls
    are timed without clock overhead and include their share of GC pauses.
    """
    for _ in range(warmup):
        fn()
    per_call = []
    start = time.perf_counter()
    while len(per_call) < min_calls or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        per_call.append((time.perf_counter() - t) / batch)
    return per_call


def schedule_planner(links, **kwargs):
    """Build a SchedulePlanner; ``refresh_interval`` only matters to 0.3.0."""
    from databay.planners import SchedulePlanner
    if not IS_030:
        kwargs.pop('refresh_interval', None)  # accepted by ours, but has no effect
    return SchedulePlanner(links, **kwargs)


def run_planner(planner, duration, shutdown_margin):
    """Run blocking ``start()`` in this thread; ``shutdown()`` from another.

    t0 is taken just before ``start()``; shutdown is called at
    ``t0 + duration + shutdown_margin``. Returns timings and CPU seconds (of the
    whole process, from just before ``start()`` until it returns).
    """
    out = {}
    t0_taken = threading.Event()

    def stopper():
        t0_taken.wait()
        deadline = out['t0'] + duration + shutdown_margin
        time.sleep(max(0.0, deadline - time.monotonic()))
        out['shutdown_called'] = time.monotonic()
        planner.shutdown()
        out['shutdown_returned'] = time.monotonic()

    def watchdog():
        time.sleep(duration + shutdown_margin + 60)
        print(json.dumps({'workload': 'watchdog', 'impl': IMPL,
                          'error': 'start() did not return 60 s after shutdown()'}))
        sys.stdout.flush()
        os._exit(3)

    stopper_thread = threading.Thread(target=stopper, daemon=True, name='bench-stopper')
    stopper_thread.start()
    threading.Thread(target=watchdog, daemon=True, name='bench-watchdog').start()
    cpu0 = time.process_time()
    out['t0'] = time.monotonic()
    t0_taken.set()
    try:
        planner.start()
    except BaseException as e:  # 0.3.0 may raise when its pool is torn down under it
        out['start_raised'] = f'{type(e).__name__}: {e}'
    out['start_returned'] = time.monotonic()
    out['cpu_s'] = time.process_time() - cpu0
    stopper_thread.join(60)  # 0.3.0's start() can return before its shutdown() does
    return out


def planner_metrics(inlets, interval, expected_per_link, run):
    """Transfers done/expected, lateness against t0 + k*interval, drift, shutdown."""
    t0 = run['t0']
    stop = run.get('shutdown_called', run['start_returned'])
    grid, later, anchored, drifts, firsts = [], [], [], [], []
    for inlet in inlets:
        stamps = inlet.stamps
        if not stamps:
            continue
        late = [s - (t0 + k * interval) for k, s in enumerate(stamps)]
        grid.extend(late)
        later.extend(late[1:])
        anchored.extend(s - (stamps[0] + k * interval) for k, s in enumerate(stamps))
        drifts.append(late[-1] - late[0])
        firsts.append(stamps[0] - t0)
    ms = lambda v: None if v is None else v * 1000.0
    after = sum(1 for i in inlets for s in i.stamps
                if s > run.get('shutdown_returned', math.inf))
    m = {
        'transfers_done': sum(len(i.stamps) for i in inlets),
        'transfers_expected': expected_per_link * len(inlets),
        'transfers_after_shutdown_returned': after,
        'lateness_p50_ms': ms(percentile(grid, 0.50)),
        'lateness_p99_ms': ms(percentile(grid, 0.99)),
        'lateness_max_ms': ms(max(grid, default=None)),
        'lateness_k1_p99_ms': ms(percentile(later, 0.99)),
        'lateness_first_p50_ms': ms(percentile(anchored, 0.50)),
        'lateness_first_p99_ms': ms(percentile(anchored, 0.99)),
        'lateness_first_max_ms': ms(max(anchored, default=None)),
        'drift_ms': ms(percentile(drifts, 0.50)),
        'drift_max_ms': ms(max(drifts, default=None)),
        'first_transfer_spread_ms': ms(max(firsts, default=None)),
        'cpu_s': run['cpu_s'],
        'cpu_ms': run['cpu_s'] * 1000.0,
        'start_return_ms': ms(run['start_returned'] - stop),
        'shutdown_call_ms': ms(run['shutdown_returned'] - stop)
                            if 'shutdown_returned' in run else None,
    }
    notes = {'start_raised': run['start_raised']} if 'start_raised' in run else {}
    return m, notes


def planner_workload(n_links, interval, duration, **planner_kwargs):
    """Shared body of W4, W4_default, W5 and W6."""
    inlets = [StampInlet() for _ in range(n_links)]
    outlet = NoopOutlet()
    links = [Link(inlet, outlet, interval=interval) for inlet in inlets]
    planner = schedule_planner(links, **planner_kwargs)
    immediate = planner_kwargs.get('immediate_transfer', True)
    slots = math.floor(duration / interval + 1e-9)
    expected = slots + 1 if immediate else slots
    # Shut down half an interval (at most 0.5 s) after the last due slot: away from
    # any slot, and at the mean phase of 0.3.0's polling loop.
    margin = 0.1 if QUICK else min(interval / 2, 0.5)
    run = run_planner(planner, duration, margin)
    return planner_metrics(inlets, interval, expected, run)


# --------------------------------------------------------------------------- workloads

def w1():
    """Sync inlet -> sync no-op outlet: microseconds per ``Link.transfer()``."""
    link = Link(IntInlet(), NoopOutlet(), interval=1)
    return transfer_us(link)


def w1b():
    """As W1 with ``async def`` pull and push."""
    link = Link(AsyncIntInlet(), AsyncNoopOutlet(), interval=1)
    return transfer_us(link)


def transfer_us(link):
    """Median over batches of 200 transfers (1.5 s in all)."""
    d = time_calls(link.transfer, 0.1 if QUICK else 1.5, 5, warmup=50, batch=200)
    return {'us_per_transfer': statistics.median(d) * 1e6,
            'us_per_transfer_min': min(d) * 1e6,
            'transfers': len(d) * 200}, {}


def w2(copy_records=True):
    """10,000 small dicts per pull, two counting outlets: records/s."""
    n = 1_000 if QUICK else 10_000
    rows = [{'id': i, 'name': f'item-{i}', 'value': i * 0.5} for i in range(n)]
    outlets = [CountingOutlet(), CountingOutlet()]
    link = Link(RowsInlet(rows), outlets, interval=1, copy_records=copy_records)
    d = time_calls(link.transfer, 0.1 if QUICK else 2.0, 2 if QUICK else 5)
    calls = len(d) + 1  # + warm-up
    assert all(o.count == n * calls for o in outlets), 'outlets missed records'
    return {'records_per_s': n / statistics.median(d),
            'records_per_transfer': n, 'transfers': len(d)}, {}


def w2b():
    """As W2 with ``copy_records=False``."""
    return w2(copy_records=False)


def w3(inlet_cls=SleepInlet):
    """8 inlets each blocking 50 ms in a sync pull: seconds per transfer."""
    link = Link([inlet_cls(0.05) for _ in range(8)], NoopOutlet(), interval=1)
    d = time_calls(link.transfer, 0.0, 1 if QUICK else 5)
    return {'s_per_transfer': statistics.median(d), 'transfers': len(d)}, {}


def w3b():
    """As W3 with 8 ``await asyncio.sleep(0.05)`` pulls."""
    return w3(AsyncSleepInlet)


def w4():
    """20 links at 0.2 s for 8 s (0.3.0: refresh_interval=0.01): grid lateness, drift."""
    if QUICK:
        return planner_workload(5, 0.2, 0.4, refresh_interval=0.01)
    return planner_workload(20, 0.2, 8.0, refresh_interval=0.01)


def w4_default():
    """20 links at 1 s for 6 s with planner defaults."""
    return planner_workload(5 if QUICK else 20, 1.0, 0.2 if QUICK else 6.0)


def w5():
    """2,000 links at 1 s for 8 s: CPU, transfers done, p99 lateness, shutdown."""
    return planner_workload(50 if QUICK else 2_000, 1.0, 0.2 if QUICK else 8.0)


def w6():
    """One link at 3,600 s, immediate_transfer=False, 6 s: idle CPU, shutdown."""
    return planner_workload(1, 3600.0, 0.2 if QUICK else 6.0, immediate_transfer=False)


W7_SNIPPETS = {
    'bare': 'pass',
    'import_databay': 'import databay',
    'import_planners': 'from databay.planners import SchedulePlanner',
}


def w7():
    """Import time in fresh processes, median of 15, net of bare interpreter start."""
    n = 3 if QUICK else 15
    cwd = tempfile.gettempdir()  # avoid '' on sys.path shadowing the installed package
    with tempfile.TemporaryDirectory() as cache:
        # Bytecode as an installed package has it, for both implementations alike:
        # cached .pyc in a private prefix (PYTHONDONTWRITEBYTECODE would mean compiling
        # an uninstalled checkout on every run).
        env = {k: v for k, v in os.environ.items() if k != 'PYTHONDONTWRITEBYTECODE'}
        env['PYTHONPYCACHEPREFIX'] = cache
        run = lambda *args: subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                                           capture_output=True, text=True)
        failed = {}
        for key, code in W7_SNIPPETS.items():  # warm-up: writes the bytecode cache
            proc = run('-c', code)
            if proc.returncode:
                failed[key] = proc.stderr.strip().splitlines()[-1]
        samples = {k: [] for k in W7_SNIPPETS if k not in failed}
        for _ in range(n):
            for key in samples:  # interleaved, so noise hits all alike
                t = time.perf_counter()
                run('-c', W7_SNIPPETS[key])
                samples[key].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1000.0 for k, v in samples.items()}
        metrics = {'bare_interpreter_ms': med['bare']}
        for key in ('import_databay', 'import_planners'):
            metrics[key + '_ms'] = med[key] - med['bare'] if key in med else None
        notes = {'failed': failed} if failed else {}
        bare = importtime(run, W7_SNIPPETS['bare'])
        preloaded = sorted({'re', 'pathlib', 'enum', 'logging', 'asyncio'} & {m for m, _, _ in bare})
        if preloaded:
            notes['warning'] = (f'the bare interpreter already imports {", ".join(preloaded)} '
                                '(a .pth file?); use a clean venv for fair import times')
        if 'import_planners' not in failed:
            rows = importtime(run, W7_SNIPPETS['import_planners'])
            seen = {m for m, _, _ in bare}
            rows = sorted((r for r in rows if r[0] not in seen), key=lambda r: -r[2])
            notes['importtime_top'] = [{'module': m, 'self_ms': s_, 'cumulative_ms': c}
                                       for m, s_, c in rows[:12]]
    return metrics, notes


def importtime(run, code):
    """(module, self ms, cumulative ms) from one ``-X importtime`` run (indicative)."""
    proc = run('-X', 'importtime', '-c', code)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split('|')
        if len(parts) != 3 or not parts[0].startswith('import time:'):
            continue
        try:
            self_us = int(parts[0].split(':')[1])
            cum_us = int(parts[1])
        except ValueError:
            continue  # header line
        rows.append((parts[2].strip(), round(self_us / 1000, 2), round(cum_us / 1000, 2)))
    return rows


def w8():
    """CsvOutlet writing 100,000 dict records in one push: records/s."""
    from databay.outlets import CsvOutlet
    n = 2_000 if QUICK else 100_000
    records = [Record(payload={'id': i, 'name': f'item-{i}', 'value': i * 0.5}, metadata={})
               for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'out.csv')
        outlet = CsvOutlet(path)
        t = time.perf_counter()
        outlet.push(records, Update(tags=[], transfer_number=0))
        elapsed = time.perf_counter() - t
        with open(path, newline='') as f:
            lines = sum(1 for _ in f)
    return {'records_per_s': n / elapsed, 'seconds': elapsed,
            'rows_written': lines - 1}, {}


# --------------------------------------------------------------------------- PostgresOutlet

def postgres_dsn():
    """DATABAY_TEST_POSTGRES_DSN, else the DSN that scripts/setup.d/postgres.sh wrote."""
    dsn = os.environ.get('DATABAY_TEST_POSTGRES_DSN')
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        '.databay-test-postgres')
    if not dsn and os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            for line in f:
                name, _, value = line.partition('=')
                if name.strip() == 'DATABAY_TEST_POSTGRES_DSN':
                    dsn = value.strip()
    return dsn


def wpg():
    """PostgresOutlet: pushes of 1,000 dict rows (COPY, one transaction each): rows/s."""
    try:
        from databay.outlets import PostgresOutlet
        import psycopg
    except ImportError as error:
        return {}, {'skipped': 'needs databay 0.4+ with the postgres extra: %s' % error}
    dsn = postgres_dsn()
    if not dsn:
        return {}, {'skipped': 'no server: set DATABAY_TEST_POSTGRES_DSN'}
    pushes, size = (3, 100) if QUICK else (60, 1_000)
    table = 'bench_%d_%d' % (os.getpid(), int(time.time()))
    batches = [[Record(payload={'id': p * size + i, 'name': f'item-{i}', 'value': i * 0.5,
                                'ok': i % 2 == 0}, metadata={}) for i in range(size)]
               for p in range(pushes + 1)]
    outlet = PostgresOutlet(dsn, table)
    update = Update(tags=[], transfer_number=0)
    outlet.try_start()
    try:
        outlet.push(batches[0], update)  # creates the table: not timed
        server = backend_cpu(outlet._connection.info.backend_pid)
        t, cpu = time.perf_counter(), time.process_time()
        for batch in batches[1:]:
            outlet.push(batch, update)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        server = backend_cpu(outlet._connection.info.backend_pid) - server
    finally:
        outlet.try_shutdown()
        with psycopg.connect(dsn, autocommit=True) as connection:
            rows = connection.execute('SELECT count(*) FROM "%s"' % table).fetchone()[0]
            connection.execute('DROP TABLE "%s"' % table)
    rows_sent = pushes * size
    return {'rows_per_s': rows_sent / elapsed, 'seconds': elapsed, 'push_rows': size,
            'client_cpu_us_per_row': cpu / rows_sent * 1e6,
            'server_cpu_us_per_row': server / rows_sent * 1e6 if server >= 0 else None,
            'rows_per_cpu_s': rows_sent / (cpu + server) if server >= 0 else None,
            'rows_written': rows}, {}


def backend_cpu(pid):
    """CPU seconds (user + system) of a local server process so far; -1 if not readable."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        return -1.0


# --------------------------------------------------------------------------- delivery (issue 12)
# Healthy-path cost of Link(retry=...) and the journal's throughput. Ours only:
# databay 0.3.0 has neither; its runs report "skipped".

def wretry():
    """Healthy path: us per transfer of a link with retry= vs the same link without (ratio)."""
    try:
        from databay import Retry
    except ImportError as error:
        return {}, {'skipped': 'needs databay 0.4+: %s' % error}
    plain = Link(IntInlet(), NoopOutlet(), interval=1)
    retried = Link(IntInlet(), NoopOutlet(), interval=1, retry=Retry())
    rounds = 3 if QUICK else 15
    seconds = 0.02 if QUICK else 0.2
    ratios, plain_us, retry_us = [], [], []
    for _ in range(rounds):  # interleaved, so both see the same machine load
        a = statistics.median(time_calls(plain.transfer, seconds, 5, warmup=20, batch=100))
        b = statistics.median(time_calls(retried.transfer, seconds, 5, warmup=20, batch=100))
        plain_us.append(a * 1e6)
        retry_us.append(b * 1e6)
        ratios.append(b / a)
    return {'retry_over_plain': statistics.median(ratios),
            'retry_over_plain_best': min(retry_us) / min(plain_us),  # least disturbed by load bursts
            'us_per_transfer_plain': statistics.median(plain_us),
            'us_per_transfer_retry': statistics.median(retry_us)}, {}


def wjournal():
    """Journal throughput: records/s through Link(journal=...) in pulls of 100 records."""
    if IS_030:
        return {}, {'skipped': 'needs databay 0.4+ (Link(journal=...))'}
    rows = [{'id': i, 'name': f'item-{i}', 'value': i * 0.5} for i in range(100)]
    with tempfile.TemporaryDirectory() as directory:
        link = Link(RowsInlet(rows), NoopOutlet(), interval=1,
                    journal=os.path.join(directory, 'journal.sqlite'), copy_records=False)
        plain = Link(RowsInlet(rows), NoopOutlet(), interval=1, copy_records=False)
        link.on_start()
        try:
            d = time_calls(link.transfer, 0.1 if QUICK else 3.0, 5, warmup=20, batch=50)
            base = time_calls(plain.transfer, 0.1 if QUICK else 1.0, 5, warmup=20, batch=50)
        finally:
            link.on_shutdown()
    return {'records_per_s': 100 / statistics.median(d),
            'records_per_s_without_journal': 100 / statistics.median(base),
            'us_per_batch_of_100': statistics.median(d) * 1e6}, {}


WORKLOADS = {
    'W1': w1,
    'W1b': w1b,
    'W2': w2,
    'W2b': w2b,
    'W3': w3,
    'W3b': w3b,
    'W4': w4,
    'W4_default': w4_default,
    'W5': w5,
    'W6': w6,
    'W7': w7,
    'W8': w8,
    'WPG': wpg,
    'WRETRY': wretry,
    'WJOURNAL': wjournal,
}


# --------------------------------------------------------------------------- observability (issue 13)
# W1_stats: W1 in ONE process for this tree and for the previous release (0.4.0, git ref
# STATS_BASELINE, overridable with the environment variable DATABAY_STATS_BASELINE, e.g. the commit
# just before the counting calls), interleaved batch by batch so machine noise hits both alike.
# stats_2000: planner.stats() on 2,000 links whose recent windows are full, unchanged between calls
# (a link's snapshot is then reused) and, as a second figure, with every link changed since the last.

STATS_BASELINE = os.environ.get('DATABAY_STATS_BASELINE', '80817735853ceea5d855f40d33f62d909f924dae')


def _baseline_package(tmp):
    """Extract ``databay/`` at STATS_BASELINE into ``tmp/databay_baseline`` and import it."""
    import importlib
    import tarfile
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(['git', '-C', repo, 'archive', '--format=tar', STATS_BASELINE, 'databay'],
                            capture_output=True)
    if result.returncode:
        return None
    archive = result.stdout
    with tarfile.open(fileobj=__import__('io').BytesIO(archive)) as tar:
        tar.extractall(tmp)
    os.rename(os.path.join(tmp, 'databay'), os.path.join(tmp, 'databay_baseline'))
    sys.path.insert(0, tmp)
    return importlib.import_module('databay_baseline')


def _w1_link(package):
    class One(package.Inlet):
        def pull(self, update):
            return 1

    class Noop(package.Outlet):
        def push(self, records, update):
            pass

    return package.Link(One(), Noop(), interval=1)


def w1_stats():
    """W1 with stats vs the same code before counting (STATS_BASELINE), interleaved: overhead %."""
    if IS_030:
        return {}, {'skipped': 'needs this repository'}
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _baseline_package(tmp)
        if baseline is None:
            return {}, {'skipped': 'git cannot read %s here (not a clone?)' % STATS_BASELINE}
        ours, base = _w1_link(databay), _w1_link(baseline)
        if not hasattr(ours, 'stats'):
            return {}, {'skipped': 'this databay has no Link.stats()'}
        rounds = 3 if QUICK else 40
        ours_us, base_us = [], []
        for index in range(rounds):  # alternate which goes first, so neither is always warmer
            pair = [(ours.transfer, ours_us), (base.transfer, base_us)]
            for fn, out in (pair if index % 2 == 0 else pair[::-1]):
                out.extend(v * 1e6 for v in time_calls(fn, 0.0, 5, warmup=20, batch=200))
    ours_med, base_med = statistics.median(ours_us), statistics.median(base_us)
    return {'us_per_transfer': ours_med, 'baseline_us_per_transfer': base_med,
            'overhead_pct': (ours_med / base_med - 1) * 100,
            'overhead_pct_best_batch': (min(ours_us) / min(base_us) - 1) * 100,
            'batches': len(ours_us)}, {'baseline': STATS_BASELINE}


def stats_2000():
    """planner.stats() of a 2,000-link SchedulePlanner with full recent windows: ms per call."""
    if IS_030:
        return {}, {'skipped': 'databay 0.3.0 has no stats()'}
    n = 100 if QUICK else 2_000
    outlet = NoopOutlet()
    links = [Link(IntInlet(), outlet, interval=3600, tags=[f'link-{i}']) for i in range(n)]
    planner = schedule_planner(links, immediate_transfer=False)
    with planner:
        for _ in range(64):  # fill every link's window of recent transfers
            planner.force_transfer()
        for link in links:  # and of lateness, as scheduled transfers would (internal API)
            for k in range(64):
                link._stats.ended(link._stats.started(k / 1000.0))
        calls = time_calls(planner.stats, 0.2 if QUICK else 3.0, 5, warmup=2)
        cpu = []  # CPU seconds of this thread per call: what other processes on a busy machine
        for _ in range(3 if QUICK else 15):  # do not add to the wall-clock figures
            start = time.thread_time()
            planner.stats()
            cpu.append(time.thread_time() - start)
        size = len(json.dumps(planner.stats()))
        changed = []  # the same when every link ran a transfer since the previous call
        for _ in range(3 if QUICK else 9):
            for link in links:
                link._stats.ended(link._stats.started(0.001))
            start = time.thread_time()
            planner.stats()
            changed.append(time.thread_time() - start)
    return {'ms_per_stats_call': statistics.median(calls) * 1000.0,
            'ms_per_stats_call_min': min(calls) * 1000.0,
            'cpu_ms_per_stats_call': statistics.median(cpu) * 1000.0,
            'cpu_ms_per_stats_call_all_changed': statistics.median(changed) * 1000.0,
            'links': n, 'json_bytes': size}, {}


WORKLOADS.update({'W1_stats': w1_stats, 'stats_2000': stats_2000})


# --------------------------------------------------------------------------- main

def main(argv=None):
    global QUICK
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('workload', nargs='?', choices=list(WORKLOADS))
    parser.add_argument('--json', action='store_true', help='print one JSON line')
    parser.add_argument('--quick', action='store_true', help='tiny sizes (smoke test)')
    parser.add_argument('--list', action='store_true', help='list workloads and exit')
    args = parser.parse_args(argv)
    if args.list or not args.workload:
        for name, fn in WORKLOADS.items():
            print(f'{name:11} {fn.__doc__.splitlines()[0]}')
        return 0
    QUICK = args.quick
    metrics, notes = WORKLOADS[args.workload]()
    result = {'workload': args.workload, 'impl': IMPL, 'quick': QUICK,
              'databay_file': databay.__file__,
              'python': platform.python_version(), 'metrics': metrics, 'notes': notes}
    if args.json:
        print(json.dumps(result))
    else:
        print(f'{args.workload} [{IMPL}]')
        for key, value in metrics.items():
            print(f'  {key:36} {value:.6g}' if isinstance(value, float) else f'  {key:36} {value}')
        for key, value in notes.items():
            print(f'  {key}: {value}')
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
