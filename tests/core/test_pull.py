"""What a pull returns and the records it becomes (docs/design.md: "What a pull returns")."""

import pytest

from databay import Inlet, Link, Record


def _transfer_payloads(nodes, inlet):
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1).transfer()
    assert len(outlet.pushes) == 1
    return outlet.pushes[0]


def _generator():
    yield 1
    yield 2


class _ListSubclass(list):
    pass


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_list_gives_one_record_per_element_in_order(nodes, asynchronous):
    """A list becomes one record per element, in order, for def and async def pulls."""
    cls = nodes.AsyncFuncInlet if asynchronous else nodes.FuncInlet
    records = _transfer_payloads(nodes, cls(lambda update: [3, "a", None, 1.5]))
    assert [record.payload for record in records] == [3, "a", None, 1.5]


def test_list_subclass_counts_as_list(nodes):
    """A list subclass is split into one record per element like a list."""
    records = _transfer_payloads(nodes, nodes.ValueInlet(_ListSubclass([1, 2])))
    assert [record.payload for record in records] == [1, 2]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("value", [
    5, "text", b"bytes", None, (1, 2), {1, 2}, {"a": 1}, frozenset(), (), {}, 0, "",
], ids=repr)
def test_non_list_gives_exactly_one_record(nodes, value, asynchronous):
    """Anything that is not a list (None, tuple, set, dict, empty ones too) is one record."""
    cls = nodes.AsyncFuncInlet if asynchronous else nodes.FuncInlet
    records = _transfer_payloads(nodes, cls(lambda update: value))
    assert len(records) == 1
    assert records[0].payload == value


def test_generator_is_one_record_not_iterated(nodes):
    """A generator is a single payload, not consumed element by element."""
    generator = _generator()
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet(generator), outlet, 1, copy_records=False).transfer()
    (record,) = outlet.pushes[0]
    assert record.payload is generator
    assert list(generator) == [1, 2]  # not consumed by databay


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_empty_list_gives_no_record(nodes, asynchronous):
    """An empty list produces no records (the outlet still gets an empty batch)."""
    cls = nodes.AsyncFuncInlet if asynchronous else nodes.FuncInlet
    assert _transfer_payloads(nodes, cls(lambda update: [])) == []


def test_nested_list_gives_one_record_with_list_payload(nodes):
    """[[a, b]] is one record whose payload is [a, b]."""
    records = _transfer_payloads(nodes, nodes.ValueInlet([["a", "b"]]))
    assert len(records) == 1
    assert records[0].payload == ["a", "b"]


def test_record_passes_through_unchanged(nodes):
    """A returned Record is passed on as is: same object, metadata untouched."""
    record = Record("p", {"own": 1})
    inlet = nodes.ValueInlet(record, metadata={"global": 2})
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1, copy_records=False).transfer()
    assert outlet.pushes[0] == [record]
    assert outlet.pushes[0][0] is record
    assert record.metadata == {"own": 1}


def test_list_of_records_passes_through(nodes):
    """A list of Records passes every Record on as is, in order."""
    records = [Record(1), Record(2)]
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet(list(records)), outlet, 1, copy_records=False).transfer()
    assert all(a is b for a, b in zip(outlet.pushes[0], records))
    assert len(outlet.pushes[0]) == 2


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_mixed_list_wraps_only_plain_values(nodes, asynchronous):
    """[Record(...), 5] gives two records; the second is wrapped with the inlet's metadata."""
    record = Record("given", {"mine": True})
    cls = nodes.AsyncFuncInlet if asynchronous else nodes.FuncInlet
    inlet = cls(lambda update: [record, 5], metadata={"source": "x"})
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1, copy_records=False).transfer()
    first, second = outlet.pushes[0]
    assert first is record
    assert record.metadata == {"mine": True}
    assert isinstance(second, Record)
    assert second.payload == 5
    assert second.metadata == {"source": "x", "__inlet__": str(inlet)}


