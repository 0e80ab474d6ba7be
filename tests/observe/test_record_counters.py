"""Every record counter of link.stats(), exactly: rejected, refused, expired, dead-lettered,
abandoned, lost, and what each outlet took, on every transfer path."""

import copy

from databay import Link, Outlet, Retry
from databay.errors import RejectedRecords
from databay.planners import SchedulePlanner


class Rejecting(Outlet):
    """Rejects the first record of every batch (a poison record); takes the rest."""

    def __init__(self):
        super().__init__()
        self.records = []

    def push(self, records, update):
        self.records.extend(records[1:])
        raise RejectedRecords(records[:1], "poison")

    def __repr__(self):
        return "Rejecting()"


class Uncopyable:
    def __deepcopy__(self, memo):
        raise TypeError("no copies of this one")


def _counts(stats):
    return {key: stats["records"][key] for key in ("pulled", "delivered", "refused", "rejected", "dropped",
                                                    "expired", "abandoned", "retried", "dead_lettered",
                                                    "lost", "pending")}


def _zero(**counts):
    return {**dict.fromkeys(("pulled", "delivered", "refused", "rejected", "dropped", "expired",
                             "abandoned", "retried", "dead_lettered", "lost", "pending"), 0), **counts}


def _node(stats, name):
    return next(node for node in stats["nodes"] if node["name"] == name)


def test_rejected_records_are_lost_and_the_rest_of_the_batch_delivered(obs):
    """One outlet, no options (the plain path): 1 of 3 rejected per push, 2 delivered; no failure."""
    outlet = Rejecting()
    link = Link(obs.CountInlet(size=3), outlet, interval=3600)
    link.transfer()
    link.transfer()
    stats = link.stats()
    assert _counts(stats) == _zero(pulled=6, delivered=4, rejected=2, lost=2)
    assert _node(stats, "Rejecting()")["records_delivered"] == 4 == len(outlet.records)
    assert _node(stats, "Rejecting()")["failures"] == 0  # a verdict on records, not a failure
    assert stats["transfers"]["failed"] == 0 and stats["transfers"]["succeeded"] == 2


def test_rejected_records_next_to_a_healthy_outlet(obs):
    """Two outlets (the pipeline path): the healthy one takes all 6, the rejecting one 4."""
    good = obs.KeepOutlet("good")
    link = Link(obs.CountInlet(size=3), [Rejecting(), good], interval=3600)
    link.transfer()
    link.transfer()
    stats = link.stats()
    assert _counts(stats) == _zero(pulled=6, delivered=10, rejected=2, lost=2)
    assert _node(stats, "Rejecting()")["records_delivered"] == 4
    assert _node(stats, "KeepOutlet(good)")["records_delivered"] == 6


def test_rejected_records_go_to_the_dead_letter_of_a_retrying_link(obs):
    """retry= and dead_letter=: rejected records are dead-lettered, not retried, not lost."""
    dead = obs.KeepOutlet("dead")
    link = Link(obs.CountInlet(size=3), Rejecting(), interval=3600, retry=Retry(jitter=0), dead_letter=dead)
    link.transfer()
    link.transfer()
    stats = link.stats()
    assert _counts(stats) == _zero(pulled=6, delivered=4, rejected=2, dead_lettered=2)
    assert _node(stats, "Rejecting()")["records_delivered"] == 4
    assert len(dead.records) == 2


def test_uncopyable_records_are_refused_and_the_others_delivered(obs):
    """copy_records=True with one record that cannot be deep-copied: it alone is refused."""
    inlet = obs.CountInlet(size=2)
    inlet.pull = lambda update: [1, Uncopyable(), 3]
    outlet = obs.KeepOutlet()
    link = Link(inlet, outlet, interval=3600, copy_records=True, ignore_exceptions=True)
    link.transfer()
    stats = link.stats()
    assert _counts(stats) == _zero(pulled=3, delivered=2, refused=1, lost=1)
    assert _node(stats, "KeepOutlet(out)")["records_delivered"] == 2 == len(outlet.records)
    assert _node(stats, "KeepOutlet(out)")["failures"] == 1 and stats["transfers"]["failed"] == 1
    copy.deepcopy(stats)


