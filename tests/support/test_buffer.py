"""Buffer: controllers, flush, reset, thread safety and use inside links."""

import datetime
import logging
import threading

import pytest

from databay import Inlet, Link, Outlet
from databay.support import Buffer
from databay.support.buffers import Buffer as BufferFromModule


def payloads(records):
    return [record.payload for record in records]


def test_import_paths_are_one_class():
    """databay.support.Buffer and databay.support.buffers.Buffer are the same class."""
    assert Buffer is BufferFromModule


def test_without_controllers_holds_everything(records):
    """A disjunctive buffer without controllers stores records and never releases by itself."""
    buffer = Buffer()
    assert buffer(records(3)) == []
    assert buffer(records(2, start=3)) == []
    assert payloads(buffer.records) == [0, 1, 2, 3, 4]


def test_conjugate_without_controllers_releases_every_call(records):
    """conjugate_controllers=True with no controllers releases on every call, as in 0.3.0."""
    buffer = Buffer(conjugate_controllers=True)
    assert payloads(buffer(records(2))) == [0, 1]
    assert buffer.records == []


def test_count_controller_releases_when_count_exceeded(records):
    """The count controller releases once more than count_threshold records are stored."""
    buffer = Buffer(count_threshold=3)
    assert buffer(records(2)) == []
    assert buffer(records(1, start=2)) == []
    released = buffer(records(1, start=3))
    assert payloads(released) == [0, 1, 2, 3]
    assert buffer.records == []


def test_count_threshold_zero_releases_any_record(records):
    """count_threshold=0 releases as soon as one record is stored, and never an empty list."""
    buffer = Buffer(count_threshold=0)
    assert buffer([]) == []
    assert payloads(buffer(records(1))) == [0]


def test_time_controller_counts_from_first_record(virtual_clock, records):
    """The time controller's clock starts when the first record is stored, not at the first call."""
    buffer = Buffer(time_threshold=10, clock=virtual_clock.now)
    assert buffer([]) == []
    virtual_clock.advance(100)  # empty calls must not start the clock
    assert buffer(records(1)) == []
    assert buffer.time_start == virtual_clock.now()
    virtual_clock.advance(9.5)
    assert buffer(records(1, start=1)) == []  # second record does not restart the clock
    virtual_clock.advance(0.5)
    assert payloads(buffer([])) == [0, 1]
    assert buffer.time_start is None


def test_time_controller_restarts_after_release(virtual_clock, records):
    """After a release the next record starts a fresh time window."""
    buffer = Buffer(time_threshold=5, clock=virtual_clock.now)
    buffer(records(1))
    virtual_clock.advance(5)
    assert payloads(buffer([])) == [0]
    virtual_clock.advance(50)
    assert buffer(records(1, start=1)) == []
    virtual_clock.advance(4.9)
    assert buffer([]) == []


def test_time_threshold_accepts_timedelta(clock, records):
    """time_threshold may be a timedelta."""
    buffer = Buffer(time_threshold=datetime.timedelta(seconds=2), clock=clock)
    assert buffer.time_threshold == 2.0
    buffer(records(1))
    clock.advance(2)
    assert payloads(buffer([])) == [0]


def test_custom_controller_receives_stored_records(records):
    """A custom controller is called with all stored records and releases when it returns True."""
    seen = []

    def controller(stored):
        seen.append(payloads(stored))
        return len(stored) >= 3

    buffer = Buffer(custom_controllers=controller)
    assert buffer(records(2)) == []
    assert payloads(buffer(records(1, start=2))) == [0, 1, 2]
    assert seen == [[0, 1], [0, 1, 2]]


def test_any_controller_releases_by_default(records):
    """With conjugate_controllers=False one True controller is enough."""
    buffer = Buffer(custom_controllers=[lambda r: False, lambda r: True])
    assert payloads(buffer(records(1))) == [0]


def test_conjugate_requires_all_controllers(clock, records):
    """With conjugate_controllers=True every controller must say release."""
    buffer = Buffer(count_threshold=1, time_threshold=10, conjugate_controllers=True, clock=clock)
    assert buffer(records(3)) == []  # count passes, time does not
    clock.advance(10)
    assert payloads(buffer([])) == [0, 1, 2]
    buffer(records(1, start=3))
    clock.advance(10)
    assert buffer([]) == []  # time passes, count (1 > 1) does not


def test_raising_controller_counts_as_do_not_release(records, caplog):
    """A controller that raises means "do not release" (even in conjugate mode) and is logged."""
    def broken(stored):
        raise RuntimeError("controller bug")

    conjugate = Buffer(custom_controllers=[broken, lambda r: True], conjugate_controllers=True)
    disjunctive = Buffer(custom_controllers=[broken])
    with caplog.at_level(logging.ERROR, logger="databay.Buffer"):
        assert conjugate(records(2)) == []
        assert disjunctive(records(2)) == []
    assert len(conjugate.records) == 2 and len(disjunctive.records) == 2
    messages = [r for r in caplog.records if r.name == "databay.Buffer"]
    assert len(messages) == 2
    assert all(r.exc_info and "controller bug" in str(r.exc_info[1]) for r in messages)


def test_raising_controller_does_not_hide_a_releasing_one(records, caplog):
    """In any-mode a raising controller is skipped and a later True controller still releases."""
    def broken(stored):
        raise ValueError("nope")

    buffer = Buffer(custom_controllers=[broken, lambda r: True])
    with caplog.at_level(logging.ERROR, logger="databay.Buffer"):
        assert payloads(buffer(records(1))) == [0]


