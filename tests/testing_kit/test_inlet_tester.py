"""InletTester, tested by running it: good inlets pass, broken ones fail with a clear message."""

import asyncio
import io
import unittest

import pytest
from hypothesis import settings

import databay_testing
from databay import Inlet, Record


def run(get_inlet, **attributes):
    """Run an InletTester subclass whose get_inlet() calls ``get_inlet``; return (result, output)."""
    case = type("CheckedInlet", (databay_testing.InletTester,),
                {"get_inlet": lambda self: get_inlet(), "__module__": __name__, **attributes})
    stream = io.StringIO()
    suite = unittest.TestLoader().loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(stream=stream, verbosity=2, warnings="error").run(suite)
    return result, stream.getvalue()


def failed(result):
    """Names of the test methods that failed or errored (subtests included)."""
    return sorted({test.id().split(".")[-1].split(" ")[0] for test, _ in result.failures + result.errors})


# -- inlets that honour the contract ------------------------------------------------------------


class CounterInlet(Inlet):
    """Returns plain values, a record with local metadata and a nested list."""

    def __init__(self, start=0, metadata=None):
        super().__init__(metadata=metadata)
        self.count = start

    def pull(self, update):
        self.count += 1
        return [self.count, self.new_record(payload={"n": self.count}, metadata={"local": 1}), [1, 2]]


class AsyncInlet(Inlet):
    """An async def pull."""

    async def pull(self, update):
        await asyncio.sleep(0)
        return {"update": str(update)}


class TaggingInlet(Inlet):
    """Overrides new_record correctly, through super()."""

    def new_record(self, payload, metadata=None):
        return super().new_record(payload, {"tagged": True, **(metadata or {})})

    def pull(self, update):
        return ["a", "b"]


class LifecycleInlet(Inlet):
    """Opens a resource in on_start and closes it in on_shutdown."""

    def __init__(self, metadata=None):
        super().__init__(metadata=metadata)
        self.resource = None

    def on_start(self):
        self.resource = iter(range(1000))

    def on_shutdown(self):
        self.resource = None

    def pull(self, update):
        return next(self.resource)


@pytest.mark.parametrize("get_inlet", [
    lambda: CounterInlet(metadata={"source": "counter"}),
    lambda: AsyncInlet(metadata={"source": "async", "__inlet__": "ignored"}),
    lambda: TaggingInlet(),
    lambda: LifecycleInlet(metadata={"tagged": "global"}),
    lambda: [CounterInlet(), AsyncInlet(metadata={"x": 1}), TaggingInlet()],
], ids=["sync", "async", "new_record-override", "lifecycle", "list-of-inlets"])
def test_correct_inlet_passes(get_inlet):
    """Every InletTester test passes for an inlet that honours the contract."""
    result, output = run(get_inlet)
    assert result.wasSuccessful(), output
    assert result.testsRun == 8 and not result.skipped, output


def test_each_inlet_of_a_list_is_its_own_subtest():
    """With a list of inlets, a failure names the broken inlet and the others still pass."""
    result, output = run(lambda: [CounterInlet(), NonePayloadInlet(), AsyncInlet()])
    assert failed(result) == ["test_pull"], output
    assert "inlet='1: NonePayloadInlet'" in output
    assert "0: CounterInlet" not in output and "2: AsyncInlet" not in output


# -- the four broken inlets the issue lists -----------------------------------------------------


class ReadsMetadataInlet(Inlet):
    """Reads its global metadata in pull to configure itself."""

    def pull(self, update):
        return self.metadata.get("source", "default")


class HandmadeRecordInlet(Inlet):
    """Drops the global metadata by building Record(...) itself."""

    def pull(self, update):
        return [Record(payload=1, metadata={"local": True})]


class SkipsSuperInitInlet(Inlet):
    """Its __init__ never calls super().__init__()."""

    def __init__(self, source="x"):
        self.source = source

    def pull(self, update):
        return self.source


