"""Failing nodes: logged and skipped with ignore_exceptions=True, raised otherwise."""

import pytest

from databay import Link, Record


class NodeFailure(Exception):
    """A distinctive exception type raised by the failing nodes below."""


def _boom(*args):
    raise NodeFailure("boom")


async def _async_boom(*args):
    raise NodeFailure("async boom")


def _error_records(caplog):
    return [r for r in caplog.records if r.name == "databay.Link" and r.levelname == "ERROR"]


def _assert_logged_once(caplog, *fragments):
    records = _error_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    message = record.getMessage()
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert record.exc_info is not None and record.exc_info[0] is not None  # traceback attached
    return record


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_failing_inlet_is_logged_and_skipped(nodes, link_log, asynchronous):
    """A failing inlet is logged (node, update, traceback) and the other inlets' records flow on."""
    cls = nodes.AsyncFuncInlet if asynchronous else nodes.FuncInlet
    bad = cls(_async_boom if asynchronous else _boom, label="bad")
    good = nodes.ValueInlet([1, 2], label="good")
    outlet = nodes.RecordingOutlet()
    link = Link([bad, good], outlet, 1, tags="tag", ignore_exceptions=True)
    link.transfer()
    link.transfer()
    assert outlet.payloads == [[1, 2], [1, 2]]
    records = _error_records(link_log)
    assert len(records) == 1  # the same failure again is counted, not printed again
    message = records[0].getMessage()
    assert repr(bad) in message and repr(link) in message and "tag.0" in message
    assert records[0].exc_info[0] is NodeFailure
    link.on_shutdown()  # summarises the repeats
    records = _error_records(link_log)
    assert len(records) == 2
    assert records[1].exc_info is None
    summary = records[1].getMessage()
    assert repr(bad) in summary and "1 more time" in summary and "tag.1" in summary


def test_failing_link_processor_is_skipped(nodes, link_log):
    """A failing link processor is logged and skipped; the next processor gets its input."""
    def add_one(records):
        return records + [Record("added")]

    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1]), outlet, 1, tags="p", ignore_exceptions=True,
         processors=[_boom, add_one]).transfer()
    assert outlet.payloads == [[1, "added"]]
    _assert_logged_once(link_log, repr(_boom), "p.0", "rocessor")


def test_failing_grouper_is_skipped(nodes, link_log):
    """A failing grouper is logged and skipped; batches stay as they were."""
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1, 2]), outlet, 1, ignore_exceptions=True,
         groupers=[_boom, lambda batches: [[r] for r in batches[0]]]).transfer()
    assert outlet.payloads == [[1], [2]]
    _assert_logged_once(link_log, repr(_boom), "0", "rouper")


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_failing_outlet_does_not_stop_other_outlets(nodes, link_log, asynchronous):
    """A failing outlet is logged; the other outlets still receive the batch."""
    cls = nodes.AsyncRecordingOutlet if asynchronous else nodes.RecordingOutlet
    bad = cls(on_push=_async_boom if asynchronous else _boom, label="bad")
    good = nodes.RecordingOutlet(label="good")
    Link(nodes.ValueInlet([1]), [bad, good], 1, tags="o", ignore_exceptions=True).transfer()
    assert good.payloads == [[1]]
    _assert_logged_once(link_log, repr(bad), "o.0")


def test_failing_outlet_processor_skips_only_that_outlet(nodes, link_log):
    """A failing outlet processor is logged as that outlet's failure; other outlets push."""
    bad = nodes.RecordingOutlet(processors=_boom, label="bad")
    good = nodes.RecordingOutlet(label="good")
    Link(nodes.ValueInlet([1]), [bad, good], 1, ignore_exceptions=True).transfer()
    assert bad.pushes == []
    assert good.payloads == [[1]]
    _assert_logged_once(link_log, repr(bad))


def test_failure_in_one_batch_does_not_stop_the_next(nodes, link_log):
    """An outlet failing on the first batch still receives the second batch."""
    def fail_first(records, update):
        if records[0].payload == 1:
            raise NodeFailure("first batch")

    outlet = nodes.RecordingOutlet(on_push=fail_first)
    Link(nodes.ValueInlet([1, 2]), outlet, 1, ignore_exceptions=True,
         groupers=lambda batches: [[r] for r in batches[0]]).transfer()
    assert outlet.payloads == [[1], [2]]
    assert len(_error_records(link_log)) == 1


@pytest.mark.parametrize("where", ["inlet", "async_inlet", "processor", "grouper", "outlet",
                                   "async_outlet", "outlet_processor"])
def test_without_ignore_exceptions_original_type_propagates(nodes, where):
    """With ignore_exceptions=False the node's exception leaves transfer() with its own type."""
    inlet = nodes.ValueInlet([1])
    outlet = nodes.RecordingOutlet()
    kwargs = {}
    if where == "inlet":
        inlet = nodes.FuncInlet(_boom)
    elif where == "async_inlet":
        inlet = nodes.AsyncFuncInlet(_async_boom)
    elif where == "processor":
        kwargs["processors"] = _boom
    elif where == "grouper":
        kwargs["groupers"] = _boom
    elif where == "outlet":
        outlet = nodes.RecordingOutlet(on_push=_boom)
    elif where == "async_outlet":
        outlet = nodes.AsyncRecordingOutlet(on_push=_async_boom)
    else:
        outlet = nodes.RecordingOutlet(processors=_boom)
    link = Link(inlet, outlet, 1, **kwargs)
    assert link.ignore_exceptions is False
    with pytest.raises(NodeFailure):
        link.transfer()
    link.on_shutdown()


