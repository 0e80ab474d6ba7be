"""A plain link's transfer (one sync inlet, one sync outlet, nothing else) skips the generator
pipeline; it must give exactly what the general pipeline gives for the same nodes.

Each scenario runs twice: on a plain link, and on the same nodes with a link processor that
returns its records unchanged (which sends the transfer through the general pipeline). What the
outlet received, what was raised, the link's counters and the logs must be the same.
"""

import logging

import pytest

import databay.link
from databay import Inlet, Link, Outlet, Record, RejectedRecords


def keep(records):
    return records


class Capture(Outlet):
    def __init__(self, fail=None, processors=None):
        super().__init__(processors=processors)
        self.fail = fail
        self.batches = []

    def push(self, records, update):
        self.batches.append((str(update), records))
        if self.fail is not None:
            raise self.fail(records)


class Pulling(Inlet):
    """Returns ``make()`` from every pull (a fresh value each time)."""

    def __init__(self, make, metadata=None):
        super().__init__(metadata=metadata)
        self.make = make

    def pull(self, update):
        return self.make()


class Named(Pulling):
    def __repr__(self):
        return "Named!"


class Emptying(Capture):
    def push(self, records, update):
        self.batches.append((str(update), list(records)))
        records.clear()
        if self.fail is not None:
            raise self.fail(records)


def _raise(error):
    raise error


async def _seven():
    return 7


def _rejecting(records):
    return RejectedRecords(records, "no thanks")


SHARED = {"shared": [1, 2]}


SCENARIOS = {
    "an int": (lambda: Pulling(lambda: 1), lambda: Capture()),
    "a str, no copy": (lambda: Pulling(lambda: "s"), lambda: Capture()),
    "None": (lambda: Pulling(lambda: None), lambda: Capture()),
    "a list": (lambda: Pulling(lambda: [1, {"a": [2]}, Record(3, {"m": 1})]), lambda: Capture()),
    "an empty list": (lambda: Pulling(lambda: []), lambda: Capture()),
    "a Record": (lambda: Pulling(lambda: Record({"p": [1]}, {"k": "v"})), lambda: Capture()),
    "a dict": (lambda: Pulling(lambda: {"a": [1]}), lambda: Capture()),
    "a shared payload": (lambda: Pulling(lambda: SHARED), lambda: Capture()),
    "global metadata": (lambda: Pulling(lambda: 1, metadata={"g": [1], "__inlet__": "x"}),
                        lambda: Capture()),
    "an own repr": (lambda: Named(lambda: 1), lambda: Capture()),
    "an outlet processor": (lambda: Pulling(lambda: 1),
                            lambda: Capture(processors=[lambda rs: [Record(r.payload + 1) for r in rs]])),
    "a coroutine from def pull": (lambda: Pulling(_seven), lambda: Capture()),
    "a failing pull": (lambda: Pulling(lambda: _raise(ValueError("pull broke"))), lambda: Capture()),
    "a failing push": (lambda: Pulling(lambda: 1), lambda: Capture(fail=lambda rs: KeyError("push broke"))),
    "both failing": (lambda: Pulling(lambda: _raise(ValueError("pull broke"))),
                     lambda: Capture(fail=lambda rs: KeyError("push broke"))),
    "a rejected batch": (lambda: Pulling(lambda: [1, 2]), lambda: Capture(fail=_rejecting)),
    "an outlet emptying its batch": (lambda: Pulling(lambda: [1, 2]), lambda: Emptying()),
    "an outlet emptying its one record": (lambda: Pulling(lambda: 1), lambda: Emptying()),
    "an outlet emptying its batch, then raising": (
        lambda: Pulling(lambda: [1, 2]), lambda: Emptying(fail=lambda rs: KeyError("push broke"))),
    "an outlet emptying its one record, then raising": (
        lambda: Pulling(lambda: 1), lambda: Emptying(fail=lambda rs: KeyError("push broke"))),
    "an uncopyable payload": (lambda: Pulling(lambda: [1, _Uncopyable()]), lambda: Capture()),
}


class _Uncopyable:
    def __deepcopy__(self, memo):
        raise TypeError("cannot copy me")


def _run(scenario, general, copy_records, ignore_exceptions, caplog):
    make_inlet, make_outlet = SCENARIOS[scenario]
    inlet, outlet = make_inlet(), make_outlet()
    link = Link(inlet, outlet, interval=1, tags="t", copy_records=copy_records,
                ignore_exceptions=ignore_exceptions, processors=[keep] if general else None)
    raised = []
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="databay"):
        for _ in range(2):
            try:
                link.transfer()
            except Exception as error:  # noqa: BLE001 - compared below
                raised.append((type(error).__name__, str(error)))
    logs = [(r.levelname, r.getMessage().replace(repr(link), "LINK")) for r in caplog.records]
    received = [(update, [(type(r).__name__, r.payload if not isinstance(r.payload, _Uncopyable) else "U",
                           r.metadata, r.payload is SHARED) for r in batch])
                for update, batch in outlet.batches]
    stats = link.stats()
    error = stats["last_error"]
    counters = (stats["health"], stats["transfers"], stats["records"], stats["nodes"],
                None if error is None else {k: v for k, v in error.items() if k != "at"})
    return received, raised, counters, link.delivery_counts, logs


@pytest.mark.parametrize("ignore_exceptions", [False, True])
@pytest.mark.parametrize("copy_records", [True, False])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_plain_transfer_gives_what_the_general_pipeline_gives(scenario, copy_records,
                                                               ignore_exceptions, caplog):
    plain = _run(scenario, False, copy_records, ignore_exceptions, caplog)
    general = _run(scenario, True, copy_records, ignore_exceptions, caplog)
    assert plain[0] == general[0], "what the outlet received"
    assert plain[1] == general[1], "what transfer() raised"
    assert plain[2] == general[2], "the link's counters"
    assert plain[3] == general[3], "delivery_counts"
    assert plain[4] == general[4], "the logs"


