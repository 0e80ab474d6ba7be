"""databay_testing: test inlets, outlets and whole pipelines, on a schedule, in virtual time.

- :class:`VirtualClock`: ``SchedulePlanner(..., clock=VirtualClock())`` runs
  hours of schedule in milliseconds; ``clock.advance(seconds)`` runs every
  transfer due on the way and returns when they have ended.
- :class:`CaptureOutlet`, :func:`run_transfers`, :func:`running_planner` and
  :func:`virtual_planner`: the pipeline harness.
- :class:`InletTester`, :class:`OutletTester`: ``unittest.TestCase`` bases to
  subclass in your tests (they never run by themselves).
- :mod:`databay_testing.strategies`: Hypothesis strategies for payloads,
  metadata, records, updates, pull results, adversarial outlet payloads and
  schedules.
- :class:`PipelineMachine`: a Hypothesis state machine that fuzzes a running
  pipeline and checks that no pulled record is ever silently lost.
- :mod:`databay_testing.oracle`: which records a pull result must become.
- :func:`pull_records`: pull an inlet through a real Link and get its records.
- A pytest plugin (fixtures ``virtual_clock``, ``planner``, ``capture_outlet``),
  registered when this package is installed.

Installed with the ``databay[testing]`` extra. The clock and the harness need
only databay; the testers, strategies and the state machine need Hypothesis and
are loaded on first use.
"""

from .clock import ClockStalled, VirtualClock
from .harness import CapturedPush, CaptureOutlet, run_transfers, running_planner, virtual_planner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import oracle, strategies
    from ._running import pull_records
    from .fuzzing import PipelineMachine
    from .inlet_tester import InletTester
    from .outlet_tester import OutletTester

__all__ = ["CaptureOutlet", "CapturedPush", "ClockStalled", "InletTester", "OutletTester",
           "PipelineMachine", "VirtualClock", "oracle", "pull_records", "run_transfers",
           "running_planner", "strategies", "virtual_planner"]

# name -> (module, attribute or None for the module itself)
_LAZY = {
    "InletTester": (".inlet_tester", "InletTester"),
    "OutletTester": (".outlet_tester", "OutletTester"),
    "PipelineMachine": (".fuzzing", "PipelineMachine"),
    "pull_records": ("._running", "pull_records"),
    "oracle": (".oracle", None),
    "strategies": (".strategies", None),
}


def __getattr__(name: str) -> object:
    """Load the Hypothesis-based parts on first use, with the fix when Hypothesis is missing."""
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError("module %r has no attribute %r" % (__name__, name)) from None
    import importlib

    try:
        module = importlib.import_module(module_name, __name__)
    except ModuleNotFoundError as error:
        if error.name != "hypothesis" and not (error.name or "").startswith("hypothesis."):
            raise
        raise ImportError("databay_testing.%s needs Hypothesis; install it with "
                          'pip install "databay[testing]"' % name) from error
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
