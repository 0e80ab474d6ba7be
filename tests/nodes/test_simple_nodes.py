"""NullInlet, RandomIntInlet, NullOutlet and PrintOutlet."""

import threading

import pytest

from databay import Link, Record
from databay.inlets import NullInlet, RandomIntInlet
from databay.outlets import NullOutlet, PrintOutlet


def test_null_inlet_produces_no_records(update):
    """NullInlet.pull returns [] and a link with it pushes an empty batch."""
    assert NullInlet().pull(update) == []
    assert NullInlet()._to_records(NullInlet().pull(update)) == []


def test_null_inlet_keeps_metadata():
    """NullInlet accepts global metadata like every Inlet."""
    assert NullInlet(metadata={"a": 1}).metadata == {"a": 1}


def test_random_int_inlet_stays_in_range(update):
    """RandomIntInlet returns ints within [min, max] inclusive."""
    inlet = RandomIntInlet(3, 5)
    values = {inlet.pull(update) for _ in range(300)}
    assert values <= {3, 4, 5} and len(values) > 1
    assert RandomIntInlet(min=7, max=7).pull(update) == 7


def test_random_int_inlet_defaults_and_metadata(update):
    """Defaults are 0..100 and metadata reaches the records."""
    inlet = RandomIntInlet(metadata={"src": "rand"})
    record = inlet._to_records(inlet.pull(update))[0]
    assert 0 <= record.payload <= 100 and record.metadata["src"] == "rand"


@pytest.mark.parametrize("kwargs, error, name", [
    ({"min": "0"}, TypeError, "min"),
    ({"max": 1.5}, TypeError, "max"),
    ({"min": True}, TypeError, "min"),
    ({"min": 5, "max": 1}, ValueError, "min"),
])
def test_random_int_inlet_bad_arguments(kwargs, error, name):
    """Bad bounds raise TypeError/ValueError naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        RandomIntInlet(**kwargs)


def test_null_outlet_accepts_anything(update):
    """NullOutlet.push accepts records and returns None."""
    assert NullOutlet().push([Record(1)], update) is None


def test_print_outlet_formats(capsys, update):
    """PrintOutlet prints update prefix and record, or only the payload, one line each."""
    records = [Record(1, {"k": "v"}), Record("two")]
    PrintOutlet().push(records, update)
    PrintOutlet(only_payload=True).push(records, update)
    PrintOutlet(only_payload=True, skip_update=True).push(records, update)
    PrintOutlet().push([], update)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["test.0 %s" % records[0], "test.0 %s" % records[1],
                     "test.0 1", "test.0 two", "1", "two"]


def test_print_outlet_lines_of_concurrent_pushes_do_not_interleave(capsys, update):
    """Pushes from several threads print whole lines, each push's lines together."""
    outlet = PrintOutlet(only_payload=True, skip_update=True)
    barrier = threading.Barrier(4)

    def push(worker):
        barrier.wait()
        outlet.push([Record("%d-%d" % (worker, i)) for i in range(50)], update)

    threads = [threading.Thread(target=push, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == sorted("%d-%d" % (w, i) for w in range(4) for i in range(50))


def test_print_outlet_in_a_link(capsys):
    """A link from RandomIntInlet to PrintOutlet prints one line per transfer (no event loop needed)."""
    Link(RandomIntInlet(1, 1), PrintOutlet(only_payload=True), interval=1, tags="t").transfer()
    assert capsys.readouterr().out == "t.0 1\n"