def test_the_outlet_gets_its_own_records_and_metadata_on_the_plain_path():
    """copy_records=True: each transfer's outlet records are new objects, with new metadata dicts,
    and a pulled Record or a mutable payload reaches the outlet only as a copy."""
    pulled = Record({"a": [1]}, {"k": [2]})
    values = iter([1, 1, pulled])
    outlet = Capture()
    link = Link(Pulling(lambda: next(values)), outlet, interval=1, copy_records=True)
    for _ in range(3):
        link.transfer()
    (_, [first]), (_, [second]), (_, [third]) = outlet.batches
    assert first is not second and first.metadata is not second.metadata
    assert first.metadata == second.metadata == {"__inlet__": "Pulling()"}
    assert third is not pulled and third.payload == pulled.payload
    assert third.payload is not pulled.payload and third.metadata["k"] is not pulled.metadata["k"]


def test_plain_links_take_the_plain_path_and_others_the_general_one(monkeypatch):
    """Which links skip the generator pipeline: only one sync inlet and one sync outlet, without
    processors, groupers, delivery options, timeouts or acknowledgements (checked per transfer)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the general pipeline ran")

    monkeypatch.setattr(databay.link, "transfer_steps", refuse)

    class Acking(Pulling):
        def on_delivered(self, update):
            pass

    class AsyncOut(Outlet):
        async def push(self, records, update):
            pass

    plain = Link(Pulling(lambda: 1), Capture(), interval=1)
    plain.transfer()
    not_plain = [
        Link(Pulling(lambda: 1), Capture(), interval=1, processors=[keep]),
        Link(Pulling(lambda: 1), Capture(), interval=1, groupers=[lambda batches: batches]),
        Link(Pulling(lambda: 1), Capture(), interval=1, timeout=5),
        Link(Pulling(lambda: 1), [Capture(), Capture()], interval=1),
        Link([Pulling(lambda: 1), Pulling(lambda: 2)], Capture(), interval=1),
        Link(Acking(lambda: 1), Capture(), interval=1),
        Link(Pulling(lambda: 1), AsyncOut(), interval=1),
        Link(Pulling(lambda: 1), Capture(), interval=1, dead_letter=Capture()),
    ]
    for link in not_plain:
        with pytest.raises(AssertionError, match="the general pipeline ran"):
            link.transfer()
    plain.processors.append(keep)  # a processor added later is honoured at the next transfer
    with pytest.raises(AssertionError, match="the general pipeline ran"):
        plain.transfer()


class _Key:
    """A hashable, mutable dict key: deep-copied like any other object."""

    def __init__(self, name):
        self.name = name

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, _Key) and other.name == self.name


def test_copied_dicts_keep_order_sharing_and_copy_what_is_mutable():
    """An outlet's copy of a dict payload: same keys in the same order, nested objects copied,
    objects shared inside the batch still shared, and keys that are objects copied too."""
    shared = [1, 2]
    key = _Key("k")
    inner = {"x": [3]}
    payloads = [{"b": 1, "a": shared, "c": {"d": shared}, "i": inner}, {key: "v", "z": shared, 1: inner}]
    outlet = Capture()
    Link(Pulling(lambda: payloads), outlet, interval=1, copy_records=True).transfer()
    first, second = (record.payload for record in outlet.batches[0][1])
    assert first == payloads[0] and list(first) == ["b", "a", "c", "i"]
    assert first["a"] is not shared and first["a"] is first["c"]["d"] is second["z"]
    assert first["i"] is not inner and first["i"] is second[1] and first["i"]["x"] is not inner["x"]
    assert second == payloads[1] and [getattr(k, "name", k) for k in second] == ["k", "z", 1]
    assert next(iter(second)) is not key


@pytest.mark.parametrize("general", [False, True], ids=["plain", "general"])
@pytest.mark.parametrize("copy_records", [True, False])
def test_a_batch_emptied_and_then_refused_counts_as_refused_not_delivered(general, copy_records):
    """The batch's size is taken before the push, whatever the outlet does to the list it got."""
    outlet = Emptying(fail=lambda rs: KeyError("push broke"))
    link = Link(Pulling(lambda: [1, 2]), outlet, interval=1, ignore_exceptions=True,
                copy_records=copy_records, processors=[keep] if general else None)
    link.transfer()
    stats = link.stats()
    assert (stats["records"]["refused"], stats["records"]["lost"]) == (2, 2)
    assert [node["records_delivered"] for node in stats["nodes"] if node["role"] == "outlet"] == [0]


@pytest.mark.parametrize("general", [False, True], ids=["plain", "general"])
def test_records_delivered_never_goes_down_while_a_failed_push_is_reported(general, caplog):
    """What the failure's log line sees (a metrics scrape at that moment) is already final."""
    outlet = Capture(fail=lambda rs: KeyError("push broke"))
    link = Link(Pulling(lambda: [1, 2]), outlet, interval=1, ignore_exceptions=True,
                processors=[keep] if general else None)

    def delivered():
        return [node["records_delivered"] for node in link.stats()["nodes"] if node["role"] == "outlet"]

    seen = []

    class Scrape(logging.Handler):
        def emit(self, record):
            seen.append(delivered())

    handler = Scrape()
    logging.getLogger("databay").addHandler(handler)
    try:
        link.transfer()
    finally:
        logging.getLogger("databay").removeHandler(handler)
    assert seen and all(value == [0] for value in seen), seen
    assert delivered() == [0]
