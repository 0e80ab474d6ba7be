"""Items 5-7: link.job after add_links, ApsPlanner.pause()/resume() on a stopped planner, and
the lifecycle of a node whose on_start raised."""

from __future__ import annotations

import pytest

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner


class FlakyStart(Inlet):
    """on_start fails the first time (a server not up yet), then works."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_start(self):
        self.calls.append("on_start")
        if self.calls.count("on_start") == 1:
            raise ConnectionError("server not up yet")

    def on_shutdown(self):
        self.calls.append("on_shutdown")

    def pull(self, update):
        self.calls.append("pull")
        return 1


class Keep(Outlet):
    def push(self, records, update):
        pass


def test_node_whose_on_start_raised_stays_inactive_and_is_not_shut_down():
    """Item 7 (kept, unlike 0.3.0): a failed on_start leaves the node inactive, on_shutdown is
    not called for it, and the next start tries on_start again."""
    inlet = FlakyStart()
    with pytest.raises(ConnectionError):
        inlet.try_start()
    assert not inlet.active
    inlet.try_shutdown()
    assert inlet.calls == ["on_start"]
    inlet.try_start()
    inlet.try_shutdown()
    assert inlet.calls == ["on_start", "on_start", "on_shutdown"]


def test_planner_does_not_shut_down_a_node_that_failed_to_start():
    """Through a planner: start() raises the on_start error; on_shutdown never runs for that
    node and it is never pulled; a second start() starts it properly."""
    inlet = FlakyStart()
    planner = SchedulePlanner(Link(inlet, Keep(), interval=60))
    with pytest.raises(ConnectionError):
        planner.start()
    assert inlet.calls == ["on_start"] and not inlet.active
    with planner:
        pass
    assert inlet.calls[:2] == ["on_start", "on_start"] and inlet.calls[-1] == "on_shutdown"
    assert inlet.calls.count("on_shutdown") == 1
