"""The README's command-line sections match the command line."""

import os
import re
import shlex
import subprocess
import sys

from databay.cli import make_parser

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title):
    start = README.index("## %s\n" % title)
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_the_first_command_runs_from_the_repository_root(tmp_path):
    """'The two commands': the python -m databay command runs as written and does what the text says."""
    block = re.search(r"```sh\n(.*?)```", _section("The two commands"), re.S).group(1)
    line = next(line for line in block.splitlines() if line.startswith("python -m databay"))
    args = shlex.split(line.partition("#")[0])
    env = dict(os.environ, DATABAY_EXAMPLES_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "weather.sqlite").exists() and (tmp_path / "weather-dead-letters.jsonl").exists()


def test_option_table_lists_every_option_of_run():
    """Every option of `run` (but --help) is in the README's table, and the table names no other."""
    run = make_parser()._subparsers._group_actions[0].choices["run"]
    options = {option for action in run._actions for option in action.option_strings} - {"-h", "--help"}
    table = _section("Run a pipeline from the command line")
    documented = set(re.findall(r"^\| `(--[a-z-]+)", table, re.M)) | \
        set(re.findall(r", `(--[a-z-]+)", table))
    assert documented == options, "README table and `run` options differ: %s" % (documented ^ options)


def test_exit_codes_are_documented_alike_in_readme_and_help():
    """The README and `run --help` state the same three exit codes."""
    text = _section("Run a pipeline from the command line")
    assert all("**%d**" % code in text for code in (0, 1, 2))
    helptext = make_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert all("  %d  " % code in helptext for code in (0, 1, 2))


def test_the_jobs_example_passes_check_as_written(tmp_path):
    """The README's jobs/weather.py block is a valid pipeline: `run jobs.weather:link --check` exits 0."""
    section = _section("Run a pipeline from the command line")
    block = re.search(r"```python\n# jobs/weather.py\n(.*?)```", section, re.S).group(1)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "jobs" / "weather.py").write_text(block, encoding="utf-8")
    commands = re.search(r"```sh\n(python -m databay run jobs.*?)```", section, re.S).group(1)
    check = next(line for line in commands.splitlines() if "--check" in line)
    args = shlex.split(check.partition("#")[0])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jobs.weather:link: SchedulePlanner with 1 link(s), 2 node(s)" in result.stdout
