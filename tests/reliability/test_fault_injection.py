"""Fault injection: seeded failures, hangs and garbage in every kind of node, with exact accounting.

200 links at 20-50 ms run for a few seconds under ``ignore_exceptions=True``.
Every injected failure must be logged exactly once naming its link and update,
healthy links must keep their grid, and every record a successful pull produced
(and the processors passed) must reach each outlet exactly once, unless that
outlet's push failed and said so in the log.
"""

import collections
import json
import math
import os
import random
import threading
import time

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner
from databay.planners.clock import SystemClock

SEED = 20240607
LINKS = 200
HEALTHY_EVERY = 10  # every 10th link has no faults at all: its schedule is checked
DURATION = 4.0  # seconds of fault load
P_RAISE = 0.08  # per node call
P_GARBAGE = 0.05
P_HANG = 0.004
HANG_INTERVALS = 2.5  # a hang lasts this many intervals of its link


class InjectedFault(Exception):
    """Raised on purpose by a faulty node."""


class Ledger:
    """What the faulty nodes did, to compare with the log and the outlets afterwards."""

    def __init__(self):
        self.lock = threading.Lock()
        self.raised = []  # (unique exception text, link tag, str(update), kind)
        self.garbage = collections.Counter()  # (link tag, str(update), kind) -> count
        self.hangs = 0

    def fault(self, kind, tag, update):
        """A new InjectedFault with a unique serial; only its text is kept (no traceback)."""
        with self.lock:
            text = "#%d: %s fault in %s update %s" % (len(self.raised), kind, tag, update)
            self.raised.append((text, tag, str(update), kind))
        return InjectedFault(text)

    def note_garbage(self, kind, tag, update):
        with self.lock:
            self.garbage[(tag, str(update), kind)] += 1

    def note_hang(self):
        with self.lock:
            self.hangs += 1


class LinkState:
    """Shared by the nodes of one link: its tag and the update its current transfer runs.

    A link never runs two transfers at once, so processors and groupers (which
    are not given the update) can read it here.
    """

    def __init__(self, index, interval, ledger):
        self.tag = "L%03d" % index
        self.index = index
        self.interval = interval
        self.ledger = ledger
        self.update = None

    def rng(self, role):
        return random.Random("%d-%d-%s" % (SEED, self.index, role))


def dropped(payload):
    """The filter processor drops about one payload in seven, deterministically."""
    return payload[0] != "garbage" and (payload[2] + payload[3]) % 7 == 3


class FaultyInlet(Inlet):
    """Raises, hangs past the interval, returns a non-list, or returns two payloads."""

    def __init__(self, state, number, stopped):
        super().__init__()
        self.state = state
        self.name = "%s-in%d" % (state.tag, number)
        self.rng = state.rng(self.name)
        self.stopped = stopped
        self.produced = []

    def pull(self, update):
        self.state.update = update
        if self.stopped.is_set():
            self.state.ledger.late_pulls.set()
        roll = self.rng.random()
        if roll < P_RAISE:
            raise self.state.ledger.fault("Inlet", self.state.tag, update)
        if roll < P_RAISE + P_HANG:
            self.state.ledger.note_hang()
            time.sleep(self.state.interval * HANG_INTERVALS)
        if roll > 1 - P_GARBAGE:  # not a list: becomes exactly one record
            value = ("garbage", self.name, update.transfer_number)
            self.produced.append(value)
            return value
        payloads = [(self.name, self.state.tag, update.transfer_number, i) for i in range(2)]
        self.produced.extend(payloads)
        return payloads


class FlakyProcessor:
    """Raises, returns garbage (not a list), or passes the records on."""

    def __init__(self, state, role):
        self.state = state
        self.rng = state.rng(role)

    def __call__(self, records):
        roll = self.rng.random()
        if roll < P_RAISE:
            raise self.state.ledger.fault("Processor", self.state.tag, self.state.update)
        if roll < P_RAISE + P_GARBAGE:
            self.state.ledger.note_garbage("Processor", self.state.tag, self.state.update)
            return tuple(records) if roll < P_RAISE + P_GARBAGE / 2 else None
        return list(records)


def filter_processor(records):
    """A healthy processor that drops some records on purpose."""
    return [record for record in records if not dropped(record.payload)]


