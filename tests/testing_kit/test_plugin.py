"""The pytest plugin: registered by the pytest11 entry point, fixtures usable with no import or conftest."""

import os
import pathlib
import subprocess
import sys
import textwrap

import databay_testing

ROOT = str(pathlib.Path(databay_testing.__file__).resolve().parent.parent)

USER_TEST = textwrap.dedent('''
    from databay import Inlet, Link
    from databay_testing import CaptureOutlet, VirtualClock, run_transfers


    class One(Inlet):
        def pull(self, update):
            return 1


    def test_fixtures(virtual_clock, capture_outlet):
        assert isinstance(virtual_clock, VirtualClock) and isinstance(capture_outlet, CaptureOutlet)
        assert capture_outlet.clock is virtual_clock
        run_transfers(Link(One(), capture_outlet, interval=1), 2)
        assert capture_outlet.payloads == [1, 1]
''')


def run_pytest(tmp_path, *args):
    (tmp_path / "test_user_pipeline.py").write_text(USER_TEST)
    env = {**os.environ, "PYTHONPATH": ROOT}
    process = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args,
                              "test_user_pipeline.py"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=120)
    return process.returncode, process.stdout + process.stderr


def test_fixtures_work_in_a_project_without_conftest(tmp_path):
    """A test module elsewhere uses virtual_clock and capture_outlet with no conftest and no import."""
    code, output = run_pytest(tmp_path)
    assert code == 0 and "1 passed" in output, output


def test_the_fixtures_come_from_the_entry_point_plugin(tmp_path):
    """Disabling the plugin by its entry-point name (-p no:databay) removes the fixtures."""
    code, output = run_pytest(tmp_path, "-p", "no:databay")
    assert code != 0 and "fixture 'virtual_clock' not found" in output, output


def test_plugin_and_virtual_time_load_without_hypothesis():
    """Without Hypothesis the plugin, the clock and the harness import; the testers say what to install."""
    code = textwrap.dedent('''
        import sys
        sys.modules["hypothesis"] = None  # as if Hypothesis were not installed
        import databay_testing.pytest_plugin
        from databay_testing import CaptureOutlet, VirtualClock
        VirtualClock().advance(5)
        try:
            databay_testing.InletTester
        except ImportError as error:
            print("ImportError:", error)
    ''')
    output = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": ROOT},
                            capture_output=True, text=True, timeout=60)
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == ('ImportError: databay_testing.InletTester needs Hypothesis; '
                                     'install it with pip install "databay[testing]"'), output.stdout
