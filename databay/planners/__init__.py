"""Planners: SchedulePlanner (standard library) and ApsPlanner (APScheduler 3.x).

Both are loaded on first access (``from databay.planners import SchedulePlanner``),
so ``databay.base_planner`` can use the planner's parts in this package, and
importing it costs only what the planner asked for needs.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .aps_planner import APSPlanner, ApsPlanner
    from .schedule_planner import ScheduleIntervalError, SchedulePlanner

__all__ = ["APSPlanner", "ApsPlanner", "ScheduleIntervalError", "SchedulePlanner"]


def __getattr__(name: str) -> object:
    if name in ("schedule_planner", "aps_planner"):  # reachable as attributes, as in 0.3.0
        import importlib

        return importlib.import_module("." + name, __name__)
    if name in ("SchedulePlanner", "ScheduleIntervalError"):
        from . import schedule_planner

        return getattr(schedule_planner, name)
    if name in ("ApsPlanner", "APSPlanner"):
        from . import aps_planner

        return getattr(aps_planner, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__() -> list:
    return sorted(__all__ + ["aps_planner", "schedule_planner"])
