"""Review findings of the P2 speed-ups: overrides set on an instance or after the class
statement are still honoured, and an inlet's own metadata stays its own."""
from unittest import mock

import pytest

from databay import Inlet, Link, Outlet
from databay_testing import VirtualClock, virtual_planner


class I(Inlet):
    def pull(self, update):
        return [1, 2]


class O(Outlet):
    def push(self, records, update):
        pass


def test_shutdown_calls_an_instance_level_link_on_shutdown():
    calls = []
    link = Link(I(), O(), interval=1.0)
    link.on_shutdown = lambda: (calls.append("on_shutdown"), Link.on_shutdown(link))
    clock = VirtualClock()
    with virtual_planner(link, clock=clock):
        clock.advance(1.0)
    assert calls == ["on_shutdown"]


def test_an_inlets_own_metadata_writes_stay_its_own():
    class Tagged(Inlet):
        def __init__(self, source):
            super().__init__()
            self._metadata["source"] = source  # 0.3.0: each inlet's own {}

        def pull(self, update):
            return 1

    a, plain, _ = Tagged("a"), I(), Tagged("b")
    assert plain.new_record(1).metadata == {"__inlet__": "I()"}
    assert a.new_record(1).metadata["source"] == "a"


def test_add_inlets_set_after_the_class_statement_is_used():
    class MyLink(Link):
        pass

    with mock.patch.object(MyLink, "add_inlets", autospec=True, side_effect=Link.add_inlets) as spy:
        MyLink(I(), O(), interval=1)
    assert spy.call_count == 1


@pytest.mark.parametrize("method", ["on_shutdown", "flush"])
def test_shutdown_calls_a_patched_link_method(method):
    link = Link(I(), O(), interval=1.0)
    clock = VirtualClock()
    with mock.patch.object(Link, method, autospec=True, side_effect=getattr(Link, method)) as spy:
        with virtual_planner(link, clock=clock):
            clock.advance(1.0)
    assert spy.call_count == 1


def test_shutdown_calls_an_instance_level_link_flush_of_a_link_holding_nothing():
    calls = []
    link = Link(I(), O(), interval=1.0)
    link.flush = lambda timeout=None: (calls.append("flush"), Link.flush(link, timeout))[1]
    clock = VirtualClock()
    with virtual_planner(link, clock=clock):
        clock.advance(1.0)
    assert calls == ["flush"]


def test_link_on_start_acquires_a_node_through_its_classs_own_acquire():
    """``Link.on_start`` takes ``Lifecycle._acquire``'s steps inline for node classes that keep it
    (``_lifecycle.acquired_inline``); a class overriding ``_acquire`` is still acquired through it."""
    acquired = []

    class Counted(Inlet):
        def pull(self, update):
            return 1

        def _acquire(self):
            acquired.append(self)
            super()._acquire()

    class Sink(Outlet):
        def push(self, records, update):
            pass

    inlet, outlet = Counted(), Sink()
    link = Link(inlet, outlet, interval=1)
    link.on_start()
    try:
        assert acquired == [inlet]
        assert inlet.active and outlet.active
    finally:
        link.on_shutdown()
    assert not inlet.active and not outlet.active


def test_link_on_start_sees_an_acquire_patched_on_a_class_after_its_nodes_were_acquired_inline():
    """Whether a class keeps ``_acquire`` is asked at each start, not remembered: a patch made
    after a first inline acquire of its nodes is called."""
    acquired = []
    link = Link(I(), O(), interval=1)
    link.on_start()
    link.on_shutdown()
    plain_acquire = I._acquire

    def counted(self):
        acquired.append(self)
        plain_acquire(self)

    with mock.patch.object(I, "_acquire", counted):
        link.on_start()
        try:
            assert acquired == link.inlets and link.inlets[0].active
        finally:
            link.on_shutdown()
    assert not link.inlets[0].active