class FlakyGrouper:
    """Splits batches into chunks of three; raises or returns a flat list at times."""

    def __init__(self, state):
        self.state = state
        self.rng = state.rng("grouper")

    def __call__(self, batches):
        roll = self.rng.random()
        if roll < P_RAISE:
            raise self.state.ledger.fault("Grouper", self.state.tag, self.state.update)
        if roll < P_RAISE + P_GARBAGE:
            self.state.ledger.note_garbage("Grouper", self.state.tag, self.state.update)
            flat = [record for batch in batches for record in batch]
            return flat if flat else None  # a flat list of records is not a list of lists
        return [batch[i:i + 3] for batch in batches for i in range(0, len(batch), 3)]


class FaultyOutlet(Outlet):
    """Keeps pushed payloads; a flaky one raises, hangs or has a garbage-returning processor."""

    def __init__(self, state, name, flaky):
        self.state = state
        self.name = name
        self.rng = state.rng(name)
        self.flaky = flaky
        self.delivered = []
        self.rejected = []
        self.lock = threading.Lock()
        super().__init__(processors=[self._maybe_garbage] if flaky else None)

    def _maybe_garbage(self, records):
        if self.rng.random() < P_GARBAGE:
            with self.lock:
                self.rejected.extend(record.payload for record in records)
            self.state.ledger.note_garbage("Outlet", self.state.tag, self.state.update)
            return {"not": "a list"}
        return records

    def push(self, records, update):
        if self.flaky:
            roll = self.rng.random()
            if roll < P_RAISE:
                with self.lock:
                    self.rejected.extend(record.payload for record in records)
                raise self.state.ledger.fault("Outlet", self.state.tag, update)
            if roll < P_RAISE + P_HANG:
                self.state.ledger.note_hang()
                time.sleep(self.state.interval * HANG_INTERVALS)
        with self.lock:
            self.delivered.extend(record.payload for record in records)


class HealthyInlet(Inlet):
    """Never fails; stamps each pull with its time and transfer number."""

    def __init__(self, state, stopped):
        super().__init__()
        self.state = state
        self.stopped = stopped
        self.stamps = []
        self.produced = []

    def pull(self, update):
        self.stamps.append((time.monotonic(), update.transfer_number))
        if self.stopped.is_set():
            self.state.ledger.late_pulls.set()
        payload = ("healthy", self.state.tag, update.transfer_number, 0)
        self.produced.append(payload)
        return payload


class RecordingClock(SystemClock):
    """The system clock, remembering its first reading: the planner's grid anchor t0."""

    def __init__(self):
        self.t0 = None

    def now(self):
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        return now


def grid_lateness(stamps, t0, interval):
    """Lateness of each pull against slot ``transfer_number`` of the grid ``t0 + k * interval``.

    Exact while no slot was coalesced; after a coalesced misfire it over-states
    lateness (by one interval per missed slot), so it is an upper bound.
    """
    return [stamp - (t0 + number * interval) for stamp, number in stamps]


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(fraction * len(ordered))) - 1)]


def build(ledger, stopped):
    links, healthy, faulty = [], [], []
    for index in range(LINKS):
        interval = 0.020 + (index * 7 % 31) / 1000  # 20-50 ms
        state = LinkState(index, interval, ledger)
        if index % HEALTHY_EVERY == 0:
            inlet = HealthyInlet(state, stopped)
            outlet = FaultyOutlet(state, "%s-out" % state.tag, flaky=False)
            link = Link(inlet, outlet, interval, tags=state.tag, ignore_exceptions=True)
            healthy.append((link, state, inlet, outlet))
        else:
            # Every tenth link is wide (two inlets, a flaky and a steady outlet); the rest are
            # narrow, because each concurrent group of a transfer costs a helper thread and 200
            # wide links at 20-50 ms would saturate one GIL on their own.
            wide = index % HEALTHY_EVERY == HEALTHY_EVERY // 2
            inlets = [FaultyInlet(state, number, stopped) for number in range(2 if wide else 1)]
            outlets = [FaultyOutlet(state, "%s-flaky" % state.tag, flaky=True)]
            if wide:
                outlets.append(FaultyOutlet(state, "%s-steady" % state.tag, flaky=False))
            link = Link(inlets, outlets, interval, tags=state.tag, ignore_exceptions=True,
                        processors=[FlakyProcessor(state, "p1"), filter_processor,
                                    FlakyProcessor(state, "p2")],
                        groupers=[FlakyGrouper(state)])
            faulty.append((link, state, inlets, outlets))
        links.append(link)
    return links, healthy, faulty


