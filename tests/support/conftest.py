"""Fixtures for the Buffer tests: a clock the test advances by hand, and records."""

import pytest

from databay import Record


class FakeClock:
    """A monotonic clock that moves only when the test calls ``advance``."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    """A FakeClock to inject as ``Buffer(clock=...)``."""
    return FakeClock()


@pytest.fixture
def records():
    """``records(n)``: n new records with payloads 0..n-1."""
    def make(n, start=0):
        return [Record(payload=i) for i in range(start, start + n)]
    return make
