"""The shortcuts of a plain transfer give exactly what the general pipeline gives."""

import pytest

from databay import Inlet, Link, Outlet, Record


class Capture(Outlet):
    def __init__(self):
        super().__init__()
        self.batches = []

    def push(self, records, update):
        self.batches.append(records)


class One(Inlet):
    def __init__(self, value=1, metadata=None):
        super().__init__(metadata=metadata)
        self.value = value

    def pull(self, update):
        return self.value


def test_inlet_name_follows_metadata_changed_after_construction():
    """'__inlet__' is str(inlet) at each pull, also when the metadata given was empty and filled later."""
    metadata = {}
    inlet, outlet = One(metadata=metadata), Capture()
    link = Link(inlet, outlet, interval=1)
    link.transfer()
    metadata["source"] = "a"
    link.transfer()
    assert [batch[0].metadata["__inlet__"] for batch in outlet.batches] == \
        ["One()", "One(metadata={'source': 'a'})"]


@pytest.mark.parametrize("method", ["__repr__", "__str__"])
def test_inlet_name_honours_an_overridden_repr_or_str(method):
    """A subclass's own __repr__ / __str__ names its records, as str(inlet) does."""
    names = iter(["first", "second"])
    kind = type("Named", (One,), {method: lambda self: next(names)})
    outlet = Capture()
    link = Link(kind(), outlet, interval=1)
    link.transfer()
    link.transfer()
    assert [batch[0].metadata["__inlet__"] for batch in outlet.batches] == ["first", "second"]


def test_one_pulled_value_and_record_copies_as_before():
    """One value gives one record with its own metadata dict; a copied record keeps extra attributes,
    and a pulled Record passes as it is (before the outlet's copy)."""
    pulled = Record({"a": [1]}, {"k": "v"})
    pulled.source = {"s": 1}
    inlet, outlet = One(pulled), Capture()
    Link(inlet, outlet, interval=1, copy_records=True).transfer()
    (copy,) = outlet.batches[0]
    assert copy is not pulled and copy.payload == {"a": [1]} and copy.payload is not pulled.payload
    assert copy.metadata == {"k": "v"} and copy.source == {"s": 1} and copy.source is not pulled.source

    inlet.value = 5
    first, second = Capture(), Capture()
    Link(inlet, [first, second], interval=1, copy_records=True).transfer()
    assert first.batches[0][0].metadata is not second.batches[0][0].metadata
    assert first.batches[0][0].payload == 5 and first.batches[0][0].metadata == {"__inlet__": "One()"}


def test_a_failing_single_pull_and_push_are_reported_as_before():
    """The one-call group run inline still turns an exception into the node's failure."""
    class Broken(Inlet):
        def pull(self, update):
            raise ValueError("pull broke")

    class Refusing(Outlet):
        def push(self, records, update):
            raise KeyError("push broke")

    with pytest.raises(ValueError, match="pull broke"):
        Link(Broken(), Capture(), interval=1).transfer()
    with pytest.raises(KeyError, match="push broke"):
        Link(One(), Refusing(), interval=1).transfer()
    link = Link(One(), Refusing(), interval=1, ignore_exceptions=True)
    link.transfer()
    assert link.stats()["records"]["refused"] == 1


def test_a_sync_pull_returning_an_awaitable_is_awaited():
    """A def pull that returns a coroutine gives the coroutine's value, also on the inline path."""
    async def produce():
        return 7

    class Deferred(Inlet):
        def pull(self, update):
            return produce()

    outlet = Capture()
    Link(Deferred(), outlet, interval=1).transfer()
    assert outlet.batches[0][0].payload == 7
