"""Record metadata built by inlets (docs/design.md: "Metadata")."""

import types

import pytest

from databay import Inlet, Link, Record


class _Plain(Inlet):
    def pull(self, update):
        return None


def test_new_record_holds_global_metadata_and_inlet(nodes):
    """new_record puts the global metadata, then '__inlet__': str(inlet), in a new dict."""
    inlet = _Plain(metadata={"a": 1, "b": 2})
    record = inlet.new_record("p")
    assert record.payload == "p"
    assert record.metadata == {"a": 1, "b": 2, "__inlet__": str(inlet)}
    assert list(record.metadata)[-1] == "__inlet__"


def test_new_record_local_metadata_wins():
    """Local metadata overrides global metadata on equal keys, and adds its own keys."""
    inlet = _Plain(metadata={"a": 1, "b": 2})
    record = inlet.new_record("p", metadata={"b": "local", "c": 3})
    assert record.metadata == {"a": 1, "b": "local", "c": 3, "__inlet__": str(inlet)}


def test_inlet_key_always_set_and_last_even_if_given():
    """'__inlet__' is str(inlet) and the last key even when global or local metadata has one."""
    inlet = _Plain(metadata={"__inlet__": "global", "a": 1})
    for record in (inlet.new_record("p"),
                   inlet.new_record("p", metadata={"__inlet__": "local", "b": 2}),
                   inlet._to_records([1])[0]):
        assert record.metadata["__inlet__"] == str(inlet)
        assert list(record.metadata)[-1] == "__inlet__"


def test_inlet_key_last_for_pulled_records(nodes):
    """Records made from a pull end with '__inlet__' even if global metadata defines it."""
    inlet = nodes.ValueInlet([1, 2], metadata={"__inlet__": "stale", "k": "v"})
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1).transfer()
    for record in outlet.pushes[0]:
        assert record.metadata == {"k": "v", "__inlet__": str(inlet)}
        assert list(record.metadata)[-1] == "__inlet__"


def test_new_record_without_metadata_has_only_inlet_key():
    """An inlet without global metadata still sets '__inlet__'."""
    inlet = _Plain()
    assert inlet.new_record(1).metadata == {"__inlet__": str(inlet)}
    assert inlet.metadata == {}


def test_records_never_share_metadata_with_inlet_or_each_other(nodes):
    """Every record made from a pull gets its own metadata dict, distinct from the inlet's."""
    global_metadata = {"a": 1}
    inlet = nodes.ValueInlet([1, 2, 3], metadata=global_metadata)
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1, copy_records=False).transfer()
    dicts = [record.metadata for record in outlet.pushes[0]]
    assert len({id(d) for d in dicts}) == 3
    assert all(d is not global_metadata for d in dicts)
    dicts[0]["a"] = "changed"
    assert dicts[1]["a"] == 1 and global_metadata == {"a": 1}


def test_new_record_metadata_is_a_new_dict_each_call():
    """Two new_record calls never return the same metadata dict, nor the local one given."""
    global_metadata = {"a": 1}
    local = {"b": 2}
    inlet = _Plain(metadata=global_metadata)
    first, second = inlet.new_record(1, local), inlet.new_record(2, local)
    assert first.metadata is not second.metadata
    assert first.metadata is not local and first.metadata is not global_metadata
    first.metadata["b"] = "x"
    assert local == {"b": 2} and second.metadata["b"] == 2


def test_inlet_never_mutates_global_metadata(nodes):
    """Pulls, new_record and downstream mutation of record metadata leave global metadata intact."""
    global_metadata = {"a": 1, "nested": {"x": 1}}
    inlet = nodes.ValueInlet([1, 2], metadata=global_metadata)

    def mutate(records):
        for record in records:
            record.metadata["a"] = "mutated"
            record.metadata.pop("nested", None)
        return records

    outlet = nodes.RecordingOutlet()
    link = Link(inlet, outlet, 1, processors=[mutate], copy_records=False)
    link.transfer()
    inlet.new_record(0, {"a": 2})
    assert global_metadata == {"a": 1, "nested": {"x": 1}}
    assert inlet.metadata is global_metadata


def test_metadata_accepts_any_mapping():
    """A read-only mapping works as global metadata and is copied into each record."""
    proxy = types.MappingProxyType({"a": 1})
    inlet = _Plain(metadata=proxy)
    record = inlet.new_record(0)
    assert record.metadata == {"a": 1, "__inlet__": str(inlet)}
    assert type(record.metadata) is dict


@pytest.mark.parametrize("bad", [[("a", 1)], "a=1", 5, ("a",), {"a"}, True], ids=repr)
def test_inlet_metadata_not_a_mapping_is_type_error(bad):
    """Inlet(metadata=non-mapping) raises TypeError naming the parameter and the value."""
    with pytest.raises(TypeError) as info:
        _Plain(metadata=bad)
    message = str(info.value)
    assert "metadata" in message
    assert repr(bad) in message
    assert "mapping" in message


@pytest.mark.parametrize("bad", [[("a", 1)], 5, "x"], ids=repr)
def test_new_record_metadata_not_a_mapping_is_type_error(bad):
    """new_record(metadata=non-mapping) raises TypeError naming the parameter."""
    with pytest.raises(TypeError, match="metadata"):
        _Plain().new_record(1, metadata=bad)


def test_record_attributes_assignable():
    """Record.payload and Record.metadata can be reassigned (processors transform in place)."""
    record = Record(1)
    assert record.metadata == {}
    record.payload = 2
    record.metadata = {"k": "v"}
    assert (record.payload, record.metadata) == (2, {"k": "v"})


def test_record_default_metadata_not_shared():
    """Two Records built without metadata get distinct empty dicts."""
    first, second = Record(1), Record(2)
    first.metadata["x"] = 1
    assert second.metadata == {}


def test_record_repr_shows_payload_and_metadata():
    """repr(Record) shows both payload and metadata."""
    text = repr(Record([1], {"k": "v"}))
    assert "[1]" in text and "'k': 'v'" in text


def test_record_deepcopy_and_pickle_round_trip():
    """copy.deepcopy and pickle produce independent equal-looking records."""
    import copy
    import pickle

    record = Record({"a": [1]}, {"m": {"n": 1}})
    for clone in (copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
        assert clone is not record
        assert clone.payload == {"a": [1]} and clone.metadata == {"m": {"n": 1}}
        clone.payload["a"].append(2)
        clone.metadata["m"]["n"] = 2
    assert record.payload == {"a": [1]} and record.metadata == {"m": {"n": 1}}
