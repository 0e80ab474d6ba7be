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


def _planners():
    import importlib.util

    from databay.planners import ApsPlanner

    # SchedulePlanner sets link.job at add_links from the planner rewrite on (databay.schedules
    # arrives with it); until that is on this branch, its case is an expected failure.
    rewrite = importlib.util.find_spec("databay.schedules") is not None
    kinds = [pytest.param(SchedulePlanner, marks=pytest.mark.xfail(
        not rewrite, reason="SchedulePlanner gives jobs at add_links once the planner rewrite lands"))]
    try:
        import apscheduler  # noqa: F401
    except ImportError:
        pass
    else:
        kinds.append(ApsPlanner)
    return kinds


@pytest.mark.parametrize("kind", _planners(), ids=["SchedulePlanner", "ApsPlanner"][:len(_planners())])
def test_link_job_is_set_when_the_link_is_added(kind):
    """Item 5: as in 0.3.0, both planners give a link its job at add_links (and at
    construction), before start(); removing the link clears it."""
    first, second = Link(FlakyStart(), Keep(), interval=60), Link(FlakyStart(), Keep(), interval=60)
    planner = kind(first)
    planner.add_links(second)
    assert first.job is not None and second.job is not None
    planner.remove_links(second)
    assert second.job is None and first.job is not None


def test_aps_pause_and_resume_on_a_stopped_planner_raise():
    """Item 6: as in 0.3.0, pause()/resume() on an ApsPlanner that is not running raise
    (PlannerStateError, a RuntimeError) instead of doing nothing."""
    pytest.importorskip("apscheduler", reason="ApsPlanner needs databay[aps]")
    import threading
    import time

    from databay import PlannerStateError
    from databay.planners import ApsPlanner

    class Started(Keep):
        def __init__(self):
            super().__init__()
            self.started = threading.Event()

        def on_start(self):
            self.started.set()

    class Plain(Inlet):
        def pull(self, update):
            return 1

    outlet = Started()
    planner = ApsPlanner(Link(Plain(), outlet, interval=60, immediate_transfer=False))
    for method in (planner.pause, planner.resume):
        with pytest.raises(PlannerStateError, match=r"ApsPlanner\.%s\(\).*not running" % method.__name__):
            method()
    with planner:
        assert outlet.started.wait(30)
        deadline = time.monotonic() + 30
        while True:  # start() returns control before APScheduler itself has started
            try:
                planner.pause()
                break
            except PlannerStateError:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        planner.resume()
    for method in (planner.pause, planner.resume):
        with pytest.raises(PlannerStateError):
            method()
