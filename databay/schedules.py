"""When a link's transfers are due: ``Every`` (an interval grid) and ``Cron``.

A planner asks a schedule one question through a small protocol, so a new kind
of schedule needs no planner change::

    timeline = schedule.bind(anchor, clock, seed)   # once, when the link joins
    due = timeline.next_due(after)                  # the first due time > after

Times are the planner clock's monotonic seconds (``clock.now()``); a schedule
that follows the wall clock (alignment, cron) converts with ``clock.wall()``.
``anchor`` is when the planner started (or the link was added); ``seed`` is a
string naming the link (its key or tags), so jitter is stable per link. Asking
for the slot after "now" rather than after the previous slot is what makes
missed slots coalesce into one run.
"""

from __future__ import annotations

from ._validation import check_bool, short_repr, to_seconds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

__all__ = ["Cron", "Every"]


def _finite(name: str, value: Any, low: float, accepted: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s=%s must be %s" % (name, short_repr(value), accepted))
    number = float(value)
    if not low <= number < float("inf"):
        raise ValueError("%s=%s must be %s" % (name, short_repr(value), accepted))
    return number


def _jitter_fraction(seed: str) -> float:
    """A number in [0, 1) that depends only on ``seed`` (stable across processes)."""
    import hashlib

    digest = hashlib.blake2b(seed.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


#: Seconds below which two due times are one instant: finer than a float wall-clock reading
#: (about 0.24 µs this century) can tell apart.
SAME_INSTANT = 1e-6


class Every:
    """Every ``seconds``, on a drift-free grid: the k-th transfer is due at start + k·seconds.

    Args:
        seconds: the interval, as for ``Link(interval=...)``.
        align: put the grid on wall-clock multiples of ``seconds`` (counted
            from the Unix epoch, plus ``offset``) instead of the planner's start,
            e.g. every 10 s at :00, :10, …; a restarted process resumes the same grid.
        offset: seconds added to every slot, in [0, seconds).
        jitter: each link's slots are delayed by a fixed amount in [0, jitter)
            chosen from the link's key or tags, so many links with the same
            interval do not all fire at the same instant; in [0, seconds).
    """

    __slots__ = ("seconds", "align", "offset", "jitter")

    def __init__(self, seconds: Any, align: bool = False, offset: float = 0.0,
                 jitter: float = 0.0) -> None:
        self.seconds = to_seconds("seconds", seconds)
        self.align = align if align is False or align is True else check_bool("align", align)
        if type(offset) is float and type(jitter) is float and offset == 0.0 and jitter == 0.0:
            self.offset = self.jitter = 0.0  # the defaults: Link(interval=...) builds one per link
            return
        accepted = "a number of seconds >= 0 and below seconds=%r" % (self.seconds,)
        self.offset = _finite("offset", offset, 0.0, accepted)
        self.jitter = _finite("jitter", jitter, 0.0, accepted)
        for name in ("offset", "jitter"):
            if getattr(self, name) >= self.seconds:
                raise ValueError("%s=%r must be %s" % (name, getattr(self, name), accepted))

    def bind(self, anchor: float, clock: Any, seed: str) -> _Grid:
        """This link's grid, starting at ``anchor`` (monotonic seconds)."""
        delay = self.offset + (self.jitter * _jitter_fraction(seed) if self.jitter else 0.0)
        start = anchor
        if self.align:  # wall-clock multiples of the interval, seen on the monotonic clock
            wall_anchor = clock.wall() - (clock.now() - anchor)
            start = anchor - (wall_anchor % self.seconds)
        grid = _Grid(start + delay, self.seconds)
        if grid.next_due(anchor) - anchor < SAME_INSTANT:  # float rounding put a slot just after
            grid = _Grid(anchor, self.seconds)  # the start: that slot is the start (runs once)
        return grid

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Every) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.seconds, self.align, self.offset, self.jitter))

    def __repr__(self) -> str:
        extras = "".join(", %s=%r" % (name, getattr(self, name)) for name in ("align", "offset", "jitter")
                         if getattr(self, name))
        return "Every(%r%s)" % (self.seconds, extras)


