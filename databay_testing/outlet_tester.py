"""OutletTester: a TestCase that checks an Outlet subclass honours databay's contract."""

from __future__ import annotations

import copy
import warnings

from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning
from hypothesis.strategies import SearchStrategy

from databay import Link, Outlet, Record, Update, errors

from . import strategies
from ._node_tester import NodeTester
from ._running import FeedInlet, Pusher
from .inlet_tester import check_lifecycle
from .oracle import _same, _short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Union

__all__ = ["OutletTester"]


class OutletTester(NodeTester):
    """Checks an Outlet subclass against databay's outlet contract.

    Subclass it (``class TestMyOutlet(databay_testing.OutletTester)``) and
    implement :meth:`get_outlet`. Each test runs once per outlet, as a subTest.
    What is checked:

    - ``__init__`` calls ``super().__init__()``;
    - ``push`` accepts an empty list, and generated lists of records with
      unusual payloads (:meth:`record_lists`; override it to narrow them to
      what your outlet accepts), with generated updates;
    - ``push`` leaves a fixed batch of records with dict payloads unchanged;
    - ``push`` changes neither the list nor the records it is given (not the
      payloads, not the metadata, not by replacing them);
    - ``on_start``/``on_shutdown`` run once each and ``active`` follows them;
    - the outlet works behind a :class:`~databay.Link` (its processors
      included) across many transfers of generated batches and an empty one,
      whether ``push`` is ``def`` or ``async def``.

    Opt-in, once you implement :meth:`read_back` (otherwise they skip):

    - a push of adversarial records (:meth:`adversarial_record_lists`: lone
      surrogates, NUL bytes, huge strings and keys, deep nesting, NaN and
      infinities, integers beyond 64 bits, SQL- and formula-looking keys,
      non-str keys) writes everything or nothing, and says which: a push that
      raises left what the outlet stores unchanged (or wrote exactly the
      records that ``RejectedRecords`` did not name), a push that returns
      wrote every record;
    - after any adversarial pushes, ordinary records
      (:meth:`ordinary_record_lists`) are still accepted and written in full.

    Direct pushes happen between ``try_start()`` and ``try_shutdown()``; a
    coroutine push is awaited on one event loop kept for the whole test.
    """

    __test__ = False
    _kit_base = True
    _factory = "get_outlet"
    _kind = "outlet"

    def get_outlet(self) -> Union[Outlet, List[Outlet]]:
        """Return a new outlet, or a list of new outlets, to test; called before every test."""
        raise NotImplementedError(f"implement {type(self).__name__}.get_outlet() "
                                  "to return the outlet(s) to test")

    def record_lists(self) -> SearchStrategy:
        """The lists of records pushed by the property tests; override to narrow them."""
        return st.lists(strategies.records(), max_size=5)

    def adversarial_record_lists(self) -> SearchStrategy:
        """The batches the opt-in adversarial tests push; override to narrow or widen them."""
        return strategies.adversarial_batches()

    def ordinary_record_lists(self) -> SearchStrategy:
        """Batches the outlet must always accept; default: dicts of short str keys to ints or text."""
        values = st.one_of(st.integers(-1000, 1000), st.text("abcdefghij XYZ", max_size=8))
        payload = st.dictionaries(st.sampled_from(["id", "name", "value", "count", "note"]), values,
                                  min_size=1, max_size=4)
        return st.lists(strategies.records(payload=payload, metadata=st.builds(dict)),
                        min_size=1, max_size=5)

    def read_back(self, outlet: Outlet) -> Any:
        """Return what ``outlet`` has stored so far; implementing it enables the adversarial tests.

        By default the result must be a list with one entry per record
        written, oldest first (e.g. the rows of a table or a CSV file); then a
        push that returns must have appended one entry per record. Return any
        comparable value instead and override :meth:`expected_after` to say
        what it must become. Read with your own code, not the outlet's: a
        file the outlet cannot read back must show up as a failure.
        """
        raise NotImplementedError

    def expected_after(self, outlet: Outlet, before: Any, records: List[Record]) -> Any:
        """What :meth:`read_back` must return after a push wrote all of ``records``.

        ``None`` (the default) means: ``before`` followed by one new entry per
        record. Override it for outlets that replace what they store (mode
        ``'w'`` files) or when ``read_back`` returns something other than a list.
        """
        return None

    def setUp(self) -> None:
        super().setUp()
        self.outlets: List[Outlet] = self._nodes(self.get_outlet(), Outlet)
        self.outlet: Outlet = self.outlets[0]
        self._pusher = Pusher()
        self.addCleanup(self._pusher.close)

    def test_init_calls_super_init(self) -> None:
        """The outlet's __init__ calls super().__init__()."""
        self._for_each(self.outlets, lambda outlet: None)

    def test_lifecycle(self) -> None:
        """on_start and on_shutdown run once each, and active is True exactly between them."""
        self._for_each(self.outlets, lambda outlet: check_lifecycle(self, outlet))

    def test_push_empty_list(self) -> None:
        """push accepts an empty list of records."""
        self._for_each(self.outlets, lambda outlet: self._started(
            outlet, lambda: self._push_unchanged(outlet, [])))

    def test_push_does_not_change_records(self) -> None:
        """push leaves the list, the records, their payloads and their metadata as they were."""
        def batch() -> List[Record]:
            return [Record({"key": [1, 2]}, {"source": "test", "tags": ["a"]}),
                    Record({"nested": {"key": "value"}}, {}),
                    Record({}, {"number": 1})]
        self._for_each(self.outlets, lambda outlet: self._started(
            outlet, lambda: self._push_unchanged(outlet, batch())))

    def test_push_generated_records_property(self) -> None:
        """push accepts generated records and updates and changes none of them."""
        def check(outlet: Outlet) -> None:
            def prop(records: List[Record], update: Update) -> None:
                self._push_unchanged(outlet, records, update)
            self._started(outlet, lambda: self._property(prop, records=self.record_lists(),
                                                         update=strategies.updates()))
        self._for_each(self.outlets, check)

    def test_push_through_a_link(self) -> None:
        """The outlet takes generated batches from one started Link, then an empty one."""
        def check(outlet: Outlet) -> None:
            inlet = FeedInlet()
            link = Link(inlet, outlet, interval=1, tags="databay_testing")

            def prop(records: List[Record]) -> None:
                inlet.result = records
                link.transfer()
            link.on_start()
            try:
                self._property(prop, records=self.record_lists())
                inlet.result = []
                link.transfer()
            finally:
                link.on_shutdown()
            self.assertFalse(outlet.active,
                             f"{type(outlet).__name__}.active is True after the link shut down")
        self._for_each(self.outlets, check)

    def test_adversarial_push_writes_all_or_nothing(self) -> None:
        """Opt-in: each push of adversarial records writes every record or none, and says which."""
        self._require_read_back()

        def prop(outlet: Outlet, seed: List[Record], batches: List[List[Record]]) -> None:
            if seed:  # an outlet that already holds data has something to lose
                self._pusher.push(outlet, seed, Update(["databay_testing"], 0))
            for records in batches:
                self._push_all_or_nothing(outlet, records)
        self._each_fresh(prop, seed=st.one_of(st.just([]), self.ordinary_record_lists()),
                         batches=st.lists(self.adversarial_record_lists(), min_size=1, max_size=3))

    def test_ordinary_push_works_after_adversarial_pushes(self) -> None:
        """Opt-in: whatever adversarial pushes did, ordinary records are then written in full."""
        self._require_read_back()

        def prop(outlet: Outlet, batches: List[List[Record]], ordinary: List[Record]) -> None:
            for records in batches:
                try:
                    self._pusher.push(outlet, records, Update(["databay_testing"], 0))
                except Exception:  # noqa: BLE001 - refusing them is allowed here
                    pass
            before = self.read_back(outlet)
            try:
                self._pusher.push(outlet, ordinary, Update(["databay_testing"], 1))
            except Exception as error:  # noqa: BLE001 - reported as the finding
                self.fail(f"{type(outlet).__name__}.push refused ordinary records {_short(ordinary)} "
                          f"after the adversarial pushes {_short(batches)}: {_short(error)}; a push "
                          "must not fail because of what earlier pushes wrote")
            self._check_written(outlet, before, ordinary, f"after {_short(batches)}")
        self._each_fresh(prop, batches=st.lists(self.adversarial_record_lists(), min_size=1, max_size=2),
                         ordinary=self.ordinary_record_lists())

    def _each_fresh(self, test: Callable[..., None], **strategies_: Any) -> None:
        """Run ``test(outlet, ...)`` as a property, on a new started outlet for every example.

        Each example calls :meth:`get_outlet` again and uses the outlet at the
        same position, so one example's writes never decide the next one's fate.
        """
        def check(index: int) -> None:
            def example(**drawn: Any) -> None:
                outlet = self._nodes(self.get_outlet(), Outlet)[index]
                self._started(outlet, lambda: test(outlet, **drawn))
            with warnings.catch_warnings():
                # Huge strings are the point here; Hypothesis would warn about their repr.
                warnings.filterwarnings("ignore", "Generating overly large repr", HypothesisWarning)
                self._property(example, **strategies_)
        position = {id(outlet): index for index, outlet in enumerate(self.outlets)}
        self._for_each(self.outlets, lambda outlet: check(position[id(outlet)]))

    def _require_read_back(self) -> None:
        if type(self).read_back is OutletTester.read_back:
            self.skipTest(f"opt-in: implement {type(self).__name__}.read_back(outlet) to check that "
                          "pushes of adversarial records write everything or nothing")

    def _push_all_or_nothing(self, outlet: Outlet, records: List[Record]) -> None:
        """Push ``records``; check that the outlet stored all of them or, if it raised, none."""
        name = type(outlet).__name__
        before = self.read_back(outlet)
        rejected_type = getattr(errors, "RejectedRecords", None)
        try:
            self._pusher.push(outlet, records, Update(["databay_testing"], 0))
        except Exception as error:  # noqa: BLE001 - what it wrote is checked below
            rejected = getattr(error, "records", None) \
                if rejected_type is not None and isinstance(error, rejected_type) else None
            if rejected is None:
                after = self.read_back(outlet)
                if after != before:
                    self.fail(f"{name}.push raised {_short(error)} for {_short(records)} but changed "
                              f"what it stores from {_short(before)} to {_short(after)}; a push that "
                              "fails must write nothing (or raise RejectedRecords naming what it "
                              "did not write)")
                return
            refused = {id(record) for record in rejected}
            written = [record for record in records if id(record) not in refused]
            self._check_written(outlet, before, written, f"raising {_short(error)}")
            return
        self._check_written(outlet, before, records, "returning normally")

    def _check_written(self, outlet: Outlet, before: Any, records: List[Record], how: str) -> None:
        """Check that ``read_back`` now shows ``before`` plus exactly ``records``."""
        name = type(outlet).__name__
        after = self.read_back(outlet)
        expected = self.expected_after(outlet, before, records)
        if expected is not None:
            if after != expected:
                self.fail(f"{name}.push of {_short(records)} ({how}) left {_short(after)}; "
                          f"expected {_short(expected)}: a push must write every record it accepts")
            return
        if not isinstance(before, list) or not isinstance(after, list):
            raise TypeError(f"read_back() returned {_short(after)}; return a list with one entry per "
                            "record written, or override expected_after()")
        if after[:len(before)] != before or len(after) != len(before) + len(records):
            self.fail(f"{name}.push of {len(records)} record(s) {_short(records)} ({how}) went from "
                      f"{len(before)} to {len(after)} stored entries (now {_short(after)}); "
                      f"expected the {len(before)} earlier ones unchanged and {len(records)} new")

    @staticmethod
    def _started(outlet: Outlet, action: Callable[[], None]) -> None:
        """Run ``action`` between ``outlet.try_start()`` and ``outlet.try_shutdown()``."""
        outlet.try_start()
        try:
            action()
        finally:
            outlet.try_shutdown()

    def _push_unchanged(self, outlet: Outlet, records: List[Record],
                        update: Update | None = None) -> None:
        """Push ``records`` and assert that nothing in them changed."""
        update = Update(["databay_testing"], 0) if update is None else update
        given = list(records)
        parts = [(record.payload, record.metadata) for record in records]
        snapshot = copy.deepcopy(parts)
        self._pusher.push(outlet, records, update)
        name = type(outlet).__name__
        if len(records) != len(given) or any(a is not b for a, b in zip(records, given)):
            self.fail(f"{name}.push changed the list of records it was given: "
                      f"{_short(given)} became {_short(records)}")
        for index, (record, (payload, metadata), (payload_was, metadata_was)) in enumerate(
                zip(records, parts, snapshot)):
            self.assertIs(record.payload, payload, f"{name}.push replaced the payload of record {index}")
            self.assertIs(record.metadata, metadata,
                          f"{name}.push replaced the metadata of record {index}")
            self.assertTrue(_same(payload, payload_was),
                            f"{name}.push changed the payload of record {index} "
                            f"from {_short(payload_was)} to {_short(payload)}")
            self.assertTrue(_same(metadata, metadata_was),
                            f"{name}.push changed the metadata of record {index} "
                            f"from {_short(metadata_was)} to {_short(metadata)}")
