"""OutletTester, tested by running it: good outlets pass, broken ones fail with a clear message."""

import asyncio
import io
import json
import unittest

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st

import databay_testing
from databay import Outlet, Record
from databay_testing import strategies

FAST = settings(max_examples=25, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink])


def run(get_outlet, **attributes):
    """Run an OutletTester subclass whose get_outlet() calls ``get_outlet``; return (result, output)."""
    case = type("CheckedOutlet", (databay_testing.OutletTester,),
                {"get_outlet": lambda self: get_outlet(), "__module__": __name__,
                 "hypothesis_settings": FAST, **attributes})
    stream = io.StringIO()
    suite = unittest.TestLoader().loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(stream=stream, verbosity=2, warnings="error").run(suite)
    return result, stream.getvalue()


def failed(result):
    """Names of the test methods that failed or errored (subtests included)."""
    return sorted({test.id().split(".")[-1].split(" ")[0] for test, _ in result.failures + result.errors})


class ListOutlet(Outlet):
    """Keeps a text rendering of every payload, only while started."""

    def __init__(self, processors=None):
        super().__init__(processors=processors)
        self.lines = None

    def on_start(self):
        self.lines = []

    def on_shutdown(self):
        self.lines = None

    def push(self, records, update):
        self.lines.extend(f"{update} {record.payload!r} {record.metadata!r}" for record in records)


class AsyncOutlet(Outlet):
    """An async def push."""

    def __init__(self):
        super().__init__()
        self.count = 0

    async def push(self, records, update):
        await asyncio.sleep(0)
        self.count += len(records)


@pytest.mark.parametrize("get_outlet", [
    ListOutlet, AsyncOutlet, lambda: [ListOutlet(), AsyncOutlet()],
], ids=["sync", "async", "list-of-outlets"])
def test_correct_outlet_passes(get_outlet):
    """Every OutletTester test passes for an outlet that honours the contract."""
    result, output = run(get_outlet)
    assert result.wasSuccessful(), output
    assert result.testsRun == 8 and len(result.skipped) == 2, output  # the opt-in tests skip
    assert all("opt-in: implement CheckedOutlet.read_back(outlet)" in reason for _, reason in result.skipped)


class StampingOutlet(Outlet):
    """Writes into the metadata of the records it is given."""

    def push(self, records, update):
        for record in records:
            record.metadata["pushed"] = str(update)


class ConsumingOutlet(Outlet):
    """Empties the list it is given."""

    def push(self, records, update):
        while records:
            records.pop()


class ReplacingOutlet(Outlet):
    """Replaces payloads with their JSON text."""

    def push(self, records, update):
        for record in records:
            record.payload = json.dumps(record.payload, default=repr)


class SkipsSuperInitOutlet(Outlet):
    """Its __init__ never calls super().__init__()."""

    def __init__(self):
        self.sent = []

    def push(self, records, update):
        self.sent.extend(records)


class NoEmptyOutlet(Outlet):
    """Fails on an empty batch."""

    def push(self, records, update):
        records[0]  # noqa: B018


class DictOnlyOutlet(Outlet):
    """Accepts dict payloads only, like a CSV writer."""

    def push(self, records, update):
        for record in records:
            dict(record.payload)


def test_outlet_changing_metadata_fails():
    """An outlet that writes into record metadata fails, naming the record and the change."""
    result, output = run(StampingOutlet)
    assert failed(result) == ["test_push_does_not_change_records", "test_push_generated_records_property"]
    assert "StampingOutlet.push changed the metadata of record 0 from {'source': 'test', 'tags': ['a']} " \
           "to {'source': 'test', 'tags': ['a'], 'pushed': 'databay_testing.0'}" in output, output


def test_outlet_emptying_the_list_fails():
    """An outlet that empties the list it is given fails."""
    result, output = run(ConsumingOutlet)
    assert "test_push_does_not_change_records" in failed(result), output
    assert "ConsumingOutlet.push changed the list of records it was given" in output


def test_outlet_replacing_payloads_fails():
    """An outlet that assigns new payloads to the records it is given fails."""
    result, output = run(ReplacingOutlet)
    assert "test_push_does_not_change_records" in failed(result), output
    assert "ReplacingOutlet.push replaced the payload of record 0" in output


def test_outlet_skipping_super_init_fails():
    """An outlet whose __init__ skips super().__init__() fails every test with databay's message."""
    result, output = run(SkipsSuperInitOutlet)
    assert len(result.failures) == result.testsRun - 2 == 6 and len(result.skipped) == 2, output
    assert "SkipsSuperInitOutlet.__init__ did not call super().__init__()" in output


def test_outlet_rejecting_empty_batches_fails():
    """Outlets must accept empty lists: a link pushes even when a batch is empty."""
    result, output = run(NoEmptyOutlet)
    assert "test_push_empty_list" in failed(result) and "test_push_through_a_link" in failed(result)
    assert "IndexError" in output


def test_generated_records_find_unusual_payloads():
    """The generated records find an outlet that only copes with dict payloads, with a shrunk example."""
    result, output = run(DictOnlyOutlet)
    assert failed(result) == ["test_push_generated_records_property", "test_push_through_a_link"], output
    # Hypothesis says "Falsifying example" before 6.1xx and "Failing test case" after
    assert "Failing test case: prop(" in output or "Falsifying example: prop(" in output, output
    assert "TypeError" in output


def test_record_lists_can_be_narrowed():
    """Overriding record_lists() narrows the generated records to what the outlet accepts."""
    def dict_records(self):
        payload = st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
        return st.lists(strategies.records(payload=payload), max_size=4)
    result, output = run(DictOnlyOutlet, record_lists=dict_records)
    assert result.wasSuccessful(), output


def test_base_class_and_forgetful_subclass_are_skipped():
    """The OutletTester base and a subclass without get_outlet() are skipped, never run."""
    forgetful = type("Forgetful", (databay_testing.OutletTester,), {"__module__": __name__})
    for case, reason in ((databay_testing.OutletTester, "OutletTester is a base class"),
                         (forgetful, "Forgetful does not implement get_outlet()")):
        result = unittest.TextTestRunner(stream=io.StringIO(), warnings="error").run(
            unittest.TestLoader().loadTestsFromTestCase(case))
        assert result.testsRun == 0 and len(result.skipped) == 1
        assert reason in result.skipped[0][1]


def test_outlet_processors_run_through_the_link():
    """Outlet processors take part in the link test, which pushes records and empty batches."""
    seen = []
    result, output = run(lambda: ListOutlet(processors=lambda records: seen.append(len(records)) or records))
    assert result.wasSuccessful(), output
    assert len(seen) > 2 and seen[-1] == 0


def test_record_keeps_its_types():
    """Record(...) objects handed to outlets are the ones the test built (no copying in between)."""
    kept = []

    class Keeping(Outlet):
        def push(self, records, update):
            kept.extend(records)

    result, output = run(Keeping)
    assert result.wasSuccessful(), output
    assert kept and all(type(record) is Record for record in kept)
