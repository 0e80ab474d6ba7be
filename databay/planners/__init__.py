"""Planners: SchedulePlanner (standard library) and ApsPlanner (APScheduler 3.x).

``ApsPlanner`` is loaded on first access, so importing this package costs only
what SchedulePlanner needs.
"""

from .schedule_planner import ScheduleIntervalError, SchedulePlanner

__all__ = ["APSPlanner", "ApsPlanner", "ScheduleIntervalError", "SchedulePlanner"]


def __getattr__(name: str) -> object:
    if name in ("ApsPlanner", "APSPlanner"):
        from . import aps_planner

        return getattr(aps_planner, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
