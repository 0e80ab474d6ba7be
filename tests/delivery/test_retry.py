"""Retry queues: a failing outlet's batches wait in order and arrive exactly once when it recovers."""

import json
import logging
import sqlite3
import threading
import tracemalloc
from contextlib import closing

import pytest

from databay import Inlet, Link, Outlet, RejectedRecords, Retry
from databay.outlets import FileOutlet
from databay.outlets.sqlite_outlet import SqliteOutlet
from databay.planners import SchedulePlanner


class Counter(Inlet):
    """Pulls ``size`` consecutive numbers as ``{"n": i}`` payloads."""

    def __init__(self, size=3):
        super().__init__()
        self.size = size
        self.next = 0

    def pull(self, update):
        values = [{"n": n} for n in range(self.next, self.next + self.size)]
        self.next += self.size
        return values


class Recorder(Outlet):
    """Remembers payload numbers per push, with the transfer they belonged to."""

    def __init__(self, fail=None):
        super().__init__()
        self.fail = fail  # fail(payload numbers) -> exception or None
        self.pushes = []
        self.records = []
        self.attempts = 0
        self.lock = threading.Lock()

    def push(self, records, update):
        numbers = [r.payload["n"] if isinstance(r.payload, dict) else r.payload for r in records]
        with self.lock:
            self.attempts += 1
            error = self.fail(numbers) if self.fail else None
            if error is not None:
                raise error
            self.pushes.append((update.transfer_number, numbers))
            self.records.extend(records)

    @property
    def numbers(self):
        return [n for _, batch in self.pushes for n in batch]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class LockedDatabase:
    """Another connection holding SQLite's write lock: a real "database is locked" outage."""

    def __init__(self, path):
        self.path = path
        self.connection = None

    def lock(self):
        self.connection = sqlite3.connect(self.path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def unlock(self):
        self.connection.execute("ROLLBACK")
        self.connection.close()
        self.connection = None


def _rows(path):
    with closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT n FROM numbers ORDER BY rowid")]


def _lines(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line.replace("'", '"'))["n"] for line in file]


def test_real_outlets_fail_for_a_while_and_recover_exactly_once_in_order(tmp_path):
    """SQLite locked for transfers 2-7, the file path blocked for 4-11: everything arrives once, in order;
    the healthy outlet got every transfer's records in that same transfer."""
    database = str(tmp_path / "sink.sqlite")
    text = tmp_path / "out" / "sink.txt"
    sqlite = SqliteOutlet(database, table="numbers", timeout=0.01)
    lines = FileOutlet(str(text))
    healthy = Recorder()
    inlet = Counter(3)
    # backoff of 3 s on a 1 s grid: while a queue waits, new batches must queue behind it
    link = Link(inlet, [sqlite, lines, healthy], 1, retry=Retry(first_delay=3, max_delay=3, jitter=0))
    clock = FakeClock()
    link._delivery.clock = clock
    locked = LockedDatabase(database)
    sqlite_connection = sqlite3.connect(database)
    sqlite_connection.execute("CREATE TABLE numbers (n)")
    sqlite_connection.close()
    text.parent.mkdir()
    for number in range(20):
        clock.now = float(number)
        if number == 2:
            locked.lock()
        if number == 8:
            locked.unlock()
        if number == 4:  # a directory where the file was: open(text, "a") raises IsADirectoryError
            text.rename(text.with_suffix(".aside"))
            text.mkdir()
        if number == 12:
            text.rmdir()
            text.with_suffix(".aside").rename(text)
        link.transfer()
        assert healthy.pushes[-1] == (number, list(range(3 * number, 3 * number + 3)))  # never waited
    expected = list(range(60))
    assert _rows(database) == expected
    assert _lines(str(text)) == expected
    assert healthy.numbers == expected
    counts = link.delivery_counts
    assert counts["lost"] == 0 and counts["dropped"] == 0
    assert counts["retried"] > 0
    assert link._delivery.queue_for(sqlite).entries == type(link._delivery.queue_for(sqlite).entries)()


