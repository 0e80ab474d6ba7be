"""The end of a planner's run takes shortcuts for plain links and nodes; overrides still run."""

import threading

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner

from .conftest import run_python


class Plain(Inlet):
    def pull(self, update):
        return 1


class Quiet(Outlet):
    def push(self, records, update):
        pass


class HookedOutlet(Quiet):
    """Overrides the public ``try_shutdown`` hook (as a databay 0.3.0 node could)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def try_shutdown(self):
        self.calls.append(self.active)
        super().try_shutdown()


class FlushCountingLink(Link):
    """Overrides ``flush``: the planner calls it at shutdown even if nothing is held."""

    flushes = 0

    def flush(self, timeout=None):
        type(self).flushes += 1
        return super().flush(timeout)


def test_a_try_shutdown_override_runs_once_when_the_last_link_stops():
    """The shortcut that shuts a node down under the lock it already holds is only for nodes
    that keep the default ``try_shutdown``: an override is called, once, by the last user."""
    shared = HookedOutlet()
    links = [Link(Plain(), shared, 3600, tags=["first"]), Link(Plain(), shared, 3600, tags=["second"])]
    planner = SchedulePlanner(links, immediate_transfer=False, handle_signals=False)
    seen = []
    planner.subscribe(lambda event: seen.append((event.kind, event.link.tags[0], event.node)),
                      kinds="node_shut_down")
    with planner:
        assert shared.active
    assert shared.calls == [True] and not shared.active
    assert [(tag, node) for _, tag, node in seen] == [
        ("first", links[0].inlets[0]), ("second", links[1].inlets[0]), ("second", shared)]


def test_a_shared_node_is_reported_shut_down_once_by_its_last_link():
    """node_shut_down is emitted for the release that shut the node down, not for the others."""
    shared = Quiet()
    links = [Link(Plain(), shared, 3600, tags=[str(k)]) for k in range(3)]
    planner = SchedulePlanner(links, immediate_transfer=False, handle_signals=False)
    seen = []
    planner.subscribe(lambda event: seen.append((event.link.tags[0], event.node)), kinds="node_shut_down")
    with planner:
        pass
    assert [tag for tag, node in seen if node is shared] == ["2"]
    assert len(seen) == 4 and not shared.active


def test_a_flush_override_is_called_at_shutdown_even_when_nothing_is_held():
    """The teardown skips ``Link.flush`` for a link that holds nothing, never an override."""
    FlushCountingLink.flushes = 0
    links = [FlushCountingLink(Plain(), Quiet(), 3600), Link(Plain(), Quiet(), 3600)]
    planner = SchedulePlanner(links, immediate_transfer=False, handle_signals=False)
    with planner:
        pass
    assert FlushCountingLink.flushes == 1


def test_shutdown_does_not_import_logging_when_nothing_configured_it():
    """Logging not imported: nothing configured it, INFO cannot show, so neither ``shutdown()``
    ("Shutting down") nor the teardown ("Shut down") imports it (milliseconds of the stop)."""
    code = ("import sys, threading\n"
            "from databay import Inlet, Link, Outlet\n"
            "from databay.planners import SchedulePlanner\n"
            "ran = threading.Event()\n"
            "class In(Inlet):\n"
            "    def pull(self, update):\n"
            "        ran.set()\n"
            "        return 1\n"
            "class Out(Outlet):\n"
            "    def push(self, records, update):\n"
            "        pass\n"
            "planner = SchedulePlanner(Link(In(), Out(), interval=3600), handle_signals=False)\n"
            "thread = threading.Thread(target=planner.start)\n"
            "thread.start()\n"
            "assert ran.wait(60)\n"
            "planner.shutdown()\n"
            "thread.join(60)\n"
            "assert not thread.is_alive() and not planner.running\n"
            "print('logging' in sys.modules)\n")
    result = run_python(code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


class _UnreadableBuffer:
    """A flushable processor (the Buffer protocol) whose ``records`` raises when read."""

    databay_flushable = True
    flush = False

    @property
    def records(self):
        raise RuntimeError("records unavailable")

    def __call__(self, records):
        return records


def test_a_processor_failing_the_held_records_check_is_reported_and_shutdown_still_ends(caplog):
    """The shortcut's "holds nothing?" check runs inside the per-link error handling: a raising
    flushable processor is logged as that link's flush failure, and every link's nodes still stop."""
    odd_inlet, other_inlet = _StoppedInlet(), _StoppedInlet()
    odd = Link(odd_inlet, Quiet(), interval=3600, processors=[_UnreadableBuffer()])
    other = Link(other_inlet, Quiet(), interval=3600)
    planner = SchedulePlanner([odd, other], immediate_transfer=False, handle_signals=False)
    raised = []

    def start():
        try:
            planner.start()
        except RuntimeError as error:  # a planner that saw a node fail says so when start() ends
            raised.append(error)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    assert planner._started.wait(30)
    planner.shutdown(wait=True)
    thread.join(30)
    assert not thread.is_alive() and not planner.running
    assert [str(error) for error in raised] == ["records unavailable"]
    assert odd_inlet.stopped == other_inlet.stopped == 1
    flush_errors = [r for r in caplog.records if r.getMessage().startswith("flush failed for %r" % odd)]
    assert len(flush_errors) == 1 and "records unavailable" in flush_errors[0].getMessage()


class _StoppedInlet(Plain):
    def __init__(self):
        super().__init__()
        self.stopped = 0

    def on_shutdown(self):
        self.stopped += 1


class _NoSuperShutdown(Quiet):
    """Overrides ``try_shutdown`` without calling super(): the node never goes inactive."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def try_shutdown(self):
        self.calls += 1


