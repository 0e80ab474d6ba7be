"""Link factories the distributed tests run in shard processes (imported there by name).

Every node reports what happened to it in files under ``out_dir``, because
the shards are other processes: each delivered record is a line
``key slot pid`` in ``delivered-<shard>.txt``; each pull a line ``key slot pid
seconds-after-the-slot-began`` in ``pulled-<shard>.txt`` (with ``log_pulls``; it
survives a SIGKILL); at ``on_shutdown``, a line ``key pid pulls skipped missed`` in
``pull-counts-<shard>.txt`` (the last two are the planner's own counts of the link's
slots it skipped because the previous transfer was still running, and of slots it
dispatched too late to run); each ``on_start`` / ``on_shutdown`` a line ``event kind
key pid`` in ``events-<shard>.txt``; with ``log_acks``, each record the link reported
safe (``Inlet.on_delivered``) a line ``key slot pid`` in ``acked-<shard>.txt``.
Writing little per transfer keeps the shards on time on a busy machine.
"""

import os
import threading
import time

from databay import Inlet, Link, Outlet
from databay.distributed import shard_of
from databay.support.buffers import Buffer


class _Log:
    """One append-only file per shard process, shared by every node of the shard."""

    files = {}
    lock = threading.Lock()

    @classmethod
    def write(cls, path, line):
        with cls.lock:
            handle = cls.files.get(path)
            if handle is None:
                handle = cls.files[path] = open(path, "a", buffering=1, encoding="utf-8")
            if line:
                handle.write(line + "\n")

    @classmethod
    def close_all(cls):
        """Close every file (tests that run shards in their own process call this)."""
        with cls.lock:
            for handle in cls.files.values():
                handle.close()
            cls.files.clear()


def _wall_minus_monotonic():
    """``time.time() - time.monotonic()`` for this process, read once.

    A thread preempted between the two clock reads would shift a slot computed
    per pull by the time it waited (on a saturated machine, now and then by more
    than the half interval a slot's rounding allows). Each sample can only come
    out too small by such a wait, so the largest of a few is the closest.
    """
    offset = getattr(_wall_minus_monotonic, "offset", None)
    if offset is None:
        samples = []
        for _ in range(20):
            wall = time.time()
            samples.append(wall - time.monotonic())
        offset = _wall_minus_monotonic.offset = max(samples)
    return offset


class SlotInlet(Inlet):
    """Pulls one record naming the grid slot of this transfer (its due wall time // interval)."""

    def __init__(self, key, interval, out_dir, shard, log_pulls, log_acks=False):
        super().__init__()
        self.key, self.interval = key, interval
        self.acked = os.path.join(out_dir, "acked-%d.txt" % shard) if log_acks else None
        self.unacked = {}  # transfer number -> slot, until on_delivered
        self.events = os.path.join(out_dir, "events-%d.txt" % shard)
        self.pulled = os.path.join(out_dir, "pulled-%d.txt" % shard) if log_pulls else None
        self.counts = os.path.join(out_dir, "pull-counts-%d.txt" % shard)
        self.count = 0

    link = None  # set by the factory: the slot comes from the link's place on its grid

    def _slot(self):
        """The grid slot this transfer was dispatched for.

        While a transfer runs, the planner's handle (``link.job``) already holds
        the link's next due time (monotonic seconds); one interval earlier is
        this transfer's own, whenever its pull starts. Without a handle (a link
        run by hand), the slot is read from the wall clock.
        """
        due = getattr(self.link.job, "due", None) if self.link is not None else None
        if due is None:
            return int(time.time() / self.interval + 0.1)
        wall_due = _wall_minus_monotonic() + due - self.interval
        return round(wall_due / self.interval)  # jitter < interval / 2 rounds to its slot

    def pull(self, update):
        slot = self._slot()
        self.count += 1
        if self.pulled is not None:  # a 4th field: how long after its slot's start the pull ran
            _Log.write(self.pulled, "%s %d %d %.3f" % (self.key, slot, os.getpid(),
                                                       time.time() - slot * self.interval))
        if self.acked is not None:
            self.unacked[update.transfer_number] = slot
        return [{"key": self.key, "slot": slot}]

    def on_delivered(self, update):
        slot = self.unacked.pop(update.transfer_number, None)
        if self.acked is not None and slot is not None:
            _Log.write(self.acked, "%s %d %d" % (self.key, slot, os.getpid()))

    def on_start(self):
        _Log.write(self.events, "on_start inlet %s %d" % (self.key, os.getpid()))

    def on_shutdown(self):
        transfers = self.link.stats()["transfers"] if self.link is not None else {}
        _Log.write(self.counts, "%s %d %d %d %d" % (self.key, os.getpid(), self.count,
                                                    transfers.get("skipped", 0),
                                                    transfers.get("missed", 0)))
        _Log.write(self.events, "on_shutdown inlet %s %d" % (self.key, os.getpid()))


