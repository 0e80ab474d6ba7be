"""Schedules in virtual time: when did a link run, and when should it have?

- :func:`run_times` runs one link with a schedule on a real ``SchedulePlanner``
  and a :class:`~databay_testing.VirtualClock`, and returns the wall times of
  its transfers.
- :func:`expected_run_times` says when those transfers are due, computed
  independently of databay's own schedule code: the grid arithmetic for
  ``Every`` and a minute-by-minute cron matcher for ``Cron``.
- :func:`assert_runs_on_schedule` compares the two and says what differs.

Together they make the property "the planner runs each link exactly at its
schedule's due times" one line (see docs/testing.md)::

    @given(schedule=strategies.schedules())
    def test_runs_on_schedule(schedule):
        runs = run_times(schedule, 6 * 3600, start=START)
        assert_runs_on_schedule(schedule, runs, start=START, seconds=6 * 3600)
"""

from __future__ import annotations

import datetime as _datetime

from databay import Inlet, Link

from .clock import VirtualClock, _epoch_seconds
from .harness import CaptureOutlet, virtual_planner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Set, Tuple, Union

__all__ = ["assert_runs_on_schedule", "expected_run_times", "run_times"]

#: Due times closer than this (seconds) are the same instant (float rounding of grids).
TOLERANCE = 1e-6
#: A due time this little past the end of the window still counts: :func:`run_times` runs it too.
#: (A slot due exactly at the end may round to either side, in wall or in monotonic seconds.)
EDGE = TOLERANCE / 2

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


class _Tick(Inlet):
    def pull(self, update: Any) -> Any:
        return update.transfer_number


def run_times(schedule: Any, seconds: float, *, start: Union[_datetime.datetime, float, None] = None,
              immediate_transfer: bool = True) -> List[float]:
    """Run a link with ``schedule`` for ``seconds`` of virtual time; return its transfers' wall times.

    The planner starts at ``start`` (an aware datetime or epoch seconds; default
    :data:`~databay_testing.clock.DEFAULT_START`). Wall times are Unix seconds.
    """
    clock = VirtualClock(start=start)
    outlet = CaptureOutlet(clock=clock)
    link = Link(_Tick(), outlet, schedule=schedule, tags="schedule",
                immediate_transfer=immediate_transfer)
    with virtual_planner(link, clock=clock):
        clock.advance(seconds + EDGE)
    return [push.wall for push in outlet.pushes]


def expected_run_times(schedule: Any, *, start: Union[_datetime.datetime, float, None] = None,
                       seconds: float, immediate_transfer: bool = True,
                       jitter_delay: float = 0.0) -> List[float]:
    """When a link with ``schedule``, started at ``start``, must run during ``seconds``.

    ``Every(s, align, offset, jitter)``: after the start, at ``start + offset +
    delay + k*s`` (or, with ``align``, at wall-clock multiples of ``s`` plus
    ``offset + delay``), where ``delay`` is the link's jitter delay (pass the
    one observed as ``jitter_delay``; it must be in ``[0, jitter)``).
    ``Cron``: every minute whose local time in the schedule's zone matches the
    expression (if neither day field starts with ``*``, a day matching either
    of them; otherwise one matching both); a local time skipped by a
    daylight-saving change runs at the first instant after the gap, one
    repeated runs once, at its first occurrence (Vixie cron's rules). With ``immediate_transfer``, the start
    itself comes first. Times are Unix seconds in ``(start, start + seconds]`` (plus
    :data:`EDGE`: a slot due at the very end counts whichever way it rounds).
    """
    begin = _epoch_seconds(start)
    end = begin + seconds
    runs = [begin] if immediate_transfer else []
    kind = type(schedule).__name__
    if kind == "Every":
        runs += _grid(schedule, begin, end, jitter_delay)
    elif kind == "Cron":
        runs += sorted(_cron_instants(schedule.expression, schedule.tz, begin, end))
    else:
        raise TypeError("schedule=%r: expected an Every or a Cron" % (schedule,))
    return runs


def assert_runs_on_schedule(schedule: Any, runs: List[float], *,
                            start: Union[_datetime.datetime, float, None] = None, seconds: float,
                            immediate_transfer: bool = True) -> None:
    """Raise AssertionError, naming the first difference, unless ``runs`` are ``schedule``'s due times.

    For ``Every`` with jitter the delay is read from the first scheduled run
    and must lie in ``[0, jitter)``; every later run must keep it.
    """
    delay = 0.0
    if type(schedule).__name__ == "Every" and schedule.jitter:
        delay = _observed_delay(schedule, runs, _epoch_seconds(start), immediate_transfer)
        if not 0 <= delay < schedule.jitter + TOLERANCE:
            raise AssertionError("%r: the runs are delayed by %.6fs, outside the jitter bound [0, %r)"
                                 % (schedule, delay, schedule.jitter))
    expected = expected_run_times(schedule, start=start, seconds=seconds,
                                  immediate_transfer=immediate_transfer, jitter_delay=delay)
    for index, (ran, due) in enumerate(zip(runs, expected)):
        if abs(ran - due) > TOLERANCE:
            raise AssertionError("%r: run %d was at %s, due at %s (runs so far: %s)" % (
                schedule, index, _iso(ran), _iso(due), [_iso(t) for t in runs[max(0, index - 3):index]]))
    if len(runs) != len(expected):
        which, extra = ("extra run", runs) if len(runs) > len(expected) else ("missed run", expected)
        raise AssertionError("%r: %d runs, %d due; first %s at %s" % (
            schedule, len(runs), len(expected), which, _iso(extra[min(len(runs), len(expected))])))


