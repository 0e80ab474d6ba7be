"""copy_records=True on the usual batch (flat dicts of scalars): each outlet gets exact, unshared
copies, and a dict shared inside the batch stays shared in each copy, as with copy.deepcopy."""

import copy

from databay import Link, Record


def _pushed(outlets):
    return [outlet.pushes[0] for outlet in outlets]


def test_flat_dict_payloads_are_copied_exactly_and_never_shared(nodes):
    rows = [{"id": i, "name": "item-%d" % i, "value": i * 0.5, "none": None} for i in range(3)]
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    Link(nodes.ValueInlet(rows, metadata={"source": "test"}), outlets, 1).transfer()
    first, second = _pushed(outlets)
    for batch in (first, second):
        assert [record.payload for record in batch] == rows
        assert [list(record.payload) for record in batch] == [list(row) for row in rows]  # key order
        assert all(record.payload is not row for record, row in zip(batch, rows))
        assert [record.metadata for record in batch] == [{"source": "test", "__inlet__": "ValueInlet()"}] * 3
    for one, other in zip(first, second):
        assert one is not other and one.payload is not other.payload and one.metadata is not other.metadata
    assert len({id(record.metadata) for record in first}) == 3
    first[0].payload["id"] = "changed"
    first[0].metadata["source"] = "changed"
    assert second[0].payload["id"] == 0 and rows[0]["id"] == 0
    assert second[0].metadata["source"] == "test"


def test_a_flat_payload_twice_in_a_batch_is_one_object_in_each_copy(nodes):
    row = {"id": 1, "name": "x"}
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    Link(nodes.ValueInlet([row, {"id": 2}, row]), outlets, 1).transfer()
    for batch in _pushed(outlets):
        assert batch[0].payload is batch[2].payload is not row
        assert batch[0].payload == row and batch[1].payload is not batch[0].payload
    first, second = _pushed(outlets)
    assert first[0].payload is not second[0].payload


def test_a_flat_metadata_dict_shared_by_records_stays_shared_in_each_copy(nodes):
    metadata = {"batch": 7}
    records = [Record(1, metadata), Record({"a": 1}, metadata), Record(3, {"batch": 8})]
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    Link(nodes.ValueInlet(records), outlets, 1).transfer()
    for batch in _pushed(outlets):
        assert batch[0].metadata is batch[1].metadata is not metadata
        assert batch[0].metadata == metadata and batch[2].metadata == {"batch": 8}
        assert batch[2].metadata is not batch[0].metadata


def test_a_dict_that_is_one_records_payload_and_anothers_metadata_stays_one_object(nodes):
    shared = {"k": "v"}
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([Record(shared, {"m": 1}), Record(2, shared)]), outlet, 1).transfer()
    batch = outlet.pushes[0]
    assert batch[0].payload is batch[1].metadata is not shared


def test_the_copy_equals_copy_deepcopy_of_the_batch_for_every_shape(nodes):
    """Flat and non-flat records mixed: extra attributes, nested values, subclasses of dict."""
    class Tagged(dict):
        pass

    record = Record({"a": 1}, {"m": 2})
    record.source = ["s"]
    values = [{"a": 1}, record, Record(Tagged(x=1)), Record({"n": [1]}), 5, "text"]
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet(values), outlet, 1).transfer()
    batch = outlet.pushes[0]
    label = {"__inlet__": "ValueInlet()"}
    expected = copy.deepcopy([value if isinstance(value, Record) else Record(value, dict(label))
                              for value in values])
    assert [(r.payload, r.metadata, type(r.payload)) for r in batch] == \
        [(r.payload, r.metadata, type(r.payload)) for r in expected]
    assert batch[1].source == ["s"] and batch[1].source is not record.source
    assert batch[3].payload["n"] is not values[3].payload["n"]
