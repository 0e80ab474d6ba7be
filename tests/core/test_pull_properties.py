"""Property tests of Inlet's pull-return rules and metadata precedence, using databay_testing."""

import copy
import types

from hypothesis import example, given, settings
from hypothesis import strategies as st

from databay import Inlet, Record
from databay_testing import oracle, pull_records, strategies

PROPERTY = settings(max_examples=75, deadline=None)


class ReturningInlet(Inlet):
    """Returns whatever it was given."""

    def __init__(self, result, metadata=None):
        super().__init__(metadata=metadata)
        self.result = result

    def pull(self, update):
        return self.result


class AsyncReturningInlet(ReturningInlet):
    """Returns whatever it was given, from an async def pull."""

    async def pull(self, update):
        return self.result


class CountingInlet(ReturningInlet):
    """Overrides new_record and counts its calls."""

    def __init__(self, result, metadata=None):
        super().__init__(result, metadata=metadata)
        self.calls = 0

    def new_record(self, payload, metadata=None):
        self.calls += 1
        return super().new_record(payload, {"counted": self.calls, **(metadata or {})})


@PROPERTY
@given(pull_result=strategies.pull_results(), global_metadata=strategies.metadata_dicts())
@example(pull_result=[Record(None, {}), None], global_metadata={})
@example(pull_result=[[1, 2]], global_metadata={"source": "s"})
def test_conversion_follows_the_pull_return_rules(pull_result, global_metadata):
    """Whatever pull returns becomes exactly the records the oracle describes."""
    inlet = ReturningInlet(pull_result, metadata=global_metadata)
    oracle.assert_pull_becomes(pull_result, inlet._to_records(pull_result), inlet=inlet)


@PROPERTY
@given(pull_result=strategies.pull_results(), global_metadata=strategies.metadata_dicts())
def test_sync_pull_through_a_link_follows_the_rules(pull_result, global_metadata):
    """A def pull run by a Link delivers the oracle's records to the outlet."""
    inlet = ReturningInlet(pull_result, metadata=global_metadata)
    oracle.assert_pull_becomes(pull_result, pull_records(inlet), inlet=inlet)


@PROPERTY
@given(pull_result=strategies.pull_results(), global_metadata=strategies.metadata_dicts())
def test_async_pull_through_a_link_follows_the_rules(pull_result, global_metadata):
    """An async def pull run by a Link delivers the oracle's records, just like a def pull."""
    inlet = AsyncReturningInlet(pull_result, metadata=global_metadata)
    oracle.assert_pull_becomes(pull_result, pull_records(inlet), inlet=inlet)


@PROPERTY
@given(pull_result=strategies.pull_results())
def test_conversion_changes_neither_the_result_nor_its_records(pull_result):
    """Converting a pull result leaves the returned list and the Records in it untouched."""
    elements = list(pull_result) if isinstance(pull_result, list) else None
    passed = [(value, value.payload, value.metadata, copy.deepcopy(value.metadata))
              for value in (elements if elements is not None else [pull_result]) if isinstance(value, Record)]
    ReturningInlet(pull_result, metadata={"g": 1})._to_records(pull_result)
    if elements is not None:
        assert len(pull_result) == len(elements)
        assert all(a is b for a, b in zip(pull_result, elements))
    for record, payload, metadata, snapshot in passed:
        assert record.payload is payload and record.metadata is metadata and metadata == snapshot


@PROPERTY
@given(payload=strategies.payloads(), global_metadata=strategies.metadata_dicts(),
       local=st.none() | strategies.metadata_dicts())
def test_new_record_metadata_is_global_then_local_then_inlet(payload, global_metadata, local):
    """new_record's metadata is exactly {**global, **local, '__inlet__': str(inlet)}, in a new dict."""
    inlet = ReturningInlet(None, metadata=global_metadata)
    before = (dict(global_metadata), None if local is None else dict(local))
    record = inlet.new_record(payload, local)
    assert record.payload is payload
    assert record.metadata == {**global_metadata, **(local or {}), "__inlet__": str(inlet)}
    assert record.metadata is not global_metadata and record.metadata is not local
    assert (global_metadata, local) == before


@PROPERTY
@given(payload=strategies.payloads(), global_metadata=strategies.metadata_dicts(),
       local=strategies.metadata_dicts())
def test_global_metadata_may_be_any_mapping(payload, global_metadata, local):
    """A read-only mapping as global metadata gives the same records as a dict."""
    inlet = ReturningInlet(None, metadata=types.MappingProxyType(global_metadata))
    record = inlet.new_record(payload, metadata=local)
    assert record.metadata == {**global_metadata, **local, "__inlet__": str(inlet)}
    assert type(record.metadata) is dict


@PROPERTY
@given(pull_result=strategies.pull_results())
def test_overridden_new_record_is_called_once_per_plain_value(pull_result):
    """An inlet's own new_record wraps every plain value (and nothing else), in order."""
    inlet = CountingInlet(pull_result)
    records = inlet._to_records(pull_result)
    values = pull_result if isinstance(pull_result, list) else [pull_result]
    plain = [index for index, value in enumerate(values) if not isinstance(value, Record)]
    assert inlet.calls == len(plain)
    assert [records[index].metadata["counted"] for index in plain] == list(range(1, len(plain) + 1))
    assert all(record.payload is payload
               for record, payload in zip(records, oracle.expected_payloads(pull_result)))