def test_a_failed_push_with_retry_is_not_raised_even_without_ignore_exceptions(caplog):
    down = [True]
    outlet = Recorder(fail=lambda numbers: OSError("down") if down[0] else None)
    link = Link(Counter(2), outlet, 1, retry=Retry(first_delay=0, jitter=0))
    with caplog.at_level(logging.WARNING, logger="databay.Link"):
        link.transfer()
        link.transfer()
    assert outlet.pushes == []
    warnings = [r for r in caplog.records if r.name == "databay.Link"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # the repeat is counted
    assert "queued for retry" in warnings[0].getMessage() and repr(link) in warnings[0].getMessage()
    down[0] = False
    link.transfer()
    assert outlet.pushes == [(0, [0, 1]), (1, [2, 3]), (2, [4, 5])]


def test_backoff_grows_and_the_queue_waits_for_it(monkeypatch):
    """Between retries the outlet is not called: exponential backoff, capped, ridden by transfers."""
    clock = FakeClock()
    down = [True]
    outlet = Recorder(fail=lambda numbers: OSError("down") if down[0] else None)
    link = Link(Counter(1), outlet, 1, retry=Retry(first_delay=2, max_delay=8, multiplier=2, jitter=0))
    link._delivery.clock = clock
    attempt_times = []
    for second in range(40):
        clock.now = float(second)
        before = outlet.attempts
        link.transfer()
        if outlet.attempts > before:
            attempt_times.append(second)
    # a retry falls due at the first transfer at most one interval (1 s) before its backoff ends
    # waits of 2, 4, 8, 8 s: attempts at 0, then 1 (due at 2), 4 (at 5), 11 (at 12), 18 (at 19)...
    assert attempt_times == [0, 1, 4, 11, 18, 25, 32, 39]  # the next is due at 47
    down[0] = False
    clock.now = 45.0
    link.transfer()
    assert outlet.numbers == []
    clock.now = 46.0
    link.transfer()
    assert outlet.numbers == list(range(42))


@pytest.mark.parametrize("delay, interval", [(1.0, 0.1), (0.1, 1.0), (5.0, 5.0)])
def test_a_recovered_outlet_is_delivered_within_max_of_delay_and_interval(delay, interval):
    clock = FakeClock()
    down = [True]
    outlet = Recorder(fail=lambda numbers: OSError("down") if down[0] else None)
    link = Link(Counter(1), outlet, interval, retry=Retry(first_delay=delay, jitter=0))
    link._delivery.clock = clock
    link.transfer()  # fails at t=0
    down[0] = False  # recovers at once
    number = 0
    while not outlet.pushes:
        number += 1
        clock.now = number * interval
        link.transfer()
    assert clock.now <= max(delay, interval) + 1e-9
    assert outlet.numbers == list(range(number + 1))


def test_rejected_records_go_to_the_dead_letter_and_do_not_block_the_queue():
    """A poison record is rejected (a subset of the batch); the rest counts as delivered, once."""
    class Picky(Outlet):
        def __init__(self):
            super().__init__()
            self.numbers = []

        def push(self, records, update):
            poison = [r for r in records if r.payload["n"] % 5 == 0]
            self.numbers.extend(r.payload["n"] for r in records if r.payload["n"] % 5)
            if poison:
                raise RejectedRecords(poison, "multiple of five")

    picky, dead = Picky(), Recorder()
    link = Link(Counter(4), picky, 1, retry=Retry(first_delay=0, jitter=0), dead_letter=dead)
    for _ in range(5):
        link.transfer()
    assert picky.numbers == [n for n in range(20) if n % 5]
    assert dead.numbers == [0, 5, 10, 15]
    counts = link.delivery_counts
    assert counts["rejected"] == 4 and counts["dead_lettered"] == 4 and counts["lost"] == 0
    assert not link._delivery.queue_for(picky).entries


def test_dead_letters_say_why_in_their_metadata():
    class Rejecting(Outlet):
        def push(self, records, update):
            raise RejectedRecords(records[:1], "bad row")

    letters = []

    class DeadLetters(Outlet):
        def push(self, records, update):
            letters.extend(records)

    inlet = Counter(2)
    rejecting = Rejecting()
    link = Link(inlet, rejecting, 1, tags="t", dead_letter=DeadLetters())
    link.transfer()
    assert len(letters) == 1
    letter = letters[0]
    assert letter.payload == {"n": 0}
    why = letter.metadata["__dead_letter__"]
    assert why["reason"] == "rejected" and why["detail"] == "bad row"
    assert why["outlet"] == repr(rejecting) and why["update"] == "t.0"
    assert letter.metadata["__inlet__"] == str(inlet)


def test_batches_out_of_attempts_go_to_the_dead_letter():
    outlet = Recorder(fail=lambda numbers: OSError("down"))
    dead = Recorder()
    link = Link(Counter(1), outlet, 1, retry=Retry(first_delay=0, jitter=0, attempts=3), dead_letter=dead)
    for _ in range(6):
        link.transfer()
    # batch k is pushed at transfers k, k+1, k+2 at most... but later batches wait behind the head
    assert dead.numbers[:2] == [0, 1]
    counts = link.delivery_counts
    assert counts["expired"] == len(dead.numbers) and counts["dead_lettered"] == len(dead.numbers)
    assert counts["lost"] == 0


def test_without_retry_a_failed_push_goes_to_the_dead_letter_and_the_error_is_raised():
    outlet = Recorder(fail=lambda numbers: OSError("down"))
    dead = Recorder()
    link = Link(Counter(3), outlet, 1, dead_letter=dead)
    with pytest.raises(OSError):
        link.transfer()
    assert dead.numbers == [0, 1, 2]
    assert link.delivery_counts["refused"] == 3 and link.delivery_counts["lost"] == 0


def test_per_outlet_override_by_dict():
    """retry={outlet: Retry, None: default}: an outlet mapped to None is not retried."""
    down = [True]
    retried = Recorder(fail=lambda numbers: OSError("down") if down[0] else None)
    plain = Recorder(fail=lambda numbers: OSError("down") if down[0] else None)
    link = Link(Counter(1), [retried, plain], 1, ignore_exceptions=True,
                retry={None: Retry(first_delay=0, jitter=0), plain: None})
    link.transfer()
    down[0] = False
    link.transfer()
    assert retried.numbers == [0, 1]
    assert plain.numbers == [1]
    assert link.delivery_counts["refused"] == 1


def test_max_pending_overflow_during_a_60_s_outage_at_1000_records_per_second():
    """600 transfers of 100 records (0.1 s of simulated time each) against a dead outlet:
    the queue never holds more than max_pending, exactly the oldest 50,000 are dropped to the
    dead letter, the warning comes once per episode, and the newest 10,000 arrive on recovery."""
    clock = FakeClock()
    down = [True]
    outlet = Recorder(fail=lambda numbers: OSError("down") if down[0] else None)
    dead = NumberSink()
    link = Link(Counter(100), outlet, 0.1, retry=Retry(first_delay=1, max_delay=5, jitter=0.2),
                dead_letter=dead)
    link._delivery.clock = clock
    queue = link._delivery.queue_for(outlet)
    handler = _ListHandler()
    logger = logging.getLogger("databay.Link")
    logger.addHandler(handler)
    tracemalloc.start()
    try:
        link.transfer()  # warm up
        baseline = None
        for number in range(1, 600):
            clock.now = number * 0.1
            link.transfer()
            assert queue.pending <= 10_000
            if number == 150:
                baseline = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
        logger.removeHandler(handler)
    assert grown < 2_000_000, grown  # flat once full: 10,000 records are held, nothing more
    assert queue.pending == 10_000
    assert list(dead.numbers) == list(range(50_000))
    assert dead.reasons == {"dropped"}
    counts = link.delivery_counts
    assert counts["dropped"] == 50_000 and counts["dead_lettered"] == 50_000 and counts["lost"] == 0
    full = [m for m in handler.messages if "is full" in m]
    assert len(full) == 1
    down[0] = False
    logger.addHandler(handler)
    try:
        clock.now = 61.0 + 5 * 1.2
        link.transfer()
    finally:
        logger.removeHandler(handler)
    assert outlet.numbers == list(range(50_000, 60_100))
    assert len([m for m in handler.messages if "drained; 50000 record(s) were dropped" in m]) == 1


class NumberSink(Outlet):
    """Keeps only payload numbers (compactly) and dead-letter reasons: its own memory stays small."""

    def __init__(self):
        super().__init__()
        import array

        self.numbers = array.array("q")
        self.reasons = set()

    def push(self, records, update):
        self.numbers.extend(r.payload["n"] for r in records)
        self.reasons.update(r.metadata["__dead_letter__"]["reason"] for r in records)


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_planner_delivers_the_queue_once_a_real_sqlite_outlet_recovers(tmp_path):
    """Under a real SchedulePlanner: SQLite locked for a while, then every record arrives once, in order."""
    database = str(tmp_path / "planner.sqlite")
    with closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE numbers (n)")
        db.commit()
    locked = LockedDatabase(database)
    locked.lock()
    inlet = Counter(2)
    seen = threading.Event()
    healthy = Recorder()
    target = []

    class Watch(Outlet):
        def push(self, records, update):
            if target and len(_rows(database)) >= target[0]:
                seen.set()

    sqlite = SqliteOutlet(database, table="numbers", timeout=0.01)
    link = Link(inlet, [sqlite, healthy, Watch()], 0.05,
                retry={sqlite: Retry(first_delay=0.1, max_delay=0.2, jitter=0.5)})
    planner = SchedulePlanner(link)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    try:
        assert _wait(lambda: len(healthy.pushes) >= 10)
        assert _rows_or_empty(database) == []
        locked.unlock()
        target.append(inlet.next + 2)
        assert seen.wait(30)
    finally:
        planner.shutdown()
        thread.join(30)
    assert _rows(database) == list(range(inlet.next))
    assert healthy.numbers == list(range(inlet.next))


def _rows_or_empty(path):
    with closing(sqlite3.connect(path, timeout=0.01)) as db:
        try:
            return [row[0] for row in db.execute("SELECT n FROM numbers")]
        except sqlite3.OperationalError:
            return []


def _wait(condition, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("kwargs, error", [
    ({"first_delay": -1}, ValueError), ({"first_delay": "1"}, TypeError),
    ({"max_delay": 0.5}, ValueError), ({"multiplier": 0.5}, ValueError),
    ({"jitter": 1.5}, ValueError), ({"jitter": True}, TypeError),
    ({"attempts": 0}, ValueError), ({"attempts": 1.5}, TypeError),
    ({"max_pending": 0}, ValueError), ({"max_pending": None}, TypeError),
    ({"max_delay": float("inf")}, ValueError), ({"first_delay": float("nan")}, ValueError),
])
def test_retry_rejects_bad_arguments_naming_them(kwargs, error):
    with pytest.raises(error) as info:
        Retry(**kwargs)
    name, value = next(iter(kwargs.items()))
    assert name in str(info.value) and repr(value) in str(info.value)


def test_retry_defaults_are_the_documented_ones():
    assert Retry() == Retry(first_delay=1, max_delay=60, multiplier=2, jitter=0.2, attempts=None,
                            max_pending=10_000)


@pytest.mark.parametrize("retry, error", [
    ("yes", TypeError), ({"x": Retry()}, ValueError), ({None: "r"}, TypeError), (Retry, TypeError),
])
def test_link_rejects_bad_retry_and_dead_letter(retry, error):
    with pytest.raises(error) as info:
        Link(Counter(), Recorder(), 1, retry=retry)
    assert "retry=" in str(info.value)
    with pytest.raises(TypeError, match="dead_letter="):
        Link(Counter(), Recorder(), 1, dead_letter=print)
