"""Planners: SchedulePlanner (standard library) and ApsPlanner (APScheduler 3.x)."""

from .aps_planner import APSPlanner, ApsPlanner
from .schedule_planner import ScheduleIntervalError, SchedulePlanner

__all__ = ["APSPlanner", "ApsPlanner", "ScheduleIntervalError", "SchedulePlanner"]
