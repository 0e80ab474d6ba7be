"""Items 9 and 10: records take attributes of their own; str() is 0.3.0's text, repr() unambiguous."""

from __future__ import annotations

import copy
import pickle

from databay import Inlet, Link, Outlet, Record
from databay.outlets import PrintOutlet
from databay.record import copy_records


def test_record_takes_other_attributes():
    """record.source = ... works, as in 0.3.0."""
    record = Record({"a": 1})
    record.source = "sensor-1"
    assert record.source == "sensor-1"
    assert record.payload == {"a": 1} and record.metadata == {}


def test_attributes_survive_the_copies_made_for_outlets():
    """A processor's attribute reaches each outlet, on that outlet's own deep copy."""
    class Source(Inlet):
        def pull(self, update):
            return [1, 2]

    def tag(records):
        for record in records:
            record.seen_by = ["processor"]
        return records

    class Keep(Outlet):
        def __init__(self):
            super().__init__()
            self.records = []

        def push(self, records, update):
            self.records.extend(records)

    first, second = Keep(), Keep()
    Link(Source(), [first, second], interval=1, processors=[tag]).transfer()
    assert [record.seen_by for record in first.records] == [["processor"]] * 2
    first.records[0].seen_by.append("first")
    assert second.records[0].seen_by == ["processor"]  # copied deeply, not shared


def test_copy_records_keeps_shared_objects_shared_and_copies_attributes():
    shared = {"k": [1]}
    original = Record({"x": shared})
    original.extra = shared
    (copied,) = copy_records([original])
    assert copied.extra == shared and copied.extra is not shared
    assert copied.extra is copied.payload["x"]


def test_records_with_attributes_pickle_and_deepcopy():
    record = Record([1], {"m": 1})
    record.note = "n"
    for clone in (pickle.loads(pickle.dumps(record)), copy.deepcopy(record)):
        assert (clone.payload, clone.metadata, clone.note) == ([1], {"m": 1}, "n")


def test_str_is_030s_text_and_repr_is_unambiguous():
    record = Record("hello", {"m": "v"})
    assert str(record) == "Record(payload=hello, metadata={'m': 'v'})"
    assert repr(record) == "Record(payload='hello', metadata={'m': 'v'})"
    assert repr(Record("1")) != repr(Record(1))


def test_print_outlet_prints_030s_text(capsys):
    """PrintOutlet prints hello, not 'hello', as 0.3.0 did."""
    class Hello(Inlet):
        def pull(self, update):
            return "hello"

    Link(Hello(), PrintOutlet(), interval=1, tags="greet").transfer()
    assert capsys.readouterr().out == "greet.0 Record(payload=hello, metadata={'__inlet__': 'Hello()'})\n"