def test_an_overridden_try_shutdown_is_called_once_per_start_by_links():
    """The last link's release clears "started by links" before calling the override, so later
    links sharing the (still active) node do not call it again: once, as before the shortcut."""
    outlet = _NoSuperShutdown()
    for _ in range(3):
        link = Link(Plain(), outlet, interval=3600)
        link.on_start()
        link.on_shutdown()
    assert outlet.calls == 1 and outlet.active


class _Recording(Plain):
    """Appends its name to a shared list when it shuts down."""

    def __init__(self, name, stopped):
        super().__init__()
        self.name, self.stopped = name, stopped

    def on_shutdown(self):
        self.stopped.append(self.name)


class _RecordingOutlet(Quiet):
    def __init__(self, name, stopped):
        super().__init__()
        self.name, self.stopped = name, stopped

    def on_shutdown(self):
        self.stopped.append(self.name)


def test_nodes_stop_in_link_order_and_a_shared_node_with_its_last_user():
    """The teardown releases many links' nodes in one loop: each node still stops at its own
    link's turn, and a node shared by the first two links stops with the second, before the
    third link's nodes (not deferred to the end of the loop)."""
    stopped = []
    shared = _RecordingOutlet("shared", stopped)
    links = [Link(_Recording("in1", stopped), shared, 3600),
             Link(_Recording("in2", stopped), shared, 3600),
             Link(_Recording("in3", stopped), _RecordingOutlet("own3", stopped), 3600)]
    planner = SchedulePlanner(links, immediate_transfer=False, handle_signals=False)
    with planner:
        assert stopped == []
    assert stopped == ["in1", "in2", "shared", "in3", "own3"]


def test_an_on_shutdown_set_on_the_node_itself_is_called():
    """A node whose class keeps the no-op ``on_shutdown`` but that was given its own (an
    attribute of the instance, as a test double might) is still called when it stops."""
    inlet, outlet = Plain(), Quiet()
    calls = []
    inlet.on_shutdown = lambda: calls.append("inlet")
    planner = SchedulePlanner(Link(inlet, outlet, 3600), immediate_transfer=False, handle_signals=False)
    with planner:
        pass
    assert calls == ["inlet"] and not inlet.active and not outlet.active


class _Holding:
    """A flushable processor (the Buffer protocol) holding one record until flushed."""

    databay_flushable = True

    def __init__(self):
        self.records, self.flush = [], False

    def __call__(self, records):
        self.records.extend(records)
        if not self.flush:
            return []
        released, self.records, self.flush = self.records, [], False
        return released


class _PipelineLink(Link):
    """Hands its processors out through its own property (as a databay 0.3.0 subclass could)."""

    buffer = None

    @property
    def processors(self):
        return [self.buffer]

    @processors.setter
    def processors(self, value):
        pass


class _Collecting(Quiet):
    def __init__(self):
        super().__init__()
        self.pushed = []

    def push(self, records, update):
        self.pushed.extend(record.payload for record in records)


