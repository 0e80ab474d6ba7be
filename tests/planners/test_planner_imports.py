"""The planner's modules import in any order (docs/design.md: "The planner").

``databay.planners`` loads its planners on first access, so ``databay.base_planner`` can use
the planner's parts in that package; these run in fresh interpreters because the order of the
first imports is what matters.
"""

import pytest

from .conftest import run_python

FIRST_IMPORTS = [
    "import databay.base_planner",
    "from databay import BasePlanner",
    "import databay.planners",
    "from databay.planners import SchedulePlanner",
    "import databay.planners.schedule_planner",
    "import databay.planners._transfers",
    "import databay.planners._run",
]


@pytest.mark.parametrize("first", FIRST_IMPORTS)
def test_any_first_import_gives_working_planners(first):
    code = (first + "\nfrom databay.base_planner import BasePlanner\n"
            "from databay.planners import SchedulePlanner, ScheduleIntervalError\n"
            "from databay.planners.schedule_planner import SchedulePlanner as Same\n"
            "import databay.planners as package\n"
            "assert SchedulePlanner is Same is package.SchedulePlanner\n"
            "assert issubclass(SchedulePlanner, BasePlanner)\n"
            "assert sorted(package.__all__) == sorted(n for n in package.__all__ if hasattr(package, n))\n"
            "print('ok')\n")
    result = run_python(code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_an_unknown_planner_name_is_an_attribute_error():
    import databay.planners

    with pytest.raises(AttributeError, match="NoSuchPlanner"):
        databay.planners.NoSuchPlanner  # noqa: B018


def test_a_planner_handling_signals_loads_the_signal_module_when_built_not_in_start():
    """start() installs signal handlers; importing ``signal`` there (it builds its enums) made
    the immediate transfers milliseconds late. Built with ``handle_signals`` (the default),
    the planner has loaded it already; without, building it does not load it."""
    code = ("import sys\n"
            "from databay.planners import SchedulePlanner\n"
            "SchedulePlanner(handle_signals=False)\n"
            "assert 'databay.planners._signals' not in sys.modules\n"
            "SchedulePlanner()\n"
            "assert 'databay.planners._signals' in sys.modules and 'signal' in sys.modules\n"
            "print('ok')\n")
    result = run_python(code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_start_does_not_import_logging_before_the_immediate_transfers():
    """Nothing configured logging (it is not imported), so INFO cannot show: ``start()`` does not
    import it (milliseconds) to log "Starting" before the immediate transfers run."""
    code = ("import sys\n"
            "from databay import Inlet, Link, Outlet\n"
            "from databay.planners import SchedulePlanner\n"
            "seen = []\n"
            "class In(Inlet):\n"
            "    def pull(self, update):\n"
            "        if not seen:\n"
            "            seen.append('logging' in sys.modules)\n"
            "            planner.shutdown(wait=False)\n"
            "        return 1\n"
            "class Out(Outlet):\n"
            "    def push(self, records, update):\n"
            "        pass\n"
            "planner = SchedulePlanner(Link(In(), Out(), interval=60))\n"
            "planner.start()\n"
            "assert seen == [False], seen\n"
            "print('ok')\n")
    result = run_python(code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_schedule_planner_loads_its_teardown_when_built_not_in_start():
    """start() loads the teardown so that shutdown() need not; loading it there made the
    immediate transfers 0.3-0.7 ms late. A built SchedulePlanner has loaded it already."""
    code = ("import sys\n"
            "from databay.planners import SchedulePlanner\n"
            "assert 'databay.planners._teardown' not in sys.modules\n"
            "SchedulePlanner(handle_signals=False)\n"
            "assert 'databay.planners._teardown' in sys.modules\n"
            "print('ok')\n")
    result = run_python(code, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
