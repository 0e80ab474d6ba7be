"""Inlet.on_delivered: called once the records of a pull are safe, in pull order, never for lost ones."""

import pytest

from databay import Inlet, Link, Outlet, Retry
from databay.support.buffers import Buffer


class Cursor(Inlet):
    """A cursor-based inlet: commits its cursor in on_delivered."""

    def __init__(self, size=2):
        super().__init__()
        self.size = size
        self.next = 0
        self.acknowledged = []

    def pull(self, update):
        values = list(range(self.next, self.next + self.size))
        self.next += self.size
        return values

    def on_delivered(self, update):
        self.acknowledged.append(update.transfer_number)


class Sink(Outlet):
    def __init__(self, down=False, watcher=None):
        super().__init__()
        self.down = down
        self.numbers = []
        self.watcher = watcher

    def push(self, records, update):
        if self.watcher is not None:
            self.watcher(self)
        if self.down:
            raise OSError("down")
        self.numbers.extend(r.payload for r in records)


def test_called_after_every_outlet_pushed():
    inlet = Cursor()
    seen_at_push = []
    first = Sink(watcher=lambda sink: seen_at_push.append(list(inlet.acknowledged)))
    link = Link(inlet, [first, Sink()], 1)
    link.transfer()
    link.transfer()
    assert seen_at_push == [[], [0]]  # not yet acknowledged while its records were being pushed
    assert inlet.acknowledged == [0, 1]


def test_the_default_is_a_no_op_and_costs_no_delivery_state():
    class Plain(Inlet):
        def pull(self, update):
            return 1

    link = Link(Plain(), Sink(), 1)
    link.transfer()
    assert link._delivery is None
    assert Plain().on_delivered(None) is None


def test_waits_for_a_buffer_to_release_the_records_of_that_pull():
    inlet = Cursor()
    sink = Sink()
    link = Link(inlet, sink, 1, processors=[Buffer(count_threshold=5)])
    link.transfer()
    link.transfer()
    assert inlet.acknowledged == [] and sink.numbers == []
    link.transfer()  # 6 records > 5: released
    assert sink.numbers == [0, 1, 2, 3, 4, 5]
    assert inlet.acknowledged == [0, 1, 2]
    link.transfer()
    assert inlet.acknowledged == [0, 1, 2]
    link.flush()
    assert inlet.acknowledged == [0, 1, 2, 3]


def test_waits_for_the_retry_queue_and_comes_in_pull_order():
    inlet = Cursor()
    sink = Sink(down=True)
    link = Link(inlet, sink, 1, retry=Retry(first_delay=0, jitter=0))
    link.transfer()
    link.transfer()
    assert inlet.acknowledged == []
    sink.down = False
    link.transfer()
    assert sink.numbers == [0, 1, 2, 3, 4, 5]
    assert inlet.acknowledged == [0, 1, 2]


def test_never_called_for_records_that_were_lost():
    inlet = Cursor()
    sink = Sink(down=True)
    link = Link(inlet, sink, 1, ignore_exceptions=True)
    link.transfer()  # lost: no retry, no dead letter
    sink.down = False
    link.transfer()
    assert inlet.acknowledged == [1]
    assert link.delivery_counts["lost"] == 2


def test_dead_lettered_records_count_as_safe():
    inlet = Cursor()
    dead = Sink()
    link = Link(inlet, Sink(down=True), 1, ignore_exceptions=True, dead_letter=dead)
    link.transfer()
    assert dead.numbers == [0, 1]
    assert inlet.acknowledged == [0]


def test_a_failing_inlet_is_not_acknowledged_and_a_failing_hook_is_reported(caplog):
    class Broken(Cursor):
        def on_delivered(self, update):
            raise RuntimeError("commit failed")

    class Failing(Cursor):
        def pull(self, update):
            raise OSError("no data")

    failing, broken, good = Failing(), Broken(), Cursor()
    link = Link([failing, broken, good], Sink(), 1, tags="ack")
    with pytest.raises(OSError):
        link.transfer()
    assert failing.acknowledged == [] and good.acknowledged == [0]
    messages = [r.getMessage() for r in caplog.records if r.name == "databay.Link"]
    assert any("commit failed" in m and "ack.0" in m for m in messages), messages