# -- Every ------------------------------------------------------------------------


def _grid(every: Any, begin: float, end: float, delay: float) -> List[float]:
    step = float(every.seconds)
    if every.align:
        base = (begin // step) * step + every.offset + delay  # a wall-clock multiple of the interval
    else:
        base = begin + every.offset + delay
    k = 0
    while base + k * step <= begin + TOLERANCE:
        k += 1
    while base + (k - 1) * step > begin + TOLERANCE:
        k -= 1
    runs = []
    while base + k * step <= end + EDGE:
        runs.append(base + k * step)
        k += 1
    return runs


def _observed_delay(every: Any, runs: List[float], begin: float, immediate: bool) -> float:
    scheduled = runs[1:] if immediate else runs
    if not scheduled:
        return 0.0
    step = float(every.seconds)
    base = (begin // step) * step if every.align else begin
    return (scheduled[0] - base - every.offset) % step


# -- Cron -------------------------------------------------------------------------


def _field(text: str, low: int, high: int, names: List[str]) -> Set[int]:
    values: Set[int] = set()
    for part in text.lower().split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = low, high
        else:
            first_text, _, last_text = body.partition("-")
            first = _number(first_text, low, names)
            last = _number(last_text, low, names) if last_text else (high if step_text else first)
        values.update(range(first, last + 1, step))
    return values


def _number(text: str, low: int, names: List[str]) -> int:
    return names.index(text) + low if text in names else int(text)


def _cron_instants(expression: str, tz: Optional[str], begin: float, end: float) -> Set[float]:
    minute_f, hour_f, day_f, month_f, weekday_f = expression.split()
    minutes = _field(minute_f, 0, 59, [])
    hours = _field(hour_f, 0, 23, [])
    days = _field(day_f, 1, 31, [])
    months = _field(month_f, 1, 12, _MONTHS)
    weekdays = {day % 7 for day in _field(weekday_f, 0, 7, _DAYS)}
    # Vixie cron: a day field counts as restricted unless it starts with "*" (so "*/2" does not).
    either = not day_f.startswith("*") and not weekday_f.startswith("*")
    zone = _zone(tz)
    # Scan local wall-clock minutes covering [begin, end], one day of margin for DST shifts.
    local = _datetime.datetime.fromtimestamp(begin, zone).replace(tzinfo=None, second=0, microsecond=0)
    local -= _datetime.timedelta(days=1)
    stop = _datetime.datetime.fromtimestamp(end, zone).replace(tzinfo=None) + _datetime.timedelta(days=1)
    found: Set[float] = set()
    while local <= stop:
        in_month, in_week = local.day in days, local.isoweekday() % 7 in weekdays
        day_ok = (in_month or in_week) if either else (in_month and in_week)
        if local.month in months and day_ok and local.hour in hours and local.minute in minutes:
            instant = _first_instant(local, zone)
            if begin < instant <= end + EDGE:
                found.add(instant)
        local += _datetime.timedelta(minutes=1)
    return found


def _first_instant(local: _datetime.datetime, zone: Any) -> float:
    """The first instant whose local time is ``local``; for a skipped time, the end of the gap."""
    candidates: List[Tuple[float, bool]] = []
    for fold in (0, 1):
        instant = local.replace(tzinfo=zone, fold=fold).timestamp()
        exists = _datetime.datetime.fromtimestamp(instant, zone).replace(tzinfo=None) == local
        candidates.append((instant, exists))
    existing = [instant for instant, exists in candidates if exists]
    if existing:
        return min(existing)
    # Skipped: find the transition, the first instant whose local time is later than ``local``.
    low = min(instant for instant, _ in candidates) - 7200
    high = max(instant for instant, _ in candidates) + 7200
    while high - low > 0.5:
        middle = (low + high) / 2
        if _datetime.datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > local:
            high = middle
        else:
            low = middle
    return float(round(high))


def _zone(tz: Optional[str]) -> Any:
    if tz is None:
        return _datetime.timezone.utc
    import zoneinfo

    return zoneinfo.ZoneInfo(tz)


def _iso(seconds: float) -> str:
    return _datetime.datetime.fromtimestamp(seconds, _datetime.timezone.utc).isoformat()
