"""Failure isolation: a failing node never keeps other records from other outlets.

The two fail-fast scenarios of the delivery issue, with ``ignore_exceptions=False``
(the default): the transfer first delivers everything it can, then raises the
first error.
"""

import pytest

from databay import Inlet, Link, Outlet


class Boom(Exception):
    pass


class Counter(Inlet):
    def __init__(self, count, start=0):
        super().__init__()
        self.count, self.next = count, start
        self.produced = []

    def pull(self, update):
        values = list(range(self.next, self.next + self.count))
        self.next += self.count
        self.produced.extend(values)
        return values


class Failing(Inlet):
    def pull(self, update):
        raise Boom("inlet down")


class Sink(Outlet):
    def __init__(self, fail_when=lambda payloads: False):
        super().__init__()
        self.fail_when = fail_when
        self.payloads = []

    def push(self, records, update):
        payloads = [record.payload for record in records]
        if self.fail_when(payloads):
            raise Boom("refused %s" % payloads)
        self.payloads.extend(payloads)


def _groups_of(size):
    def grouper(batches):
        records = [record for batch in batches for record in batch]
        return [records[i:i + size] for i in range(0, len(records), size)]
    return grouper


def test_one_failing_batch_does_not_stop_the_other_batches_then_raises():
    """30 records in batches of 6; the push of one batch fails: 24 delivered, 6 refused, then the error."""
    inlet = Counter(30)
    sink = Sink(fail_when=lambda payloads: 12 in payloads)
    other = Sink()
    link = Link(inlet, [sink, other], 1, groupers=[_groups_of(6)])
    with pytest.raises(Boom, match="refused"):
        link.transfer()
    assert sink.payloads == [v for v in range(30) if not 12 <= v < 18]
    assert other.payloads == list(range(30))
    assert link.delivery_counts["refused"] == 6
    assert link.delivery_counts["lost"] == 6


def test_a_failing_inlet_does_not_drop_its_siblings_records_then_raises():
    """One inlet raises; the 16 records of its sibling still reach the outlet, then the error."""
    inlet = Counter(16)
    sink = Sink()
    link = Link([Failing(), inlet], sink, 1)
    with pytest.raises(Boom, match="inlet down"):
        link.transfer()
    assert sink.payloads == list(range(16))
    assert link.delivery_counts["lost"] == 0


def test_failing_processor_and_grouper_are_skipped_then_the_first_error_raised():
    def bad_processor(records):
        raise Boom("processor")

    def bad_grouper(batches):
        raise Boom("grouper")

    sink = Sink()
    link = Link(Counter(5), sink, 1, processors=[bad_processor], groupers=[bad_grouper])
    with pytest.raises(Boom, match="processor"):
        link.transfer()
    assert sink.payloads == [0, 1, 2, 3, 4]


def test_the_later_failures_of_a_fail_fast_transfer_are_logged(caplog):
    """Only the first error is raised; the others are logged, naming link, node and update."""
    sink_a = Sink(fail_when=lambda p: True)
    sink_b = Sink(fail_when=lambda p: True)
    link = Link(Counter(2), [sink_a, sink_b], 1, tags="fl")
    with pytest.raises(Boom):
        link.transfer()
    messages = [r.getMessage() for r in caplog.records if r.name == "databay.Link"]
    assert len(messages) == 1
    assert "Sink" in messages[0] and repr(link) in messages[0] and "fl.0" in messages[0]


@pytest.mark.parametrize("parameter", ["copy_records", "ignore_exceptions", "immediate_transfer"])
@pytest.mark.parametrize("value", ["false", 0, 1, None, "True"])
def test_booleans_must_be_real_booleans(parameter, value):
    with pytest.raises(TypeError) as info:
        Link(Counter(1), Sink(), 1, **{parameter: value})
    message = str(info.value)
    assert parameter in message and repr(value) in message and "True or False" in message


@pytest.mark.parametrize("parameter", ["copy_records", "ignore_exceptions", "immediate_transfer"])
def test_real_booleans_are_accepted(parameter):
    for value in (True, False):
        link = Link(Counter(1), Sink(), 1, **{parameter: value})
        assert getattr(link, parameter) is value


def test_rejected_records_without_options_are_counted_logged_and_not_raised(caplog):
    """RejectedRecords is a verdict, not a failure: the rest counts as delivered, nothing is raised."""
    from databay import RejectedRecords

    class Picky(Outlet):
        def __init__(self):
            super().__init__()
            self.payloads = []

        def push(self, records, update):
            self.payloads.extend(r.payload for r in records if r.payload != 2)
            raise RejectedRecords([r for r in records if r.payload == 2], "two is bad")

    picky = Picky()
    link = Link(Counter(4), picky, 1, tags="rj")
    link.transfer()  # no exception, although ignore_exceptions=False
    assert picky.payloads == [0, 1, 3]
    assert link.delivery_counts["rejected"] == 1 and link.delivery_counts["lost"] == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "databay.Link"]
    assert any("1 record(s) rejected" in m and "rj.0" in m and "two is bad" in m for m in messages)


def test_rejected_records_needs_a_list():
    from databay import RejectedRecords

    with pytest.raises(TypeError, match="records"):
        RejectedRecords("x", "why")