class NonePayloadInlet(Inlet):
    """Returns None when it has no data, which becomes a record with payload None."""

    def pull(self, update):
        return None


def test_inlet_reading_global_metadata_fails():
    """An inlet that reads its global metadata in pull fails, naming the read and where it happened."""
    result, output = run(lambda: ReadsMetadataInlet(metadata={"source": "s"}))
    assert failed(result) == ["test_dont_read_metadata"], output
    assert "ReadsMetadataInlet read its global metadata:" in output
    assert "get('source') by ReadsMetadataInlet.pull (" in output
    assert "test_inlet_tester.py:" in output


def test_inlet_building_records_by_hand_fails():
    """An inlet that builds Record(...) itself fails: its records lack the global metadata."""
    result, output = run(lambda: HandmadeRecordInlet(metadata={"source": "s"}))
    assert failed(result) == ["test_pull"], output
    assert "lacks the global metadata ['source', 'global', 'databay_testing.global']" in output
    assert "build records with self.new_record(payload, metadata)" in output


def test_inlet_skipping_super_init_fails_every_test():
    """An inlet whose __init__ skips super().__init__() fails every test with databay's message."""
    result, output = run(lambda: SkipsSuperInitInlet())
    assert len(result.failures) == result.testsRun == 8 and not result.errors, output
    assert output.count("AssertionError: SkipsSuperInitInlet.__init__ did not call super().__init__(); "
                        "add super().__init__(...) to SkipsSuperInitInlet.__init__") == 8


def test_inlet_producing_none_payloads_fails():
    """An inlet whose pull produces a record with payload None fails and is told to return []."""
    result, output = run(lambda: NonePayloadInlet())
    assert failed(result) == ["test_pull"], output
    assert "pull produced record 0 with payload None" in output
    assert "Return [] when there is nothing to pull" in output


# -- more ways to break the contract ------------------------------------------------------------


class UnpacksMetadataInlet(Inlet):
    """Copies its global metadata with {**...} (C code calls keys() and __getitem__)."""

    async def pull(self, update):
        return [{**self.metadata, "n": 1}]


class MutatesMetadataInlet(Inlet):
    """Counts pulls in its global metadata."""

    def pull(self, update):
        self.metadata["pulls"] = 1
        return 1


class ReadsInOnStartInlet(Inlet):
    """Reads its global metadata in on_start."""

    def on_start(self):
        self.url = dict(self.metadata).get("url")

    def pull(self, update):
        return 1


class GlobalWinsInlet(Inlet):
    """Overrides new_record and lets global metadata win over local metadata."""

    def new_record(self, payload, metadata=None):
        record = super().new_record(payload, metadata)
        record.metadata.update(self.metadata)
        record.metadata["__inlet__"] = str(self)
        return record

    def pull(self, update):
        return 1


class EmptyInlet(Inlet):
    """Has nothing to pull."""

    def pull(self, update):
        return []


def test_inlet_unpacking_global_metadata_fails():
    """Reads made from C code ({**metadata}) in an async pull are attributed to the pull."""
    result, output = run(lambda: UnpacksMetadataInlet())
    assert failed(result) == ["test_dont_read_metadata"], output
    assert "keys() by UnpacksMetadataInlet.pull (" in output


def test_inlet_mutating_global_metadata_fails():
    """An inlet that writes to its global metadata fails test_dont_read_metadata, saying so."""
    result, output = run(lambda: MutatesMetadataInlet())
    assert failed(result) == ["test_dont_read_metadata"], output
    assert ("MutatesMetadataInlet changed its global metadata:\n"
            "  ['pulls'] = ... by MutatesMetadataInlet.pull") in output


def test_inlet_reading_metadata_in_on_start_fails():
    """Reads in on_start count too: the spy is in place for the whole start-pull-shutdown cycle."""
    result, output = run(lambda: ReadsInOnStartInlet())
    assert failed(result) == ["test_dont_read_metadata"], output
    assert "by ReadsInOnStartInlet.on_start (" in output


