"""0.3.0's Link added the constructor's inlets and outlets through add_inlets/add_outlets, so a
subclass overriding them (to validate or wrap nodes) saw those nodes too; it still does."""

import pytest

from databay import Inlet, Link, Outlet


class Source(Inlet):
    def pull(self, update):
        return 1


class Sink(Outlet):
    def __init__(self):
        super().__init__()
        self.got = []

    def push(self, records, update):
        self.got.extend(record.payload for record in records)


class Audited(Link):
    """A user's Link that keeps a list of every node it was given and refuses a tagged one."""

    def add_inlets(self, inlets):
        self.seen = getattr(self, "seen", []) + ["inlets"]
        super().add_inlets(inlets)

    def add_outlets(self, outlets):
        outlets = outlets if isinstance(outlets, list) else [outlets]
        if any(getattr(outlet, "forbidden", False) for outlet in outlets):
            raise ValueError("forbidden outlet")
        self.seen = getattr(self, "seen", []) + ["outlets"]
        super().add_outlets(outlets)


def test_a_subclass_hook_sees_the_constructor_nodes_and_the_link_works():
    sink = Sink()
    link = Audited(Source(), sink, interval=1)
    assert link.seen == ["inlets", "outlets"]
    link.transfer()
    assert sink.got == [1]


def test_a_subclass_hook_can_refuse_a_constructor_node():
    sink = Sink()
    sink.forbidden = True
    with pytest.raises(ValueError, match="forbidden outlet"):
        Audited(Source(), sink, interval=1)


def _drop_twos(records):
    return [record for record in records if record.payload != 2]


class Pairs(Inlet):
    def pull(self, update):
        return [1, 2]


class AlwaysFiltered(Link):
    """A user's Link whose ``processors`` is its own property: 0.3.0's constructor assigned
    ``self.processors``, and transfers read ``link.processors``, so the setter's filter ran."""

    @property
    def processors(self):
        return self._mine

    @processors.setter
    def processors(self, value):
        self._mine = [_drop_twos] + list(value)


def test_a_subclass_processors_property_is_assigned_by_the_constructor_and_used_by_transfers():
    sink = Sink()
    link = AlwaysFiltered(Pairs(), sink, interval=1)
    assert link.processors == [_drop_twos]
    link.transfer()
    assert sink.got == [1]
    link.processors = [lambda records: records + records]
    link.transfer()
    assert sink.got == [1, 1, 1]