class FileLineOutlet(Outlet):
    """Appends ``key slot pid`` for every record it receives."""

    def __init__(self, key, out_dir, shard, processors=None):
        super().__init__(processors=processors)
        self.key = key
        self.delivered = os.path.join(out_dir, "delivered-%d.txt" % shard)
        self.events = os.path.join(out_dir, "events-%d.txt" % shard)

    def push(self, records, update):
        pid = os.getpid()
        _Log.write(self.delivered, "\n".join("%s %d %d" % (record.payload["key"],
                                                            record.payload["slot"], pid)
                                              for record in records))

    def on_start(self):
        _Log.write(self.events, "on_start outlet %s %d" % (self.key, os.getpid()))

    def on_shutdown(self):
        _Log.write(self.events, "on_shutdown outlet %s %d" % (self.key, os.getpid()))


def slot_links(shard, nshards, out_dir, per_shard=500, interval=0.2, buffer_count=None,
               journal=False, log_pulls=False, log_acks=False, jitter=0.0):
    """Exactly ``per_shard`` links for this shard (it builds only its own links).

    Keys ``link-<n>`` are taken in order, keeping those ``shard_of`` maps to
    this shard, so every shard gets the same number of links.
    """
    links = []
    n = 0
    while len(links) < per_shard:
        key = "link-%d" % n
        n += 1
        if shard_of(key, nshards) != shard:
            continue
        processors = [Buffer(count_threshold=buffer_count)] if buffer_count is not None else None
        options = {}
        if journal:
            options["journal"] = os.path.join(out_dir, "journal-%d.sqlite" % shard)
        inlet = SlotInlet(key, interval, out_dir, shard, log_pulls, log_acks)
        if jitter:  # spread the links over the interval (stable per key, so across restarts too)
            from databay.schedules import Every

            options["schedule"] = Every(interval, jitter=jitter)
        else:
            options["interval"] = interval
        inlet.link = Link(inlet, FileLineOutlet(key, out_dir, shard, processors),
                          key=key, copy_records=False, **options)
        links.append(inlet.link)
    return links


def all_links(shard, nshards, count=10, interval=0.2):
    """Every link of the run, tagged ``group``/``n``; the shard keeps its own."""
    from databay.inlets import NullInlet
    from databay.outlets import NullOutlet

    return [Link(NullInlet(), NullOutlet(), interval=interval, tags=["group", str(n)])
            for n in range(count)]


def duplicate_keys(shard, nshards):
    """Two links with the same key: every shard must refuse to start."""
    from databay.inlets import NullInlet
    from databay.outlets import NullOutlet

    return [Link(NullInlet(), NullOutlet(), interval=1, key="same") for _ in range(2)]


def broken(shard, nshards):
    raise RuntimeError("the factory of shard %d cannot reach its database" % shard)


class _FailingInlet(Inlet):
    def pull(self, update):
        raise RuntimeError("source down")


def one_failing_link(shard, nshards, interval=0.05):
    """Three links; ``bad`` fails every pull."""
    from databay.inlets import NullInlet
    from databay.outlets import NullOutlet

    return [Link(_FailingInlet(), NullOutlet(), interval=interval, key="bad"),
            *[Link(NullInlet(), NullOutlet(), interval=interval, key="good-%d" % n) for n in range(2)]]


class BootProbe:
    """A Ray actor that does nothing: how long starting a fresh worker process takes right now."""

    def started(self):
        """(pid, when this process started) from the process's own clock tick count."""
        with open("/proc/self/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return os.getpid(), time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