@pytest.mark.timeout(120)
def test_planner_survives_seeded_faults_and_loses_no_record(log_capture, run_in_thread, waiter,
                                                             tmp_path):
    """Under seeded faults in every node kind the planner keeps running, logs each fault once and delivers every record exactly once."""
    ledger = Ledger()
    ledger.late_pulls = threading.Event()
    stopped = threading.Event()
    links, healthy, faulty = build(ledger, stopped)
    clock = RecordingClock()
    planner = SchedulePlanner(links, ignore_exceptions=True, clock=clock)
    with log_capture as log_counter:
        runner = run_in_thread(planner)
        assert waiter(lambda: planner.running, 20)
        time.sleep(DURATION)  # the load period itself, not synchronisation
        assert planner.running and not runner.returned.is_set()
        t_end = time.monotonic()
        began = time.monotonic()
        runner.stop()
        shutdown_seconds = time.monotonic() - began
    stopped.set()
    assert runner.error is None
    assert not ledger.late_pulls.wait(0.2), "a transfer started after shutdown() returned"

    # -- every injected failure was logged, naming its link and update: distinct ones in full, --
    # -- repeats of the same node and error counted in a summary line (databay's RepeatLimiter) --
    link_errors = [record for record in log_counter.errors() if record.name == "databay.Link"]
    other_errors = [record for record in log_counter.errors() if record.name != "databay.Link"]
    assert other_errors == [], [record.getMessage() for record in other_errors[:5]]
    by_exception = collections.defaultdict(list)
    garbage_logged = collections.Counter()
    occurrences = 0
    for record in link_errors:
        if len(record.args) == 8:  # "... failed N more times in the last S s (latest: update, error)"
            kind, _node, link, count, _plural, _seconds, update, error = record.args
            assert record.exc is None
        else:
            kind, _node, link, update, error = record.args
            assert record.exc == error  # logged with its traceback
            count = 1
        occurrences += count
        error_type, text = error
        if error_type is InjectedFault:
            by_exception[text].append((kind, str(update), link.tags[0]))
        else:
            assert error_type is TypeError and "returned" in text, error
            garbage_logged[(link.tags[0], kind)] += count
    for text, tag, update, kind in ledger.raised:
        assert by_exception.get(text) == [(kind, update, tag)], (text, by_exception.get(text))
    assert len(by_exception) == len(ledger.raised)
    garbage_expected = collections.Counter()
    for (tag, _update, kind), count in ledger.garbage.items():
        garbage_expected[(tag, kind)] += count
    assert garbage_logged == garbage_expected
    assert occurrences == len(ledger.raised) + sum(ledger.garbage.values())

    # -- accounting: produced and passed == delivered (+ rejected by a logged push failure) --
    produced_total = delivered_total = expected_total = rejected_total = filtered_total = 0
    for _link, _state, inlets, outlets in faulty:
        produced = [payload for inlet in inlets for payload in inlet.produced]
        expected = collections.Counter(p for p in produced if not dropped(p))
        produced_total += len(produced)
        filtered_total += len(produced) - sum(expected.values())
        for outlet in outlets:
            delivered = collections.Counter(outlet.delivered)
            assert not delivered or max(delivered.values()) == 1, "duplicate delivery"
            assert delivered + collections.Counter(outlet.rejected) == expected, outlet.name
            if not outlet.flaky:
                assert delivered == expected, outlet.name
            delivered_total += len(outlet.delivered)
            rejected_total += len(outlet.rejected)
            expected_total += sum(expected.values())
    lateness, slots_due, healthy_transfers = [], 0, 0
    for link, _state, inlet, outlet in healthy:
        assert outlet.delivered == inlet.produced
        produced_total += len(inlet.produced)
        delivered_total += len(outlet.delivered)
        expected_total += len(inlet.produced)
        healthy_transfers += len(inlet.stamps)
        stamps = [stamp for stamp in inlet.stamps if stamp[0] <= t_end]
        link_lateness = grid_lateness(stamps, clock.t0, link.interval_seconds)
        lateness += link_lateness
        due = math.floor((t_end - clock.t0) / link.interval_seconds) + 1
        slots_due += due
        # healthy links keep running: only a generous floor here, for a loaded 2-core machine
        # (two CPU hogs left them a quarter of their slots once); how close to the grid they
        # stay is measured by benchmarks/, not asserted by a test
        assert len(stamps) >= 0.1 * due, (link, len(stamps), due)

    p50, p99 = percentile(lateness, 0.50), percentile(lateness, 0.99)
    assert min(lateness) > -0.002, "a transfer ran before its slot"
    # p50/p99 are reported below, not asserted: grid lateness counts every coalesced slot as
    # an interval late, so on a loaded machine it measures the load; benchmarks/ measures it.
    figures = {
        "links": LINKS,
        "healthy_links": len(healthy),
        "duration_s": DURATION,
        "seed": SEED,
        "faults_injected": len(ledger.raised) + sum(ledger.garbage.values()) + ledger.hangs,
        "exceptions_raised": len(ledger.raised),
        "garbage_returns": sum(ledger.garbage.values()),
        "hangs_past_interval": ledger.hangs,
        "exceptions_survived": len(link_errors),
        "skipped_overlapping_transfers": sum(1 for r in log_counter.snapshot()
                                            if r.getMessage().startswith("Skipped a transfer")),
        "records_produced": produced_total,
        "records_dropped_by_filter_processors": filtered_total,
        "record_deliveries_due": expected_total,  # per outlet: produced and passed
        "record_deliveries_done": delivered_total,
        "record_deliveries_refused_by_logged_outlet_failure": rejected_total,
        "records_lost": expected_total - delivered_total - rejected_total,
        "healthy_link_transfers": healthy_transfers,
        "healthy_slots_due": slots_due,
        # upper bounds: slot = transfer number, so a coalesced misfire counts as lateness
        "healthy_p50_lateness_ms": round(p50 * 1000, 2),
        "healthy_p99_lateness_ms": round(p99 * 1000, 2),
        "healthy_max_lateness_ms": round(max(lateness) * 1000, 2),
        "shutdown_s": round(shutdown_seconds, 3),
        "cpus": os.cpu_count(),
    }
    text = json.dumps(figures, indent=2)
    (tmp_path / "reliability-figures.json").write_text(text)
    target = os.environ.get("DATABAY_RELIABILITY_FIGURES")
    if target:
        with open(target, "w") as file:
            file.write(text)
    print("\nreliability figures:", text)