def test_expired_batches_are_dead_lettered_and_retried_pushes_count_as_node_failures(obs):
    """Retry(attempts=2, no delay): each transfer's push fails, its retry in the same pass fails
    too, and the batch expires to the dead letter."""
    outlet, dead = obs.KeepOutlet("db", failing=True), obs.KeepOutlet("dead")
    link = Link(obs.CountInlet(size=3), outlet, interval=3600,
                retry=Retry(first_delay=0, max_delay=0, jitter=0, attempts=2), dead_letter=dead)
    link.transfer()
    link.transfer()
    stats = link.stats()
    assert _counts(stats) == _zero(pulled=6, retried=6, expired=6, dead_lettered=6)
    node = _node(stats, "KeepOutlet(db)")
    assert (node["calls"], node["failures"], node["records_delivered"], node["records_pending"]) == \
        (4, 4, 0, 0)
    assert stats["transfers"]["failed"] == 0  # retried pushes warn; the queue gives up, the dead letter takes
    assert stats["last_error"]["node"] == "outlet KeepOutlet(db)"
    assert stats["last_error"]["message"] == "database db refused the batch"
    assert len(dead.records) == 6


def test_records_left_in_a_queue_at_shutdown_are_abandoned_and_lost(obs):
    """No journal: what the final flush cannot deliver is abandoned, and lost."""
    outlet = obs.KeepOutlet("db", failing=True)
    link = Link(obs.CountInlet(size=2), outlet, interval=60, retry=Retry(first_delay=3600, max_delay=3600, jitter=0))
    planner = SchedulePlanner(link, immediate_transfer=False, ignore_exceptions=True)
    with planner:
        planner.force_transfer()
        planner.force_transfer()
        assert _counts(link.stats()) == _zero(pulled=4, pending=4)
    stats = link.stats()
    # the final flush retries the head batch (2 records); it fails, so all 4 are left behind
    assert _counts(stats) == _zero(pulled=4, retried=2, abandoned=4, lost=4)
    assert _node(stats, "KeepOutlet(db)")["records_pending"] == 0


def test_a_failed_flush_delivers_nothing(obs):
    """Records a Buffer releases at flush() to a failing outlet are refused, not delivered."""
    from databay.support.buffers import Buffer

    outlet = obs.KeepOutlet()
    link = Link(obs.CountInlet(size=2), outlet, interval=3600, processors=[Buffer(count_threshold=100)],
                ignore_exceptions=True)
    link.transfer()
    link.transfer()
    outlet.failing = True
    assert link.flush() is True
    stats = link.stats()
    assert _counts(stats) == _zero(pulled=4, refused=4, lost=4)
    node = _node(stats, "KeepOutlet(out)")
    assert (node["calls"], node["failures"], node["records_delivered"]) == (3, 1, 0)


def test_a_running_transfer_is_neither_succeeded_nor_failed_yet(obs):
    """Stats read from inside a planner-run transfer: run counts it, succeeded does not."""
    inlet = obs.CountInlet(size=2)
    link = Link(inlet, obs.KeepOutlet(), interval=3600)
    seen = []
    inlet.hook = lambda: seen.append(link.stats())
    planner = SchedulePlanner(link, immediate_transfer=False)
    with planner:
        planner.force_transfer()
        planner.force_transfer()
    during, after = seen[1], link.stats()
    assert during["transfers"] == {"run": 2, "succeeded": 1, "failed": 0, "skipped": 0, "missed": 0,
                                   "running": True}
    assert during["last_transfer"]["duration_seconds"] is None and during["last_transfer"]["records"] is None
    assert after["transfers"] == {"run": 2, "succeeded": 2, "failed": 0, "skipped": 0, "missed": 0,
                                  "running": False}
    assert after["last_transfer"]["records"] == 2
