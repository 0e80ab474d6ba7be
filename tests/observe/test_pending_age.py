"""Retry-queue depth and the age of its oldest batch, exactly, on the planner's (virtual) clock."""

import threading

from databay import Link, Retry
from databay.metrics import prometheus_text
from databay_testing import VirtualClock, virtual_planner


def _outlet_stats(stats):
    return next(node for node in stats["nodes"] if node["role"] == "outlet")


def test_oldest_pending_age_follows_the_planner_clock_and_clears_on_delivery(obs):
    """A failing outlet queues every 10 s batch; the head's age is virtual seconds since it was queued."""
    clock = VirtualClock()
    outlet = obs.KeepOutlet("db", failing=True)
    # first_delay=100: the queue is not retried before t0 + 90 (a retry rides on a transfer up
    # to one interval early), so every batch until then queues behind the first.
    link = Link(obs.CountInlet(size=2), outlet, interval=10, tags=["orders"],
                retry=Retry(first_delay=100, max_delay=100, jitter=0))
    with virtual_planner(link, clock=clock) as planner:
        clock.settle()
        stats = _outlet_stats(link.stats())
        assert (stats["records_pending"], stats["oldest_pending_age_seconds"]) == (2, 0.0)
        clock.advance(10)
        stats = _outlet_stats(link.stats())
        assert (stats["records_pending"], stats["oldest_pending_age_seconds"]) == (4, 10.0)
        clock.advance(25)  # transfers at +20 and +30; now +35
        snapshot = planner.stats()["links"][0]
        stats = _outlet_stats(snapshot)
        assert (stats["records_pending"], stats["oldest_pending_age_seconds"]) == (8, 35.0)
        assert snapshot["records"]["pending"] == 8 and snapshot["records"]["pulled"] == 8
        assert 'databay_records_pending_oldest_age_seconds{link="orders",outlet="KeepOutlet(db)"} 35.0' \
            in prometheus_text(planner).splitlines()
        outlet.failing = False
        clock.advance(55)  # the transfer at +90 retries the queue, then pushes its own batch
        stats = link.stats()
        assert _outlet_stats(stats)["records_pending"] == 0
        assert _outlet_stats(stats)["oldest_pending_age_seconds"] is None
        assert stats["records"]["pending"] == 0 and stats["records"]["retried"] == 18  # +0 ... +80
        assert [record.payload for record in outlet.records] == [0, 1] * 10  # and the batch of +90


def test_age_of_a_partly_dropped_head_counts_from_when_it_was_queued(obs):
    """max_pending trims the oldest batch in place: what is left of it keeps its age."""
    clock = VirtualClock()
    outlet = obs.KeepOutlet("db", failing=True)
    link = Link(obs.CountInlet(size=3), outlet, interval=5,
                retry=Retry(first_delay=1000, max_delay=1000, jitter=0, max_pending=4))
    with virtual_planner(link, clock=clock, ignore_exceptions=True):
        clock.settle()  # 3 queued at +0
        clock.advance(5)  # 3 more at +5: 6 > 4, so 2 of the +0 batch are dropped
        stats = link.stats()
        assert _outlet_stats(stats)["records_pending"] == 4
        assert _outlet_stats(stats)["oldest_pending_age_seconds"] == 5.0
        assert stats["records"]["dropped"] == 2
        clock.advance(5)  # 3 more at +10: the rest of the +0 batch and 2 of the +5 one go
        stats = link.stats()
        assert _outlet_stats(stats)["records_pending"] == 4
        assert _outlet_stats(stats)["oldest_pending_age_seconds"] == 5.0  # the +5 batch's remainder
        assert stats["records"]["dropped"] == 5


def test_a_link_removed_from_a_virtual_planner_is_back_on_real_time(obs):
    """After remove_links, a transfer run by hand queues on the real clock: its age grows."""
    clock = VirtualClock()
    outlet = obs.KeepOutlet("db", failing=True)
    link = Link(obs.CountInlet(size=1), outlet, interval=10,
                retry=Retry(first_delay=1000, max_delay=1000, jitter=0))
    with virtual_planner(link, clock=clock) as planner:
        clock.settle()
        planner.remove_links(link)
    link.on_start()
    try:
        link.transfer()  # fails again; the queue's head is still the +0 batch of virtual time
        stats = _outlet_stats(link.stats())
        assert stats["records_pending"] >= 1
        first = stats["oldest_pending_age_seconds"]
        threading.Event().wait(0.3)  # real time passes; a frozen virtual clock would not move the age
        assert _outlet_stats(link.stats())["oldest_pending_age_seconds"] >= first + 0.25
    finally:
        link.on_shutdown()