class _Grid:
    """Due times ``start + k * interval`` (k may be negative: the grid has no beginning)."""

    __slots__ = ("start", "interval")

    def __init__(self, start: float, interval: float) -> None:
        self.start = start
        self.interval = interval

    def next_due(self, after: float) -> float:
        k = (after - self.start) // self.interval + 1
        due = self.start + k * self.interval
        while due <= after:  # float rounding at an exact slot boundary: the next k, same formula
            k += 1
            due = self.start + k * self.interval
        return due

    def slots_between(self, after: float, until: float) -> int:
        """How many slots lie in (after, until]: the ones a stall made the link miss."""
        if until <= after:
            return 0
        return int((until - self.start) // self.interval - (after - self.start) // self.interval)


# -- cron ---------------------------------------------------------------------

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# name, low, high, names (numbered from low)
_FIELDS: List[Tuple[str, int, int, List[str]]] = [
    ("minute", 0, 59, []), ("hour", 0, 23, []), ("day of month", 1, 31, []),
    ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS)]


def _parse_field(expression: str, text: str, name: str, low: int, high: int,
                 names: List[str]) -> Tuple[frozenset, bool]:
    """The set of values of one field, and whether it was ``*`` (for the day-of rule)."""
    def number(token: str) -> int:
        lowered = token.lower()
        if lowered in names:
            return names.index(lowered) + low
        if not token.isdigit():
            raise ValueError("Cron(%r): %r in the %s field is not a number%s" % (
                expression, token, name, " or a name (%s)" % "/".join(names[:3] + ["…"])
                if names else ""))
        value = int(token)
        if not low <= value <= high:
            raise ValueError("Cron(%r): %d in the %s field is outside %d-%d"
                             % (expression, value, name, low, high))
        return value

    values: set = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError("Cron(%r): step %r in the %s field must be a whole number >= 1"
                                 % (expression, step_text, name))
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            start_text, _, end_text = body.partition("-")
            first, last = number(start_text), number(end_text)
            if first > last:
                raise ValueError("Cron(%r): range %r in the %s field runs backwards"
                                 % (expression, body, name))
        else:
            first = number(body)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values), text.startswith("*")


