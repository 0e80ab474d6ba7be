"""The order of one transfer and how records are copied (docs/design.md: "One transfer")."""

import threading

import pytest

from databay import Link, Record


class _Log:
    """A thread-safe event list."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def add(self, event):
        with self.lock:
            self.events.append(event)


def _processor(log, name, append=None):
    def process(records):
        log.add(name)
        if append is not None:
            records = records + [Record(append)]
        return records
    process.__name__ = name
    return process


def test_pipeline_order(nodes):
    """pulls → link processors in order → groupers in order → per batch, per outlet: processors → push."""
    log = _Log()
    inlets = [nodes.FuncInlet(lambda u, n=n: log.add("pull%d" % n) or [n]) for n in range(3)]

    def split(batches):
        log.add("grouper1")
        return [[record] for batch in batches for record in batch]

    def pair(batches):
        log.add("grouper2")
        flat = [record for batch in batches for record in batch]
        return [flat[:2], flat[2:]]

    outlets = [
        nodes.RecordingOutlet(
            processors=[_processor(log, "o%d.p1" % k), _processor(log, "o%d.p2" % k)],
            on_push=lambda records, u, k=k: log.add("o%d.push%s" % (k, [r.payload for r in records])))
        for k in range(2)
    ]
    link = Link(inlets, outlets, 1,
                processors=[_processor(log, "p1"), _processor(log, "p2", append=3)],
                groupers=[split, pair])
    link.transfer()

    events = log.events
    assert sorted(events[:3]) == ["pull0", "pull1", "pull2"]
    assert events[3:7] == ["p1", "p2", "grouper1", "grouper2"]
    first_batch, second_batch = events[7:13], events[13:]
    for batch, payloads in ((first_batch, [0, 1]), (second_batch, [2, 3])):
        for k in range(2):
            own = [e for e in batch if e.startswith("o%d." % k)]
            assert own == ["o%d.p1" % k, "o%d.p2" % k, "o%d.push%s" % (k, payloads)]
    assert len(second_batch) == 6
    assert outlets[0].payloads == outlets[1].payloads == [[0, 1], [2, 3]]


def test_processors_see_all_records_and_can_drop_them(nodes):
    """A link processor receives every pulled record and its return value is what flows on."""
    seen = []

    def keep_even(records):
        seen.append([r.payload for r in records])
        return [r for r in records if r.payload % 2 == 0]

    outlet = nodes.RecordingOutlet()
    Link([nodes.ValueInlet([1, 2]), nodes.ValueInlet([3, 4])], outlet, 1, processors=keep_even).transfer()
    assert seen == [[1, 2, 3, 4]]
    assert outlet.payloads == [[2, 4]]


def test_single_processor_and_grouper_accept_callable(nodes):
    """processors= and groupers= accept one callable instead of a list."""
    outlet = nodes.RecordingOutlet()
    link = Link(nodes.ValueInlet([1, 2, 3]), outlet, 1,
                processors=lambda records: records[::-1],
                groupers=lambda batches: [[r] for r in batches[0]])
    link.transfer()
    assert outlet.payloads == [[3], [2], [1]]


def test_processor_transforms_records_in_place(nodes):
    """A processor may assign record.payload in place, as the 0.3.0 docs show."""
    def double(records):
        for record in records:
            record.payload *= 2
        return records

    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1, 2]), outlet, 1, processors=[double, double]).transfer()
    assert outlet.payloads == [[4, 8]]


def test_outlet_processors_only_affect_their_outlet(nodes):
    """One outlet's processors change what that outlet pushes, not what others get."""
    def drop_all(records):
        return []

    filtered, plain = nodes.RecordingOutlet(processors=drop_all), nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1, 2]), [filtered, plain], 1).transfer()
    assert filtered.payloads == [[]]
    assert plain.payloads == [[1, 2]]


@pytest.mark.parametrize("copy_records", [True, False])
def test_outlets_pushed_for_empty_batch(nodes, copy_records):
    """Outlets are pushed an empty list when nothing was pulled (as in 0.3.0)."""
    outlets = [nodes.RecordingOutlet(), nodes.AsyncRecordingOutlet()]
    Link(nodes.ValueInlet([]), outlets, 1, copy_records=copy_records).transfer()
    assert [o.pushes for o in outlets] == [[[]], [[]]]


def test_outlets_pushed_when_link_has_no_inlets(nodes):
    """A link without inlets still pushes an empty batch to its outlets."""
    outlet = nodes.RecordingOutlet()
    Link([], outlet, 1).transfer()
    assert outlet.pushes == [[]]