@pytest.mark.timeout(60)
def test_exception_escaping_a_link_is_logged_by_the_planner_which_keeps_going(
        log_capture, run_in_thread, waiter, counting_outlet):
    """An ignoring planner logs each failure of a raising link once, as the node's, and keeps going."""
    raised = []
    lock = threading.Lock()

    class Alternating(Inlet):
        def pull(self, update):
            if update.transfer_number % 2:
                error = InjectedFault("transfer %s" % update)
                with lock:
                    raised.append((error, str(update)))
                raise error
            return update.transfer_number

    outlet = counting_outlet()
    link = Link(Alternating(), outlet, 0.02, tags="alternating")
    planner = SchedulePlanner(link, ignore_exceptions=True)
    with log_capture as log_counter:
        runner = run_in_thread(planner)
        assert waiter(lambda: len(outlet.delivered) >= 10, 30)
        assert planner.running
        runner.stop()
    assert runner.error is None
    # Logged as the node failure it is (naming node, link and update), through the link's
    # repeat limiter: every message differs here, so each is logged in full.
    logged = [record for record in log_counter.errors() if record.name == "databay.Link"]
    with lock:
        assert len(logged) == len(raised)
        assert [record.exc for record in logged] == [(InjectedFault, str(error)) for error, _ in raised]
        assert [str(record.args[3]) for record in logged] == [update for _, update in raised]
    assert all(record.args[2] is link and isinstance(record.args[1], Alternating) for record in logged)
    assert not [record for record in log_counter.errors() if record.name == "databay.BasePlanner"]
    assert outlet.delivered == [n for n in range(0, 2 * len(outlet.delivered), 2)]