class Cron:
    """A 5-field cron expression (minute hour day-of-month month day-of-week) in a time zone.

    Supports ``*``, lists (``1,15``), ranges (``9-17``), steps (``*/5``, ``0-30/10``)
    and names for months and days (``jan``, ``mon-fri``); Sunday is 0 or 7. As in
    Vixie cron, when both day fields are restricted (neither starts with ``*``;
    so ``*/2`` counts as unrestricted) a day matching either runs; otherwise a
    day must match both.

    Daylight-saving changes follow Vixie cron's rule: a time that does not exist
    (the hour skipped in spring) runs at the first existing instant after it,
    and a time that occurs twice (the hour repeated in autumn) runs once, at
    its first occurrence.

    Args:
        expression: e.g. ``"*/5 * * * *"``.
        tz: an IANA time zone name such as ``"Europe/Berlin"`` (stdlib
            ``zoneinfo``), or None for UTC.
    """

    def __init__(self, expression: str, tz: Optional[str] = None) -> None:
        if not isinstance(expression, str):
            raise TypeError("Cron(expression=%s) must be a str such as '*/5 * * * *'"
                            % short_repr(expression))
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError("Cron(%r) must have 5 fields (minute hour day-of-month month "
                             "day-of-week), got %d" % (expression, len(fields)))
        parsed = [_parse_field(expression, text, *spec) for text, spec in zip(fields, _FIELDS)]
        (self._minutes, _), (self._hours, _), (self._days, any_day), (self._months, _), \
            (weekdays, any_weekday) = parsed
        self._weekdays = frozenset(day % 7 for day in weekdays)
        self._day_or = not any_day and not any_weekday  # Vixie: either day field may match
        self._any_day, self._any_weekday = any_day, any_weekday
        self.expression = expression
        self.tz = tz
        self._zone = self._load_zone(tz)
        if not any(self._day_matches_somewhen(month) for month in self._months):
            raise ValueError("Cron(%r) never runs: no month has such a day" % (expression,))

    @staticmethod
    def _load_zone(tz: Optional[str]) -> Any:
        import datetime

        if tz is None:
            return datetime.timezone.utc
        if not isinstance(tz, str):
            raise TypeError("tz=%s must be an IANA time zone name such as 'Europe/Berlin' or None"
                            % short_repr(tz))
        import zoneinfo

        try:
            return zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("tz=%r is not a known IANA time zone (e.g. 'Europe/Berlin', 'UTC')"
                             % (tz,)) from None

    def _day_matches_somewhen(self, month: int) -> bool:
        longest = {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(month, 31)
        return self._any_day or self._day_or or any(day <= longest for day in self._days)

    def _day_matches(self, date: Any) -> bool:
        in_month = date.day in self._days
        in_week = (date.isoweekday() % 7) in self._weekdays
        if self._day_or:
            return in_month or in_week
        return in_month and in_week

    def next_wall(self, after: float) -> float:
        """The first run strictly after ``after`` (Unix seconds), as Unix seconds."""
        import datetime

        zone = self._zone
        local = datetime.datetime.fromtimestamp(after, zone).replace(tzinfo=None)
        minute = local.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
        # Walk local wall time minute by minute, jumping whole days/hours that cannot match.
        for _ in range(600000):  # enough for any expression over more than a decade
            if minute.month not in self._months or not self._day_matches(minute):
                minute = (minute + datetime.timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if minute.hour not in self._hours:
                minute = (minute + datetime.timedelta(hours=1)).replace(minute=0)
                continue
            if minute.minute not in self._minutes:
                minute += datetime.timedelta(minutes=1)
                continue
            moment = self._instant(minute)
            if moment > after:
                return moment
            minute += datetime.timedelta(minutes=1)
        raise ValueError("Cron(%r) has no run after %r" % (self.expression, after))

    def _instant(self, local: Any) -> float:
        """Unix seconds of local wall time ``local``: its first occurrence, or the end of a gap."""
        import datetime

        zone = self._zone
        earlier = local.replace(tzinfo=zone, fold=0).timestamp()
        if datetime.datetime.fromtimestamp(earlier, zone).replace(tzinfo=None) == local:
            return earlier  # exists (fold=0 is the first of two occurrences)
        # In a gap: fold=1 maps to an instant before it; the first instant whose
        # local time is past ``local`` is the transition, i.e. the first existing time after.
        moment = local.replace(tzinfo=zone, fold=1).timestamp()
        while datetime.datetime.fromtimestamp(moment, zone).replace(tzinfo=None) <= local:
            moment += 60
        while datetime.datetime.fromtimestamp(moment - 1, zone).replace(tzinfo=None) > local:
            moment -= 1  # transitions at odd seconds exist in old tz data
        return moment

    def bind(self, anchor: float, clock: Any, seed: str) -> _CronTimeline:
        """This link's runs, on the planner's clock."""
        return _CronTimeline(self, clock)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cron) and (self.expression, self.tz) == (other.expression, other.tz)

    def __hash__(self) -> int:
        return hash((self.expression, self.tz))

    def __repr__(self) -> str:
        return "Cron(%r%s)" % (self.expression, "" if self.tz is None else ", tz=%r" % (self.tz,))


class _CronTimeline:
    __slots__ = ("cron", "clock")

    def __init__(self, cron: Cron, clock: Any) -> None:
        self.cron = cron
        self.clock = clock

    def next_due(self, after: float) -> float:
        shift = self.clock.wall() - self.clock.now()  # wall = monotonic + shift, right now
        return self.cron.next_wall(after + shift) - shift

    def slots_between(self, after: float, until: float) -> int:
        count, due = 0, after
        while count < 1000:
            due = self.next_due(due)
            if due > until:
                break
            count += 1
        return count
