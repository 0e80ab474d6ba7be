"""Items 2 and 3: InletTester as 0.3.0 users wrote it, and its metadata check on databay's own inlets."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import unittest

import pytest

from databay import Inlet
from databay.inlets import FileInlet, HttpInlet, RandomIntInlet
from databay.misc import inlet_tester


def run_case(case):
    """Run a TestCase class with unittest; return (result, output)."""
    stream = io.StringIO()
    suite = unittest.TestLoader().loadTestsFromTestCase(case)
    result = unittest.TextTestRunner(stream=stream, verbosity=2, warnings="error").run(suite)
    return result, stream.getvalue()


def names(result, kind):
    return sorted({getattr(test, "test_case", test)._testMethodName for test, _ in getattr(result, kind)})


def test_030_test_method_names_exist():
    """0.3.0's four test names are InletTester tests, so subclasses can override or call them."""
    for name in ("test_new_record", "test_new_record_override_global", "test_dont_read_metadata",
                 "test_pull"):
        assert callable(getattr(inlet_tester.InletTester, name)), name


def test_030_docs_example_runs_as_written(tmp_path):
    """0.3.0's 'Test your inlet' example, in a file of its own, passes under pytest."""
    module = tmp_path / "test_random_int_inlet.py"
    module.write_text(textwrap.dedent("""
        from databay.inlets import RandomIntInlet
        from databay.misc import inlet_tester

        class RandomIntInletTest(inlet_tester.InletTester):

            def get_inlet(self):
                return RandomIntInlet()

        class RandomIntInletListTest(inlet_tester.InletTester):

            def get_inlet(self):
                return [
                    RandomIntInlet(),
                    RandomIntInlet(min=10, max=200),
                ]
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                             "-W", "error", module.name], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("test_new_record", "test_new_record_override_global", "test_dont_read_metadata",
                 "test_pull"):
        for case in ("RandomIntInletTest", "RandomIntInletListTest"):
            assert "::%s::%s PASSED" % (case, name) in result.stdout, result.stdout
    assert "16 passed" in result.stdout, result.stdout


class NetworkInlet(Inlet):
    """Stands for an inlet that would reach the network: pulling fails the test."""

    pulls = 0

    def pull(self, update):
        NetworkInlet.pulls += 1
        raise AssertionError("pulled from the network")


def test_subclass_overriding_test_pull_does_not_pull():
    """A 0.3.0-style subclass overriding test_pull keeps the tester from pulling in test_pull."""
    class TestNetworkInlet(inlet_tester.InletTester):
        def get_inlet(self):
            return NetworkInlet()

        def test_pull(self):
            self.assertIsInstance(self.inlet, NetworkInlet)  # 0.3.0's self.inlet

        def test_dont_read_metadata(self):
            pass

    NetworkInlet.pulls = 0
    result, output = run_case(TestNetworkInlet)
    assert result.wasSuccessful(), output
    assert NetworkInlet.pulls == 0, output
    assert result.testsRun == 8


def test_without_the_override_the_same_inlet_is_pulled():
    """The control: without the overrides the tester pulls, and the failing pull is reported."""
    class TestNetworkInlet(inlet_tester.InletTester):
        def get_inlet(self):
            return NetworkInlet()

    NetworkInlet.pulls = 0
    result, output = run_case(TestNetworkInlet)
    assert names(result, "failures") + names(result, "errors") == ["test_dont_read_metadata",
                                                                    "test_pull"], output
    assert NetworkInlet.pulls > 0


def test_subclass_calling_super_test_pull_runs_the_checks():
    """super().test_pull() from an override runs the real checks (and they can fail)."""
    class NoneInlet(Inlet):
        def pull(self, update):
            return None

    class TestNoneInlet(inlet_tester.InletTester):
        def get_inlet(self):
            return NoneInlet()

        def test_pull(self):
            super().test_pull()

    result, output = run_case(TestNoneInlet)
    assert names(result, "failures") == ["test_pull"], output
    assert "payload None" in output


def test_030_style_test_pull_override_runs_as_written(text_file):
    """An override written like 0.3.0's own test_pull body: a patched Update, on_start,
    asyncio.run(self.inlet._pull(update)), and self.gmetadata in every record."""
    module = textwrap.dedent("""
        import asyncio
        from unittest.mock import patch

        from databay import Record
        from databay.inlets import FileInlet
        from databay.inlets.file_inlet import FileInletMode
        from databay.misc import inlet_tester

        class TestFileInlet(inlet_tester.InletTester):

            def get_inlet(self):
                return [FileInlet(PATH), FileInlet(PATH, read_mode=FileInletMode.FILE)]

            @patch("databay.Update")
            def test_pull(self, update):
                self.inlet.on_start()
                records = asyncio.run(self.inlet._pull(update))
                self.inlet.on_shutdown()

                self.assertIsInstance(records, (list))
                self.assertTrue(records)
                for record in records:
                    self.assertIsInstance(record, Record)
                    self.assertIsNotNone(record.payload)
                    self.assertLessEqual(self.gmetadata.items(), record.metadata.items(),
                                         'Global metadata should be contained in record.metadata')
    """).replace("PATH", repr(str(text_file)))
    namespace = {"__name__": "user_tests"}
    exec(compile(module, "user_tests.py", "exec"), namespace)
    result, output = run_case(namespace["TestFileInlet"])
    assert result.wasSuccessful() and result.testsRun == 8, output


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("first\nsecond\n")
    return path


def test_kit_passes_on_databays_file_and_http_inlets(text_file, json_server):
    """Item 3: FileInlet and HttpInlet show their metadata in repr; the kit no longer calls that a read."""
    class TestBuiltins(inlet_tester.InletTester):
        def get_inlet(self):
            return [FileInlet(text_file, metadata={"source": "file"}),
                    FileInlet(text_file, read_mode="file", metadata={"source": "file"}),
                    HttpInlet(json_server + "/json", metadata={"source": "http"}),
                    RandomIntInlet(metadata={"source": "dice"})]

    result, output = run_case(TestBuiltins)
    assert result.wasSuccessful(), output
    assert result.testsRun == 8 and not result.skipped, output


def test_kit_still_reports_a_pull_that_reads_metadata_through_str():
    """Reads inside the inlet's repr are allowed; the same read made by pull itself is not."""
    class ReadingInlet(Inlet):
        def pull(self, update):
            return sorted(self.metadata)

    class TestReadingInlet(inlet_tester.InletTester):
        def get_inlet(self):
            return ReadingInlet(metadata={"a": 1})

    result, output = run_case(TestReadingInlet)
    assert names(result, "failures") == ["test_dont_read_metadata"], output
    assert "by TestReadingInlet" in output or "ReadingInlet.pull" in output
