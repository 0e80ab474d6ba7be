"""Update's string form and transfer numbering (docs/design.md: "Update")."""

import threading

import pytest

from databay import Link, Update


@pytest.mark.parametrize("tags, number, expected", [
    (["a", "b"], 3, "a.b.3"),
    (["only"], 0, "only.0"),
    ([], 7, "7"),
    (None, 0, "0"),
    (["x.y", "z"], 12, "x.y.z.12"),
])
def test_update_str(tags, number, expected):
    """str(update) is 'tag1.tag2.N', or 'N' without tags; repr matches str."""
    update = Update(tags, number)
    assert str(update) == expected
    assert repr(update) == expected
    assert update.tags == tags and update.transfer_number == number


def test_first_transfer_is_number_zero_then_counts_up(nodes):
    """A link's transfers are numbered 0, 1, 2 … and carry the link's tags."""
    outlet = nodes.RecordingOutlet()
    link = Link(nodes.ValueInlet(1), outlet, 1, tags=["a", "b"])
    for _ in range(3):
        link.transfer()
    assert [u.transfer_number for u in outlet.updates] == [0, 1, 2]
    assert [str(u) for u in outlet.updates] == ["a.b.0", "a.b.1", "a.b.2"]


def test_str_tag_becomes_one_tag(nodes):
    """tags='name' gives Update tags ['name']."""
    outlet = nodes.RecordingOutlet()
    link = Link(nodes.ValueInlet(1), outlet, 1, tags="name")
    link.transfer()
    assert link.tags == ["name"]
    assert outlet.updates[0].tags == ["name"] and str(outlet.updates[0]) == "name.0"


def test_untagged_update_is_just_the_number(nodes):
    """A link without tags produces updates that print as the bare number."""
    outlet = nodes.RecordingOutlet()
    link = Link(nodes.ValueInlet(1), outlet, 1)
    link.transfer()
    link.transfer()
    assert [str(u) for u in outlet.updates] == ["0", "1"]


def test_counters_are_per_link(nodes):
    """Each link numbers its own transfers independently."""
    first_out, second_out = nodes.RecordingOutlet(), nodes.RecordingOutlet()
    first = Link(nodes.ValueInlet(1), first_out, 1)
    second = Link(nodes.ValueInlet(1), second_out, 1)
    first.transfer()
    first.transfer()
    second.transfer()
    first.transfer()
    assert [u.transfer_number for u in first_out.updates] == [0, 1, 2]
    assert [u.transfer_number for u in second_out.updates] == [0]


def test_inlets_and_outlets_see_the_same_update(nodes):
    """Within one transfer, every pull and push receives the same update."""
    inlets = [nodes.ValueInlet(1), nodes.ValueInlet(2)]
    outlets = [nodes.RecordingOutlet(), nodes.RecordingOutlet()]
    Link(inlets, outlets, 1, tags="t").transfer()
    updates = [inlet.updates[0] for inlet in inlets] + [o.updates[0] for o in outlets]
    assert len({id(u) for u in updates}) == 1


def test_concurrent_transfers_get_distinct_numbers(nodes):
    """Transfers started from several threads at once never reuse a number."""
    outlet = nodes.RecordingOutlet()
    link = Link(nodes.ValueInlet(1), outlet, 1)
    threads = [threading.Thread(target=link.transfer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(u.transfer_number for u in outlet.updates) == list(range(8))


def test_tags_list_is_copied(nodes):
    """The link keeps its own tags list; mutating the given list changes nothing."""
    given = ["a"]
    link = Link(nodes.ValueInlet(1), nodes.RecordingOutlet(), 1, tags=given)
    given.append("b")
    assert link.tags == ["a"]
