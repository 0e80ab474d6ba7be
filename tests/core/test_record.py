"""Record copying and pickling, including Record subclasses."""

import copy
import pickle

from databay import Link, Record


class TimedRecord(Record):
    """A subclass with an extra attribute and a different constructor."""

    def __init__(self, payload, metadata=None, timestamp=None):
        super().__init__(payload, metadata)
        self.timestamp = timestamp


class KeywordRecord(Record):
    """A subclass whose constructor is keyword-only."""

    def __init__(self, *, payload, metadata=None):
        super().__init__(payload, metadata)


def test_deepcopy_keeps_subclass_and_its_attributes():
    """copy.deepcopy of a Record subclass keeps its type and deep-copies its extra attributes."""
    record = TimedRecord({"a": [1]}, {"m": 1}, timestamp=[2024])
    clone = copy.deepcopy(record)
    assert type(clone) is TimedRecord
    assert clone.timestamp == [2024] and clone.timestamp is not record.timestamp
    assert clone.payload == {"a": [1]} and clone.payload is not record.payload
    assert clone.metadata == {"m": 1} and clone.metadata is not record.metadata


def test_deepcopy_does_not_call_subclass_init():
    """A subclass with a keyword-only constructor can still be deep-copied."""
    clone = copy.deepcopy(KeywordRecord(payload=[1]))
    assert type(clone) is KeywordRecord and clone.payload == [1]


def test_pickle_keeps_subclass_attributes():
    """Pickling a Record subclass round-trips its extra attributes."""
    clone = pickle.loads(pickle.dumps(TimedRecord(1, {"m": 1}, timestamp=5)))
    assert type(clone) is TimedRecord
    assert (clone.payload, clone.metadata, clone.timestamp) == (1, {"m": 1}, 5)


def test_deepcopy_preserves_shared_references():
    """A payload object shared by two records stays shared in one deep copy of both."""
    shared = {"x": [1]}
    clone = copy.deepcopy([Record(shared), TimedRecord(shared)])
    assert clone[0].payload is clone[1].payload
    assert clone[0].payload is not shared


def test_transfer_copies_record_subclasses_for_each_outlet(nodes):
    """With copy_records=True a pulled Record subclass reaches each outlet as its own full copy."""
    record = TimedRecord({"a": 1}, timestamp={"t": 1})
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    Link(nodes.ValueInlet([record, KeywordRecord(payload=2)]), outlets, 1).transfer()
    first, second = (o.pushes[0][0] for o in outlets)
    assert type(first) is type(second) is TimedRecord
    assert first.timestamp == second.timestamp == {"t": 1}
    assert first.timestamp is not second.timestamp is not record.timestamp
    assert [type(o.pushes[0][1]) for o in outlets] == [KeywordRecord, KeywordRecord]


class _Holding:
    """A Buffer-like processor: holds records until ``flush`` is set."""

    databay_flushable = True  # opts in to the flush protocol

    def __init__(self):
        self.records = []
        self.flush = False

    def __call__(self, records):
        self.records.extend(records)
        if not self.flush:
            return []
        released, self.records, self.flush = self.records, [], False
        return released


def test_flush_releases_records_held_by_processors(nodes):
    """Link.flush delivers records held by a Buffer-like link processor without pulling."""
    holding = _Holding()
    inlet = nodes.ValueInlet([1, 2])
    outlet = nodes.RecordingOutlet()
    link = Link(inlet, outlet, 1, processors=holding)
    link.transfer()
    assert outlet.payloads == [[]]
    assert link.flush() is True
    assert len(inlet.updates) == 1
    assert outlet.payloads == [[], [1, 2]]
    assert link.flush() is False


def test_flush_releases_outlet_processor_records(nodes):
    """Link.flush also releases records held by an outlet's own Buffer-like processor."""
    holding = _Holding()
    outlet = nodes.RecordingOutlet(processors=holding)
    other = nodes.RecordingOutlet()
    link = Link(nodes.ValueInlet([1]), [outlet, other], 1)
    link.transfer()
    assert outlet.payloads == [[]] and other.payloads == [[1]]
    assert link.flush() is True
    assert outlet.payloads == [[], [1]]
    assert other.payloads == [[1]]


def test_flush_ignores_processors_that_did_not_opt_in(nodes):
    """A processor with `records` and `flush` attributes but no databay_flushable marker is left alone."""

    class Audit:
        def __init__(self):
            self.records = ["kept"]

        def flush(self):
            return "a method, not a flag"

        def __call__(self, records):
            return records

    audit = Audit()
    link = Link(nodes.ValueInlet(1), nodes.RecordingOutlet(), 1, processors=[audit])
    assert link.flush() is False
    assert callable(audit.flush) and audit.records == ["kept"]