def test_grouper_returning_no_batches_pushes_nothing(nodes):
    """A grouper returning [] means no batch, so no push."""
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1]), outlet, 1, groupers=lambda batches: []).transfer()
    assert outlet.pushes == []


def test_first_grouper_receives_one_batch_of_all_records(nodes):
    """The first grouper gets [records]; each next grouper gets the previous one's batches."""
    received = []

    def record_and_split(batches):
        received.append([[r.payload for r in b] for b in batches])
        return [[r] for b in batches for r in b]

    Link(nodes.ValueInlet([1, 2]), nodes.RecordingOutlet(), 1,
         groupers=[record_and_split, record_and_split]).transfer()
    assert received == [[[1, 2]], [[1], [2]]]


def test_link_without_outlets_still_pulls(nodes):
    """A link with no outlets pulls and processes without error."""
    inlet = nodes.ValueInlet(1)
    seen = []
    Link(inlet, [], 1, processors=lambda r: seen.append(len(r)) or r).transfer()
    assert len(inlet.updates) == 1 and seen == [1]


# -- copying ---------------------------------------------------------------


def _walk(value, found):
    """Collect ids of every mutable container reachable from ``value``."""
    if isinstance(value, Record):
        found.add(id(value))
        _walk(value.payload, found)
        _walk(value.metadata, found)
    elif isinstance(value, dict):
        found.add(id(value))
        for item in value.values():
            _walk(item, found)
    elif isinstance(value, (list, set)):
        found.add(id(value))
        for item in value:
            _walk(item, found)
    elif isinstance(value, tuple):
        for item in value:
            _walk(item, found)
    elif hasattr(value, "__dict__"):
        found.add(id(value))
        _walk(vars(value), found)


class _Box:
    def __init__(self, content):
        self.content = content


def _nested_payload():
    return {"level1": {"level2": [{"level3": [1, 2]}, _Box({"deep": [3]})], "tuple": ([4],)}}


def test_copy_records_gives_each_outlet_an_independent_deep_copy(nodes):
    """With copy_records=True no two outlets share any record, payload or metadata object."""
    payload = _nested_payload()
    inlet = nodes.ValueInlet([payload, payload], metadata={"m": {"nested": [1]}})
    outlets = [nodes.RecordingOutlet(), nodes.AsyncRecordingOutlet(), nodes.RecordingOutlet()]
    Link(inlet, outlets, 1, copy_records=True).transfer()
    reachable = []
    for outlet in outlets:
        found = set()
        _walk(outlet.pushes[0], found)
        reachable.append(found)
    for i in range(3):
        for j in range(i + 1, 3):
            assert not reachable[i] & reachable[j], (i, j)
    original = set()
    _walk(payload, original)
    _walk(inlet.metadata, original)
    for found in reachable:
        assert not found & original


def test_copy_keeps_shared_payload_shared_within_one_outlet(nodes):
    """The same payload object twice in a batch is one object in each outlet's copy."""
    payload = {"a": [1]}
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    Link(nodes.ValueInlet([payload, payload]), outlets, 1).transfer()
    for outlet in outlets:
        first, second = outlet.pushes[0]
        assert first.payload is second.payload
    assert outlets[0].pushes[0][0].payload is not outlets[1].pushes[0][0].payload


def _mutate_deeply(records, update):
    for record in records:
        record.payload["level1"]["level2"][0]["level3"].append("mutated")
        record.payload["level1"]["level2"][1].content["deep"].append("mutated")
        record.payload["level1"]["tuple"][0].append("mutated")
        record.payload["new"] = "mutated"
        record.metadata["m"]["nested"].append("mutated")
        record.metadata["extra"] = "mutated"


def _untouched(records):
    for record in records:
        payload = record.payload
        assert payload["level1"]["level2"][0]["level3"] == [1, 2]
        assert payload["level1"]["level2"][1].content == {"deep": [3]}
        assert payload["level1"]["tuple"][0] == [4]
        assert "new" not in payload
        assert record.metadata["m"] == {"nested": [1]}
        assert "extra" not in record.metadata