def test_flush_releases_everything_once(records):
    """flush=True releases all stored records on the next call whatever the controllers say."""
    buffer = Buffer(count_threshold=100)
    buffer(records(2))
    buffer.flush = True
    assert payloads(buffer(records(1, start=2))) == [0, 1, 2]
    assert buffer.flush is False
    assert buffer(records(1)) == []


def test_flush_on_empty_buffer_resets(clock):
    """Flushing an empty buffer returns [] and resets it (flag cleared, on_reset called)."""
    resets = []
    buffer = Buffer(count_threshold=5, on_reset=lambda: resets.append(1), clock=clock)
    buffer.flush = True
    assert buffer([]) == []
    assert buffer.flush is False
    assert resets == [1]


def test_reset_empties_and_calls_on_reset(clock, records):
    """reset() empties the buffer, stops the time clock and calls on_reset."""
    resets = []
    buffer = Buffer(time_threshold=1, on_reset=lambda: resets.append(1), clock=clock)
    buffer(records(2))
    buffer.reset()
    assert buffer.records == [] and buffer.time_start is None and resets == [1]


def test_release_calls_on_reset(records):
    """Every release resets the buffer, which calls on_reset."""
    resets = []
    buffer = Buffer(count_threshold=0, on_reset=lambda: resets.append(1))
    buffer(records(1))
    buffer(records(1))
    assert resets == [1, 1]


def test_get_controllers_lists_active_ones():
    """get_controllers returns custom controllers, then count and time when enabled."""
    def custom(stored):
        return False

    assert Buffer().get_controllers() == []
    controllers = Buffer(count_threshold=1, time_threshold=1, custom_controllers=custom) \
        .get_controllers()
    assert len(controllers) == 3 and controllers[0] is custom


def test_concurrent_calls_lose_and_duplicate_nothing():
    """Eight threads feeding one buffer: every record comes out exactly once."""
    from databay import Record

    buffer = Buffer(count_threshold=7)
    released = []
    released_lock = threading.Lock()
    start = threading.Barrier(8)

    def feed(worker):
        start.wait()
        for i in range(500):
            out = buffer([Record((worker, i))])
            if out:
                with released_lock:
                    released.extend(out)

    threads = [threading.Thread(target=feed, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    buffer.flush = True
    released.extend(buffer([]))
    got = sorted(payloads(released))
    assert got == sorted((w, i) for w in range(8) for i in range(500))


class _ListInlet(Inlet):
    def __init__(self, values):
        super().__init__()
        self.values = values

    def pull(self, update):
        return list(self.values)


class _Collect(Outlet):
    def __init__(self, processors=None):
        super().__init__(processors)
        self.pushes = []

    def push(self, records, update):
        self.pushes.append(payloads(records))


def test_buffer_as_link_processor_and_link_flush(capture_outlet):
    """As a link processor it holds records across transfers; Link.flush() delivers them."""
    link = Link(_ListInlet([1, 2]), capture_outlet, interval=1, processors=[Buffer(count_threshold=4)])
    link.transfer()
    link.transfer()
    assert capture_outlet.payloads == []
    assert link.flush() is True
    assert [payloads(push.records) for push in capture_outlet.pushes if push.records] == [[1, 2, 1, 2]]
    assert link.flush() is False


def test_buffer_as_outlet_processor_and_link_flush():
    """As an outlet processor it holds that outlet's records; Link.flush() delivers them."""
    buffered = _Collect(processors=[Buffer(count_threshold=10)])
    direct = _Collect()
    link = Link(_ListInlet([7]), [buffered, direct], interval=1)
    link.transfer()
    link.transfer()
    assert [p for p in buffered.pushes if p] == []
    assert direct.pushes == [[7], [7]]
    link.flush()
    assert [p for p in buffered.pushes if p] == [[7, 7]]


@pytest.mark.parametrize("kwargs, error, name", [
    ({"count_threshold": -1}, ValueError, "count_threshold"),
    ({"count_threshold": 2.5}, TypeError, "count_threshold"),
    ({"count_threshold": True}, TypeError, "count_threshold"),
    ({"time_threshold": -1}, ValueError, "time_threshold"),
    ({"time_threshold": float("nan")}, ValueError, "time_threshold"),
    ({"time_threshold": "10"}, TypeError, "time_threshold"),
    ({"custom_controllers": [1]}, TypeError, "custom_controllers"),
    ({"on_reset": "reset"}, TypeError, "on_reset"),
    ({"conjugate_controllers": "yes"}, TypeError, "conjugate_controllers"),
    ({"clock": 5}, TypeError, "clock"),
])
def test_bad_arguments_name_the_parameter(kwargs, error, name):
    """Each bad argument raises TypeError/ValueError whose message names the parameter and value."""
    with pytest.raises(error) as info:
        Buffer(**kwargs)
    assert str(info.value).startswith(name + "=")


def test_failing_on_reset_does_not_lose_the_released_records(caplog):
    """on_reset raising is logged; the records being released are still returned."""
    from databay import Record
    from databay.support.buffers import Buffer

    def broken():
        raise RuntimeError("reset hook")

    buffer = Buffer(count_threshold=1, on_reset=broken)
    first, second = Record(1), Record(2)
    with caplog.at_level("ERROR", logger="databay.Buffer"):
        assert buffer([first]) == []
        assert buffer([second]) == [first, second]
    assert buffer.records == [] and "reset hook" in caplog.text
