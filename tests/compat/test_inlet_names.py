"""Item 4: '__inlet__' tells inlets apart by their metadata, with 0.3.0's strings."""

from databay import Inlet, Link
from databay.inlets import NullInlet, RandomIntInlet
from databay.outlets import NullOutlet


def test_random_int_inlets_with_different_metadata_differ():
    """Two RandomIntInlets with different metadata give records with different '__inlet__'."""
    first = RandomIntInlet(metadata={"source": "a"})
    second = RandomIntInlet(metadata={"source": "b"})
    assert first.new_record(1).metadata["__inlet__"] != second.new_record(1).metadata["__inlet__"]


def test_inlet_strings_are_030s():
    """'__inlet__' is 0.3.0's ClassName(metadata=...) for RandomIntInlet, NullInlet and subclasses."""
    class MyInlet(Inlet):
        def pull(self, update):
            return 1

    assert str(RandomIntInlet(min=1, max=5, metadata={"source": "a"})) == \
        "RandomIntInlet(metadata={'source': 'a'})"
    assert str(RandomIntInlet()) == "RandomIntInlet()"
    assert str(NullInlet(metadata={"k": 1})) == "NullInlet(metadata={'k': 1})"
    assert str(MyInlet()) == "MyInlet()"


def test_records_pulled_through_a_link_carry_the_030_string():
    """Records pulled through a Link carry the same string, so an outlet can route on it."""
    inlets = [RandomIntInlet(metadata={"source": name}) for name in ("a", "b")]
    seen = []

    class Routing(NullOutlet):
        def push(self, records, update):
            seen.extend(record.metadata["__inlet__"] for record in records)

    Link(inlets, Routing(), interval=1).transfer()
    assert sorted(seen) == ["RandomIntInlet(metadata={'source': 'a'})",
                            "RandomIntInlet(metadata={'source': 'b'})"]