def test_exception_propagates_from_one_of_many_concurrent_inlets(nodes):
    """One failing inlet among several raises its exception unchanged, after the others' records went out."""
    inlets = [nodes.ValueInlet(1), nodes.FuncInlet(_boom), nodes.ValueInlet(2)]
    outlet = nodes.RecordingOutlet()
    with pytest.raises(NodeFailure, match="boom"):
        Link(inlets, outlet, 1).transfer()
    assert outlet.payloads == [[1, 2]]


def test_exception_inside_running_loop_propagates(nodes):
    """An async link called from inside a running loop still raises the node's exception."""
    import asyncio

    link = Link(nodes.AsyncFuncInlet(_async_boom), nodes.RecordingOutlet(), 1)

    async def main():
        with pytest.raises(NodeFailure):
            link.transfer()

    asyncio.run(main())


def test_base_exceptions_are_never_swallowed(nodes):
    """KeyboardInterrupt from a pull propagates even with ignore_exceptions=True."""
    def interrupt(update):
        raise KeyboardInterrupt

    link = Link(nodes.FuncInlet(interrupt), nodes.RecordingOutlet(), 1, ignore_exceptions=True)
    with pytest.raises(KeyboardInterrupt):
        link.transfer()


@pytest.mark.parametrize("garbage", [None, "text", 5, (), {"a": 1}], ids=repr)
def test_processor_returning_garbage_is_a_clear_failure(nodes, garbage):
    """A link processor returning a non-list raises TypeError saying what it returned."""
    def bad(records):
        return garbage

    link = Link(nodes.ValueInlet([1]), nodes.RecordingOutlet(), 1, processors=bad)
    with pytest.raises(TypeError) as info:
        link.transfer()
    message = str(info.value)
    assert "processor" in message and repr(garbage) in message and "list" in message


@pytest.mark.parametrize("garbage", [None, "text", [1, 2], ([],), [[], None]], ids=repr)
def test_grouper_returning_garbage_is_a_clear_failure(nodes, garbage):
    """A grouper returning something other than a list of lists raises a clear TypeError."""
    def bad(batches):
        return garbage

    link = Link(nodes.ValueInlet([1]), nodes.RecordingOutlet(), 1, groupers=bad)
    with pytest.raises(TypeError) as info:
        link.transfer()
    message = str(info.value)
    assert "grouper" in message and "list" in message


@pytest.mark.parametrize("garbage", [None, "text", 5], ids=repr)
def test_outlet_processor_returning_garbage_is_a_clear_failure(nodes, garbage):
    """An outlet processor returning a non-list fails clearly instead of reaching push."""
    def bad(records):
        return garbage

    outlet = nodes.RecordingOutlet(processors=bad)
    link = Link(nodes.ValueInlet([1]), outlet, 1)
    with pytest.raises(TypeError) as info:
        link.transfer()
    message = str(info.value)
    assert "processor" in message and repr(garbage) in message and "list" in message
    assert outlet.pushes == []


def test_garbage_from_processor_is_logged_and_skipped(nodes, link_log):
    """With ignore_exceptions=True a processor returning None is logged and its result ignored."""
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1]), outlet, 1, ignore_exceptions=True,
         processors=lambda records: None).transfer()
    assert outlet.payloads == [[1]]
    record = _assert_logged_once(link_log, "returned None")
    assert record.exc_info[0] is TypeError


def test_garbage_from_grouper_is_logged_and_skipped(nodes, link_log):
    """With ignore_exceptions=True a grouper returning None is logged and batches stay."""
    outlet = nodes.RecordingOutlet()
    Link(nodes.ValueInlet([1]), outlet, 1, ignore_exceptions=True,
         groupers=lambda batches: None).transfer()
    assert outlet.payloads == [[1]]
    _assert_logged_once(link_log, "returned None")


def test_garbage_from_outlet_processor_is_logged(nodes, link_log):
    """With ignore_exceptions=True an outlet processor returning None skips that outlet's push."""
    bad = nodes.RecordingOutlet(processors=lambda records: None, label="bad")
    good = nodes.RecordingOutlet(label="good")
    Link(nodes.ValueInlet([1]), [bad, good], 1, ignore_exceptions=True).transfer()
    assert bad.pushes == [] and good.payloads == [[1]]
    _assert_logged_once(link_log, repr(bad), "returned None")


def test_broken_new_record_override_counts_as_inlet_failure(nodes, link_log):
    """An inlet whose new_record override raises is reported as that inlet's failure."""
    from databay import Inlet

    class Broken(Inlet):
        def pull(self, update):
            return 1

        def new_record(self, payload, metadata=None):
            raise NodeFailure("new_record")

    inlet = Broken()
    outlet = nodes.RecordingOutlet()
    Link([inlet, nodes.ValueInlet(2)], outlet, 1, ignore_exceptions=True).transfer()
    assert outlet.payloads == [[2]]
    _assert_logged_once(link_log, repr(inlet))
    with pytest.raises(NodeFailure):
        Link(inlet, outlet, 1).transfer()


def test_nothing_logged_when_all_is_well(nodes, link_log):
    """A successful transfer logs no errors."""
    Link(nodes.ValueInlet(1), nodes.RecordingOutlet(), 1, ignore_exceptions=True).transfer()
    assert _error_records(link_log) == []


def test_on_start_failure_logged_with_ignore_exceptions(nodes, link_log):
    """Link.on_start with ignore_exceptions=True logs a failing node and starts the others."""
    class BadStart(nodes.ValueInlet):
        def on_start(self):
            raise NodeFailure("start")

    bad, good = BadStart(1), nodes.ValueInlet(2)
    Link([bad, good], [], 1, ignore_exceptions=True).on_start()
    assert good.active and not bad.active
    assert len(_error_records(link_log)) == 1
    with pytest.raises(NodeFailure):
        Link(BadStart(1), [], 1).on_start()