def test_new_record_override_breaking_precedence_fails():
    """The Hypothesis property finds a new_record override where global beats local metadata."""
    result, output = run(lambda: GlobalWinsInlet(),
                         hypothesis_settings=settings(max_examples=30, deadline=None, database=None))
    assert "test_new_record_metadata_precedence_property" in failed(result), output
    assert "test_new_record_override_global" in failed(result), output
    assert ("gave metadata['databay_testing.global'] = 'added by InletTester', expected 'local' "
            "(local metadata wins over global metadata)") in output


def test_inlet_with_no_records_skips_record_checks():
    """An inlet whose pull gives no records skips the record checks instead of passing them silently."""
    result, output = run(lambda: EmptyInlet())
    assert result.wasSuccessful(), output
    assert len(result.skipped) == 1, output
    assert "pull produced no records, so there is nothing to check" in output


def test_get_inlet_returning_a_non_inlet_fails():
    """get_inlet() returning something other than inlets fails every test, saying what it returned."""
    result, output = run(lambda: "not an inlet")
    assert len(result.failures) == 8, output
    assert "get_inlet() must return one Inlet or a list of them, got 'not an inlet'" in output


# -- never collected, never passing silently ----------------------------------------------------


def test_base_class_is_skipped_when_run():
    """Running the InletTester base itself skips it (unittest ignores __test__) and runs no test."""
    stream = io.StringIO()
    suite = unittest.TestLoader().loadTestsFromTestCase(databay_testing.InletTester)
    result = unittest.TextTestRunner(stream=stream, warnings="error").run(suite)
    assert result.testsRun == 0 and len(result.skipped) == 1
    assert "InletTester is a base class: subclass it and implement get_inlet()" in result.skipped[0][1]


def test_subclass_without_get_inlet_is_skipped():
    """A subclass that does not implement get_inlet() is skipped with a reason, never run."""
    case = type("Forgetful", (databay_testing.InletTester,), {"__module__": __name__})
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, warnings="error").run(
        unittest.TestLoader().loadTestsFromTestCase(case))
    assert result.testsRun == 0 and len(result.skipped) == 1
    assert "Forgetful does not implement get_inlet(): return the inlet(s) to test" in result.skipped[0][1]


def test_test_attribute_is_false_on_bases_and_true_on_subclasses():
    """__test__ is False on the kit's bases and turned on for subclasses unless they set it."""
    assert databay_testing.InletTester.__test__ is False
    assert databay_testing.OutletTester.__test__ is False
    assert type("Mine", (databay_testing.InletTester,), {}).__test__ is True
    assert type("Mine", (databay_testing.InletTester,), {"__test__": False}).__test__ is False


def test_compatibility_path_is_the_same_class():
    """databay.misc.inlet_tester.InletTester (the 0.3.0 path) is databay_testing.InletTester."""
    from databay.misc import inlet_tester

    assert inlet_tester.InletTester is databay_testing.InletTester


class ReprReadsMetadataInlet(Inlet):
    """Shows its metadata in its own __repr__, which databay calls for '__inlet__'."""

    def __repr__(self):
        return f"ReprReadsMetadataInlet({sorted(self.metadata)})"

    def pull(self, update):
        return 1


class HoldsMetadataInlet(Inlet):
    """Passes its metadata object around without looking inside."""

    def pull(self, update):
        return [self.new_record(1, metadata=None if self.metadata is None else {"held": True})]


def test_reads_made_by_the_inlets_own_repr_are_allowed():
    """A __repr__ showing the metadata (databay calls it for '__inlet__') is not the inlet reading it."""
    result, output = run(lambda: ReprReadsMetadataInlet(metadata={"a": 1}))
    assert result.wasSuccessful(), output


def test_touching_the_metadata_object_without_reading_it_passes():
    """Using the metadata property without reading its contents is not a read."""
    result, output = run(lambda: HoldsMetadataInlet(metadata={"a": 1}))
    assert result.wasSuccessful(), output