@pytest.mark.parametrize("mutator_position", [0, 1], ids=["first", "last"])
def test_mutations_by_one_outlet_invisible_to_others(nodes, mutator_position):
    """An outlet mutating its records at any depth never affects another outlet, in any position."""
    payload = _nested_payload()
    inlet = nodes.ValueInlet([payload, payload], metadata={"m": {"nested": [1]}})
    mutator = nodes.RecordingOutlet(on_push=_mutate_deeply)
    observer = nodes.RecordingOutlet()
    outlets = [mutator, observer] if mutator_position == 0 else [observer, mutator]
    link = Link(inlet, outlets, 1, copy_records=True)
    for _ in range(3):  # the inlet hands out the very same payload object every time
        link.transfer()
    for pushed in observer.pushes:
        _untouched(pushed)
    assert payload == _nested_payload_like(payload)
    assert inlet.metadata == {"m": {"nested": [1]}}


def _nested_payload_like(payload):
    """The pristine payload, comparing the _Box by content."""
    fresh = _nested_payload()
    assert payload["level1"]["level2"][1].content == fresh["level1"]["level2"][1].content
    fresh["level1"]["level2"][1] = payload["level1"]["level2"][1]
    return fresh


def test_single_outlet_mutations_do_not_reach_the_inlet(nodes):
    """With one outlet and copy_records=True, mutating pushed records leaves the pulled objects alone."""
    payload = {"items": [1]}
    outlet = nodes.RecordingOutlet(on_push=lambda records, u: records[0].payload["items"].append(2))
    link = Link(nodes.ValueInlet([payload]), outlet, 1)
    link.transfer()
    link.transfer()
    assert payload == {"items": [1]}
    assert outlet.payloads == [[{"items": [1, 2]}], [{"items": [1, 2]}]]


def test_mutations_invisible_across_overlapping_batches(nodes):
    """A record in two batches reaches each outlet unchanged by the other outlets' mutations."""
    def twice(batches):
        return [batches[0], batches[0]]

    mutator = nodes.RecordingOutlet(on_push=lambda records, u: [r.payload.append("x") for r in records])
    observer = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([[1]]), [observer, mutator], 1, groupers=twice).transfer()
    assert observer.payloads == [[[1]], [[1]]]


def test_copy_happens_before_outlet_processors(nodes):
    """Outlet processors already work on the outlet's own copy (copy → processors → push)."""
    def mutate(records):
        for record in records:
            record.payload.append("from processor")
        return records

    mutating = nodes.RecordingOutlet(processors=mutate)
    observer = nodes.RecordingOutlet()
    payload = [0]
    Link(nodes.ValueInlet([payload]), [mutating, observer], 1).transfer()
    assert mutating.payloads == [[[0, "from processor"]]]
    assert observer.payloads == [[[0]]]
    assert payload == [0]


def test_no_copy_gives_every_outlet_the_same_list(nodes):
    """With copy_records=False every outlet receives the very same list of the same records."""
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet(), nodes.AsyncRecordingOutlet()]
    payload = {"a": 1}
    Link(nodes.ValueInlet([payload]), outlets, 1, copy_records=False).transfer()
    first = outlets[0].pushes[0]
    assert all(o.pushes[0] is first for o in outlets)
    assert first[0].payload is payload


def test_copy_records_property(nodes):
    """Link.copy_records reflects the constructor argument (default True)."""
    assert Link([], [], 1).copy_records is True
    assert Link([], [], 1, copy_records=False).copy_records is False


def test_copy_honours_custom_deepcopy(nodes):
    """Payloads with a custom __deepcopy__ are copied through it."""
    class Counted:
        copies = 0

        def __deepcopy__(self, memo):
            Counted.copies += 1
            return Counted()

    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    original = Counted()
    Link(nodes.ValueInlet([original]), outlets, 1).transfer()
    received = [o.pushes[0][0].payload for o in outlets]
    assert all(isinstance(p, Counted) for p in received)
    assert received[0] is not received[1]
    assert Counted.copies >= 1


def test_uncopyable_batch_fails_only_that_outlet_and_names_the_fix(nodes, caplog):
    """copy_records=True with an uncopyable payload: a clear TypeError, logged per outlet when ignored."""
    import threading

    import pytest

    inlet = nodes.ValueInlet([threading.Lock()])
    outlet = nodes.RecordingOutlet()
    with pytest.raises(TypeError, match="copy_records=False"):
        Link(inlet, outlet, 1).transfer()
    with caplog.at_level("ERROR", logger="databay.Link"):
        Link(nodes.ValueInlet([threading.Lock()]), outlet, 1, ignore_exceptions=True).transfer()
    assert "copy_records=False" in caplog.text
    shared = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([threading.Lock()]), shared, 1, copy_records=False).transfer()
    assert len(shared.payloads) == 1
