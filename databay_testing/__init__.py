"""databay_testing: check your inlets and outlets against databay's contract.

- :class:`InletTester`, :class:`OutletTester`: ``unittest.TestCase`` bases to
  subclass in your tests (they never run by themselves).
- :mod:`databay_testing.strategies`: Hypothesis strategies for payloads,
  metadata, records, updates and pull results.
- :mod:`databay_testing.oracle`: which records a pull result must become.
- :func:`pull_records`: pull an inlet through a real Link and get its records.

Installed with the ``databay[testing]`` extra (it needs Hypothesis).
"""

try:
    import hypothesis  # noqa: F401 - fail early with the fix, not deep inside strategies
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError('databay_testing needs Hypothesis; install it with '
                      'pip install "databay[testing]"') from error

from . import oracle, strategies
from ._running import pull_records
from .inlet_tester import InletTester
from .outlet_tester import OutletTester

__all__ = ["InletTester", "OutletTester", "oracle", "pull_records", "strategies"]
