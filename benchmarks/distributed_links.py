"""The links of benchmarks/distributed.py, imported by name in each shard's process.

Each link pulls one int and pushes it to an outlet that does nothing. Its
inlet remembers which grid slots it ran (due wall time // interval) and writes
``key slot slot ...`` to ``slots-<shard>-<pid>.txt`` at on_shutdown, so the
driver can count kept slots without any I/O per transfer.
"""

import os
import threading

from databay import Inlet, Link, Outlet
from databay.distributed import shard_of

_LOCK = threading.Lock()


class SlotCountingInlet(Inlet):
    def __init__(self, key, interval, report):
        super().__init__()
        self.key, self.interval, self.report = key, interval, report
        self.slots = set()

    link = None  # set by build_links

    def pull(self, update):
        import time

        # The link's handle holds its next due time (monotonic) while this transfer
        # runs: one interval earlier is this transfer's slot, however late it started.
        due = getattr(self.link.job, "due", None)
        if due is None:
            self.slots.add(int(time.time() / self.interval + 0.1))
        else:
            wall = time.time() - (time.monotonic() - due) - self.interval
            self.slots.add(round(wall / self.interval))
        return 1

    def on_shutdown(self):
        line = " ".join([self.key, *map(str, sorted(self.slots))])
        with _LOCK, open(self.report, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class DropOutlet(Outlet):
    def push(self, records, update):
        pass


def build_links(shard, nshards, out_dir, per_shard=10000, interval=1.0, jitter=0.0):
    """``per_shard`` links for this shard only (keys picked with shard_of); ``jitter``
    spreads them over the interval (a fixed delay per link)."""
    from databay.schedules import Every

    report = os.path.join(out_dir, "slots-%d-%d.txt" % (shard, os.getpid()))
    links, n = [], 0
    while len(links) < per_shard:
        key = "bench-%d" % n
        n += 1
        if shard_of(key, nshards) == shard:
            inlet = SlotCountingInlet(key, interval, report)
            inlet.link = Link(inlet, DropOutlet(), schedule=Every(interval, jitter=jitter), key=key,
                              copy_records=False)
            links.append(inlet.link)
    return links
