"""Fixtures for the observability tests: small nodes whose behaviour a test controls.

Tests run with ``--import-mode=importlib``, so helpers are handed out through
the ``obs`` fixture instead of being imported from this module.
"""

import threading
import types

import pytest

from databay import Inlet, Outlet


class CountInlet(Inlet):
    """Returns ``size`` records per pull; raises while ``failing`` is set; may run ``hook`` first."""

    def __init__(self, size=1, label="in", failing=False):
        super().__init__()
        self.size = size
        self.label = label
        self.failing = failing
        self.hook = None
        self.pulls = 0

    def pull(self, update):
        self.pulls += 1
        if self.hook is not None:
            self.hook()
        if self.failing:
            raise ConnectionError("source %s unreachable" % self.label)
        return list(range(self.size))

    def __repr__(self):
        return "CountInlet(%s)" % self.label


class KeepOutlet(Outlet):
    """Keeps what it receives; raises ``error`` instead while ``failing`` is set."""

    def __init__(self, label="out", failing=False):
        super().__init__()
        self.label = label
        self.failing = failing
        self.records = []
        self.pushed = threading.Event()

    def push(self, records, update):
        if self.failing:
            raise ValueError("database %s refused the batch" % self.label)
        self.records.extend(records)
        self.pushed.set()

    def __repr__(self):
        return "KeepOutlet(%s)" % self.label


@pytest.fixture
def obs():
    """The helper node classes."""
    return types.SimpleNamespace(CountInlet=CountInlet, KeepOutlet=KeepOutlet)
