"""The kit's bases are never collected or run as tests, and importing databay stays free of it."""

import os
import pathlib
import subprocess
import sys
import textwrap

import databay_testing

ROOT = str(pathlib.Path(databay_testing.__file__).resolve().parent.parent)

USER_TESTS = textwrap.dedent('''
    """A user's test module that imports the kit's bases into its namespace."""
    import databay_testing
    from databay_testing import InletTester, OutletTester
    from databay.misc.inlet_tester import InletTester as OldInletTester
    from databay import Inlet, Outlet


    class MyInlet(Inlet):
        def pull(self, update):
            return [1, 2]


    class MyOutlet(Outlet):
        def push(self, records, update):
            pass


    class TestMyInlet(databay_testing.InletTester):
        def get_inlet(self):
            return MyInlet()


    class TestMyOutlet(OutletTester):
        def get_outlet(self):
            return MyOutlet()
''')


def run(tmp_path, *args):
    """Run ``python args`` in ``tmp_path`` with the repository importable; return its output."""
    (tmp_path / "test_user.py").write_text(USER_TESTS, encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": ROOT}
    completed = subprocess.run([sys.executable, *args], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=120)
    return completed.returncode, completed.stdout + completed.stderr


def test_pytest_collects_only_the_subclasses(tmp_path):
    """pytest collects the user's subclasses and none of the kit's bases imported beside them."""
    code, output = run(tmp_path, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error",
                       "--collect-only", "-q", "test_user.py")
    assert code == 0, output
    collected = [line for line in output.splitlines() if "::" in line]
    assert len(collected) == 8 + 8, output
    assert all(line.startswith(("test_user.py::TestMyInlet::", "test_user.py::TestMyOutlet::"))
               for line in collected), output


def test_unittest_discovery_skips_the_bases(tmp_path):
    """unittest discovery runs the subclasses and reports each base as skipped, never as passed."""
    code, output = run(tmp_path, "-W", "error", "-m", "unittest", "-v", "test_user")
    assert code == 0, output
    # 2 skips for the bases, 2 for OutletTester's opt-in tests (no read_back)
    assert "Ran 16 tests" in output and "OK (skipped=4)" in output, output
    assert "InletTester is a base class: subclass it and implement get_inlet()" in output
    assert "OutletTester is a base class: subclass it and implement get_outlet()" in output


def test_importing_databay_imports_neither_the_kit_nor_hypothesis():
    """import databay loads neither databay_testing, databay.misc.inlet_tester nor hypothesis."""
    code = ("import sys, databay, databay.misc; "
            "print(sorted(m for m in sys.modules if m.startswith(('hypothesis', 'databay_testing', "
            "'databay.misc.inlet_tester'))))")
    output = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": ROOT},
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert output.strip() == "[]"