def test_mixed_list_plain_value_first(nodes):
    """[5, Record(...)] also wraps only the plain value, keeping order."""
    record = Record("given")
    inlet = nodes.ValueInlet([5, record])
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1, copy_records=False).transfer()
    first, second = outlet.pushes[0]
    assert first.payload == 5 and first.metadata == {"__inlet__": str(inlet)}
    assert second is record


def test_records_keep_inlet_order_across_inlets(nodes):
    """Records from several inlets arrive in inlet order, each inlet's in its own order."""
    inlets = [nodes.ValueInlet([i, i + 0.5]) for i in range(5)]
    outlet = nodes.RecordingOutlet()
    Link(inlets, outlet, 1).transfer()
    assert outlet.payloads == [[0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]]


def test_records_keep_inlet_order_mixed_sync_async(nodes):
    """Sync and async inlets in one link still deliver in inlet order."""
    inlets = [nodes.FuncInlet(lambda u: ["s0"]), nodes.AsyncFuncInlet(lambda u: ["a1"]),
              nodes.FuncInlet(lambda u: "s2"), nodes.AsyncFuncInlet(lambda u: ["a3", "a3b"])]
    outlet = nodes.RecordingOutlet()
    Link(inlets, outlet, 1).transfer()
    assert outlet.payloads == [["s0", "a1", "s2", "a3", "a3b"]]


class _CustomInlet(Inlet):
    """Overrides new_record to tag every record it creates."""

    def __init__(self, value):
        super().__init__(metadata={"g": 1})
        self.value = value
        self.calls = []

    def pull(self, update):
        return self.value

    def new_record(self, payload, metadata=None):
        self.calls.append(payload)
        return Record(("custom", payload), {"made_by": "override"})


@pytest.mark.parametrize("value", [7, [7, 8], [Record("r"), 9]], ids=["single", "list", "mixed"])
def test_new_record_override_is_honoured(nodes, value):
    """A subclass overriding new_record gets every plain value routed through it."""
    inlet = _CustomInlet(value)
    outlet = nodes.RecordingOutlet()
    Link(inlet, outlet, 1, copy_records=False).transfer()
    plain = [v for v in (value if isinstance(value, list) else [value]) if not isinstance(v, Record)]
    assert inlet.calls == plain
    wrapped = [r for r in outlet.pushes[0] if r.metadata == {"made_by": "override"}]
    assert [r.payload for r in wrapped] == [("custom", v) for v in plain]


def test_pull_receives_the_update(nodes):
    """pull is called with the transfer's Update."""
    inlet = nodes.ValueInlet(1)
    link = Link(inlet, nodes.RecordingOutlet(), 1, tags="t")
    link.transfer()
    link.transfer()
    assert [str(update) for update in inlet.updates] == ["t.0", "t.1"]


def test_sync_pull_returning_coroutine_is_awaited(nodes):
    """A plain def pull that returns a coroutine has its result used, not the coroutine."""
    async def produce():
        return [1, 2]

    outlet = nodes.RecordingOutlet()
    Link(nodes.FuncInlet(lambda u: produce()), outlet, 1).transfer()
    assert outlet.payloads == [[1, 2]]


def test_partialmethod_async_pull_detected(nodes):
    """An inlet whose pull is a functools.partialmethod of an async function is awaited."""
    import functools

    class PartialInlet(Inlet):
        async def _produce(self, value, update):
            return value

        pull = functools.partialmethod(_produce, ["x", "y"])

    outlet = nodes.RecordingOutlet()
    Link(PartialInlet(), outlet, 1).transfer()
    assert outlet.payloads == [["x", "y"]]


def test_async_callable_object_pull_detected(nodes):
    """An inlet whose pull is an object with an async __call__ is awaited."""

    class Producer:
        async def __call__(self, update):
            return ["z"]

    class CallableInlet(Inlet):
        pull = None  # replaced per instance below

        def __init__(self):
            self.pull = Producer()
            super().__init__()

    outlet = nodes.RecordingOutlet()
    Link(CallableInlet(), outlet, 1).transfer()
    assert outlet.payloads == [["z"]]