def test_a_buffer_behind_a_processors_property_override_is_flushed_at_shutdown():
    """The teardown's "holds nothing" shortcut reads the processors slot only for links whose
    class keeps Link's processors property: an override's Buffer is still flushed."""
    outlet = _Collecting()
    link = _PipelineLink(Plain(), outlet, 3600)
    link.buffer = _Holding()
    planner = SchedulePlanner(link, immediate_transfer=False, handle_signals=False)
    with planner:
        link.transfer()
        assert outlet.pushed == [] and len(link.buffer.records) == 1
    assert outlet.pushed == [1] and link.buffer.records == []


class _AsyncInlet(Inlet):
    """An ``async def pull`` that remembers the event loop it ran on."""

    def __init__(self):
        super().__init__()
        self.loops = []

    async def pull(self, update):
        import asyncio

        self.loops.append(asyncio.get_running_loop())
        return 1


def test_the_event_loop_of_a_link_with_async_nodes_is_closed_at_shutdown():
    """The teardown's inline stop is only for links without an event loop to close: a link
    with an ``async def pull`` still has its loop closed when the planner stops."""
    inlet = _AsyncInlet()
    link = Link(inlet, Quiet(), 3600)
    planner = SchedulePlanner(link, immediate_transfer=False, handle_signals=False)
    with planner:
        link.transfer()
        assert len(inlet.loops) == 1 and not inlet.loops[0].is_closed()
    assert inlet.loops[0].is_closed()


def test_an_inlet_given_its_own_to_records_builds_the_records_a_planner_delivers():
    """Transfers take the plain path (a label computed once) only for an inlet keeping the
    class's record building: one given its own ``_to_records`` (as a stand-in is) is honoured."""
    from databay import Record

    inlet, outlet = Plain(), _Collecting()
    inlet._to_records = lambda data: [Record("mine")]
    link = Link(inlet, outlet, 3600)
    planner = SchedulePlanner(link, immediate_transfer=False, handle_signals=False)
    with planner:
        link.transfer()
    assert outlet.pushed == ["mine"]


class _DownOutlet(Quiet):
    def push(self, records, update):
        raise ConnectionError("down")


def test_records_queued_for_retry_are_counted_lost_when_the_planner_stops(caplog):
    """The inline stop is only for links without a retry queue or journal: a planner's
    shutdown still makes the final attempt and then counts and logs what is left as lost."""
    from databay import Retry

    link = Link(Plain(), _DownOutlet(), 3600, retry=Retry(first_delay=3600, max_delay=3600, jitter=0))
    planner = SchedulePlanner(link, immediate_transfer=False, handle_signals=False)
    with planner:
        link.transfer()
    assert link.delivery_counts["lost"] == 1
    assert any("lost at shutdown" in record.getMessage() for record in caplog.records)


class _FailingInlet(Inlet):
    def pull(self, update):
        raise ValueError("broken pull")


def test_repeated_node_failures_are_summarised_when_the_planner_stops(caplog):
    """A link that logged a node failure once and then counted its repeats prints the summary
    when its planner stops (the inline stop is only for links with no such log to flush)."""
    link = Link(_FailingInlet(), Quiet(), 3600, ignore_exceptions=True)
    planner = SchedulePlanner(link, immediate_transfer=False, handle_signals=False,
                              ignore_exceptions=True)
    with planner:
        for _ in range(3):
            link.transfer()
        summaries = [r for r in caplog.records if "2 more times" in r.getMessage()]
        assert summaries == []
    summaries = [r for r in caplog.records if "2 more times" in r.getMessage()]
    assert len(summaries) == 1 and "broken pull" in summaries[0].getMessage()


def test_a_journal_is_let_go_when_the_planner_stops(tmp_path):
    """The inline stop is only for links without a journal: a planner's shutdown releases a
    link's journal, so a new link may write to it under the same name afterwards."""
    path = str(tmp_path / "journal.sqlite")
    link = Link(Plain(), Quiet(), 3600, tags="same", journal=path)
    planner = SchedulePlanner(link, immediate_transfer=False, handle_signals=False)
    with planner:
        link.transfer()
    successor = Link(Plain(), Quiet(), 3600, tags="same", journal=path)
    successor.on_start()  # ValueError ("already writes to it") while the first still holds it
    successor.on_shutdown()
