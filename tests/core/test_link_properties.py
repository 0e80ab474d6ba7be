"""Property tests of Link transfers: record order, metadata, updates and copies, using databay_testing."""

from hypothesis import given, settings
from hypothesis import strategies as st

from databay import Inlet, Link, Outlet
from databay_testing import oracle, strategies

PROPERTY = settings(max_examples=50, deadline=None)


class ReturningInlet(Inlet):
    """Returns whatever it was given and remembers the updates it saw."""

    def __init__(self, result, metadata=None):
        super().__init__(metadata=metadata)
        self.result = result
        self.updates = []

    def pull(self, update):
        self.updates.append(update)
        return self.result


class AsyncReturningInlet(ReturningInlet):
    """The same, from an async def pull."""

    async def pull(self, update):
        self.updates.append(update)
        return self.result


class CollectingOutlet(Outlet):
    """Keeps every batch and update."""

    def __init__(self):
        super().__init__()
        self.batches = []
        self.updates = []

    def push(self, records, update):
        self.batches.append(records)
        self.updates.append(update)


inlet_specs = st.lists(st.tuples(strategies.pull_results(), strategies.metadata_dicts(), st.booleans()),
                       min_size=1, max_size=4)


def make_inlets(specs):
    return [(AsyncReturningInlet if is_async else ReturningInlet)(result, metadata=metadata)
            for result, metadata, is_async in specs]


@PROPERTY
@given(specs=inlet_specs)
def test_outlet_receives_each_inlets_records_in_inlet_order(specs):
    """One transfer delivers every inlet's oracle records, inlet after inlet, sync and async mixed."""
    inlets = make_inlets(specs)
    outlet = CollectingOutlet()
    Link(inlets, outlet, interval=1, copy_records=False).transfer()
    assert len(outlet.batches) == 1
    records = outlet.batches[0]
    for inlet, (result, _, _) in zip(inlets, specs):
        count = len(oracle.expected_payloads(result))
        oracle.assert_pull_becomes(result, records[:count], inlet=inlet)
        records = records[count:]
    assert records == []


@PROPERTY
@given(update=strategies.updates(), transfers=st.integers(min_value=1, max_value=4))
def test_updates_number_transfers_from_zero(update, transfers):
    """Each transfer's Update carries the link's tags and numbers 0, 1, 2 ... for pull and push alike."""
    inlet, outlet = ReturningInlet(1), CollectingOutlet()
    link = Link(inlet, outlet, interval=1, tags=update.tags)
    for _ in range(transfers):
        link.transfer()
    expected = [".".join([*update.tags, str(number)]) for number in range(transfers)]
    assert [str(u) for u in inlet.updates] == expected == [str(u) for u in outlet.updates]
    assert [u.transfer_number for u in outlet.updates] == list(range(transfers))


@PROPERTY
@given(specs=inlet_specs, outlet_count=st.integers(min_value=2, max_value=3))
def test_copied_records_are_equal_but_never_shared_between_outlets(specs, outlet_count):
    """With copy_records=True, outlets get equal records but no Record or metadata dict in common."""
    outlets = [CollectingOutlet() for _ in range(outlet_count)]
    Link(make_inlets(specs), outlets, interval=1).transfer()
    batches = [outlet.batches[0] for outlet in outlets]
    first = batches[0]
    for other in batches[1:]:
        assert len(other) == len(first)
        for a, b in zip(first, other):
            assert a is not b and a.metadata is not b.metadata
            assert [a.payload] == [b.payload] and a.metadata == b.metadata
    seen_records = [id(record) for batch in batches for record in batch]
    assert len(seen_records) == len(set(seen_records))


@PROPERTY
@given(specs=inlet_specs, outlet_count=st.integers(min_value=1, max_value=3))
def test_without_copies_every_outlet_gets_the_same_records(specs, outlet_count):
    """With copy_records=False, all outlets receive the very same Record objects."""
    outlets = [CollectingOutlet() for _ in range(outlet_count)]
    Link(make_inlets(specs), outlets, interval=1, copy_records=False).transfer()
    first = outlets[0].batches[0]
    for outlet in outlets[1:]:
        assert all(a is b for a, b in zip(first, outlet.batches[0]))


@PROPERTY
@given(count=st.integers(min_value=1, max_value=3), use_async=st.booleans())
def test_outlets_are_pushed_even_when_nothing_was_pulled(count, use_async):
    """Inlets returning [] still lead to one push of an empty list per outlet."""
    inlets = make_inlets([([], {}, use_async)] * count)
    outlet = CollectingOutlet()
    Link(inlets, outlet, interval=1).transfer()
    assert outlet.batches == [[]]
