"""Fixtures shared by the core tests: small inlets and outlets that record what happens.

Tests run with ``--import-mode=importlib``, so helpers are handed out through
the ``nodes`` fixture instead of being imported from this module.
"""

import logging
import threading
import types

import pytest

from databay import Inlet, Outlet


class ValueInlet(Inlet):
    """Returns ``value`` from every pull and remembers the updates it saw."""

    def __init__(self, value=None, metadata=None, label=""):
        super().__init__(metadata=metadata)
        self.value = value
        self.label = label
        self.updates = []

    def pull(self, update):
        self.updates.append(update)
        return self.value

    def __repr__(self):
        return "ValueInlet(%s)" % self.label


class FuncInlet(Inlet):
    """Returns ``func(update)`` from every pull."""

    def __init__(self, func, metadata=None, label=""):
        super().__init__(metadata=metadata)
        self.func = func
        self.label = label

    def pull(self, update):
        return self.func(update)

    def __repr__(self):
        return "FuncInlet(%s)" % self.label


class AsyncFuncInlet(Inlet):
    """An ``async def pull`` returning ``func(update)``, awaited when that is awaitable."""

    def __init__(self, func, metadata=None, label=""):
        super().__init__(metadata=metadata)
        self.func = func
        self.label = label

    async def pull(self, update):
        value = self.func(update)
        if hasattr(value, "__await__"):
            value = await value
        return value

    def __repr__(self):
        return "AsyncFuncInlet(%s)" % self.label


class RecordingOutlet(Outlet):
    """Stores every pushed list and update; calls ``on_push(records, update)`` if given."""

    def __init__(self, processors=None, on_push=None, label=""):
        super().__init__(processors=processors)
        self.pushes = []
        self.updates = []
        self.on_push = on_push
        self.label = label
        self._lock = threading.Lock()

    def push(self, records, update):
        with self._lock:
            self.pushes.append(records)
            self.updates.append(update)
        if self.on_push is not None:
            self.on_push(records, update)

    @property
    def payloads(self):
        """Payloads of every push, one list per push."""
        return [[record.payload for record in records] for records in self.pushes]

    def __repr__(self):
        return "RecordingOutlet(%s)" % self.label


class AsyncRecordingOutlet(RecordingOutlet):
    """RecordingOutlet with an ``async def push``."""

    async def push(self, records, update):
        self.pushes.append(records)
        self.updates.append(update)
        if self.on_push is not None:
            value = self.on_push(records, update)
            if hasattr(value, "__await__"):
                await value


class ConcurrencyProbe:
    """Counts calls running at once (thread-safe) and remembers the maximum."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current = 0
        self.maximum = 0

    def enter(self):
        with self.lock:
            self.current += 1
            self.maximum = max(self.maximum, self.current)
            return self.current

    def leave(self):
        with self.lock:
            self.current -= 1


@pytest.fixture
def nodes():
    """The helper node classes above, as attributes."""
    return types.SimpleNamespace(
        ValueInlet=ValueInlet,
        FuncInlet=FuncInlet,
        AsyncFuncInlet=AsyncFuncInlet,
        RecordingOutlet=RecordingOutlet,
        AsyncRecordingOutlet=AsyncRecordingOutlet,
        ConcurrencyProbe=ConcurrencyProbe,
    )


@pytest.fixture
def link_log(caplog):
    """caplog capturing ERROR and above from the ``databay.Link`` logger."""
    caplog.set_level(logging.ERROR, logger="databay.Link")
    return caplog
