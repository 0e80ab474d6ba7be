"""OutletTester: a TestCase that checks an Outlet subclass honours databay's contract."""

from __future__ import annotations

import copy

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from databay import Link, Outlet, Record, Update

from . import strategies
from ._node_tester import NodeTester
from ._running import FeedInlet, Pusher
from .inlet_tester import check_lifecycle
from .oracle import _same, _short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Union

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
