"""Node-call timeouts: a hung pull or push is abandoned (sync) or cancelled (async), never waited for."""

import asyncio
import threading
import time

import pytest

from databay import Inlet, Link, Outlet, Retry
from databay.errors import NodeTimeoutError
from databay.planners import SchedulePlanner

GENEROUS = 20  # seconds: bounds that hold on a busy machine; the timeouts themselves are short


class Hanging(Inlet):
    """Blocks in pull until ``release`` is set; counts its calls."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.calls = 0
        self.returned = threading.Event()

    def pull(self, update):
        self.calls += 1
        self.release.wait(GENEROUS * 3)
        self.returned.set()
        return ["late"]


class Value(Inlet):
    def __init__(self, value=1):
        super().__init__()
        self.value = value
        self.threads = []

    def pull(self, update):
        self.threads.append(threading.current_thread())
        return self.value


class Sink(Outlet):
    def __init__(self):
        super().__init__()
        self.payloads = []
        self.pushed = threading.Event()

    def push(self, records, update):
        self.payloads.extend(r.payload for r in records)
        self.pushed.set()


def test_a_hung_sync_pull_is_abandoned_and_the_other_inlets_records_go_out():
    hung, sink = Hanging(), Sink()
    link = Link([hung, Value(7)], sink, 1, timeout=0.3)
    began = time.monotonic()
    with pytest.raises(NodeTimeoutError, match="abandoned") as info:
        link.transfer()
    assert time.monotonic() - began < GENEROUS
    assert repr(hung) in str(info.value)
    assert sink.payloads == [7]
    hung.release.set()
    assert hung.returned.wait(GENEROUS)


def test_the_node_is_not_called_again_until_its_abandoned_call_returned(caplog):
    hung, sink = Hanging(), Sink()
    link = Link([hung, Value(7)], sink, 1, timeout=0.2, ignore_exceptions=True)
    link.transfer()
    link.transfer()  # fails fast: still busy
    assert hung.calls == 1
    assert sink.payloads == [7, 7]
    messages = [r.getMessage() for r in caplog.records if r.name == "databay.Link"]
    assert any("still running a call abandoned during update 0" in m for m in messages), messages
    hung.release.set()
    assert hung.returned.wait(GENEROUS)
    deadline = time.monotonic() + GENEROUS
    while link._abandoned and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not link._abandoned
    assert any("abandoned call of %r has returned" % hung in r.getMessage() for r in caplog.records)
    link.transfer()  # called again (and returns at once now)
    assert hung.calls == 2
    assert sink.payloads == [7, 7, "late", 7]


def test_a_hung_async_pull_is_cancelled():
    cancelled = threading.Event()

    class AsyncHanging(Inlet):
        async def pull(self, update):
            try:
                await asyncio.sleep(GENEROUS * 3)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    sink = Sink()
    link = Link([AsyncHanging(), Value(3)], sink, 1, timeout=0.2, ignore_exceptions=True)
    began = time.monotonic()
    link.transfer()
    assert time.monotonic() - began < GENEROUS
    assert cancelled.is_set()
    assert sink.payloads == [3]
    assert not link._abandoned  # cancelled, not left running
    link.on_shutdown()


def test_a_hung_push_with_retry_is_queued_and_delivered_once_the_outlet_answers_again():
    gate = threading.Event()

    class SlowThenFine(Sink):
        def __init__(self):
            super().__init__()
            self.first = True

        def push(self, records, update):
            if self.first:
                self.first = False
                gate.wait(GENEROUS * 3)
                raise OSError("gave up")
            super().push(records, update)

    slow, healthy = SlowThenFine(), Sink()
    link = Link(Value(5), [slow, healthy], 1, timeout=0.2, retry=Retry(first_delay=0, jitter=0),
                ignore_exceptions=True)
    link.transfer()
    assert healthy.payloads == [5] and slow.payloads == []
    gate.set()  # the abandoned push raises; its batch waits in the retry queue
    deadline = time.monotonic() + GENEROUS
    while link._abandoned and time.monotonic() < deadline:
        time.sleep(0.01)
    link.transfer()
    assert slow.payloads == [5, 5]
    assert healthy.payloads == [5, 5]


def test_without_a_timeout_a_single_pull_runs_in_the_calling_thread():
    inlet = Value()
    Link(inlet, Sink(), 1).transfer()
    assert inlet.threads == [threading.current_thread()]


def test_the_planner_default_applies_when_the_link_has_none():
    hung, sink = Hanging(), Sink()
    link = Link([hung, Value(1)], sink, 1, ignore_exceptions=True)
    assert link._default_timeout is None
    link._default_timeout = 0.2  # what a planner with timeout= sets
    began = time.monotonic()
    link.transfer()
    assert time.monotonic() - began < GENEROUS
    assert sink.payloads == [1]
    hung.release.set()


def test_flush_with_a_timeout_returns_although_a_push_hangs():
    gate = threading.Event()

    class HangingSink(Sink):
        def push(self, records, update):
            gate.wait(GENEROUS * 3)

    link = Link(Value(), HangingSink(), 1, retry=Retry(first_delay=100, max_delay=100, jitter=0),
                ignore_exceptions=True)
    link._delivery.queue_for(link.outlets[0])  # the queue exists
    from databay._delivery import Entry

    queue = link._delivery.queue_for(link.outlets[0])
    queue.entries.append(Entry([], None, 1, 0))
    began = time.monotonic()
    assert link.flush(timeout=0.3)
    assert time.monotonic() - began < GENEROUS
    gate.set()


def test_four_hung_links_do_not_stop_a_healthy_one_under_a_planner():
    hung = [Hanging() for _ in range(4)]
    healthy_sink = Sink()
    links = [Link(inlet, Sink(), 0.05, timeout=0.2, ignore_exceptions=True) for inlet in hung]
    healthy = Link(Value(), healthy_sink, 0.05)
    planner = SchedulePlanner(links + [healthy], threads=4, ignore_exceptions=True)
    thread = threading.Thread(target=planner.start, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + GENEROUS
        while len(healthy_sink.payloads) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(healthy_sink.payloads) >= 20
        assert all(inlet.calls == 1 for inlet in hung)  # abandoned once, then failing fast
    finally:
        for inlet in hung:
            inlet.release.set()
        planner.shutdown()
        thread.join(GENEROUS)


@pytest.mark.parametrize("value, error", [
    ("1", TypeError), (True, TypeError), (0, ValueError), (-1, ValueError),
    (float("nan"), ValueError), (float("inf"), ValueError), (1e300, ValueError),
])
def test_bad_timeouts_are_refused_naming_the_parameter(value, error):
    with pytest.raises(error) as info:
        Link(Value(), Sink(), 1, timeout=value)
    assert "timeout=" in str(info.value) and repr(value) in str(info.value)
