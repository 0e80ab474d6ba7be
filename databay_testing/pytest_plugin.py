"""The databay pytest plugin: fixtures for tests of pipelines in virtual time.

Registered through the ``pytest11`` entry point, so installing databay makes
these fixtures available to every test, with nothing to import:

- ``virtual_clock``: a new :class:`~databay_testing.VirtualClock`;
- ``planner``: a started ``SchedulePlanner`` on ``virtual_clock``, shut down
  (and its thread joined) after the test; an exception that stopped it fails
  the test. Add links with ``planner.add_links(...)``;
- ``capture_outlet``: a :class:`~databay_testing.CaptureOutlet` stamped with
  ``virtual_clock``'s time.

Importing this module imports nothing but pytest; the fixtures load the kit
when used.
"""

from __future__ import annotations

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterator

    from databay import BasePlanner

    from .clock import VirtualClock
    from .harness import CaptureOutlet


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A new VirtualClock starting at 2030-01-01 00:00 UTC."""
    from .clock import VirtualClock

    return VirtualClock()


@pytest.fixture
def planner(virtual_clock: VirtualClock) -> Iterator[BasePlanner]:
    """A started SchedulePlanner on ``virtual_clock``; links are added by the test."""
    from .harness import virtual_planner

    with virtual_planner(clock=virtual_clock) as started:
        yield started


@pytest.fixture
def capture_outlet(virtual_clock: VirtualClock) -> CaptureOutlet:
    """A CaptureOutlet recording ``virtual_clock``'s time at every push."""
    from .harness import CaptureOutlet

    return CaptureOutlet(clock=virtual_clock)
