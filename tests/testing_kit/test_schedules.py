"""The schedule oracle and the property template: the planner runs each link exactly at its due times."""

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from databay import Cron, Every
from databay_testing import strategies
from databay_testing.schedules import assert_runs_on_schedule, expected_run_times, run_times

UTC = datetime.timezone.utc
HOUR = 3600

#: Starts just before daylight-saving changes (Berlin, New York, Lord Howe's half hour), a leap day
#: and a year end, so six hours of schedule cross them.
STARTS = [datetime.datetime(2030, 3, 30, 23, 30, tzinfo=UTC), datetime.datetime(2030, 10, 26, 22, tzinfo=UTC),
          datetime.datetime(2030, 3, 10, 5, tzinfo=UTC), datetime.datetime(2030, 11, 3, 4, tzinfo=UTC),
          datetime.datetime(2030, 4, 6, 13, 45, tzinfo=UTC), datetime.datetime(2028, 2, 28, 22, tzinfo=UTC),
          datetime.datetime(2030, 12, 31, 21, 59, 58, tzinfo=UTC)]


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, UTC).strftime("%m-%d %H:%M:%S")


def test_the_oracle_on_known_cron_cases():
    """The oracle's own answers, worked out by hand: */5, weekdays, and Berlin's DST gap and repeat."""
    start = datetime.datetime(2030, 1, 1, 0, 1, 7, tzinfo=UTC)
    assert [iso(t) for t in expected_run_times(Cron("*/5 * * * *"), start=start, seconds=600)] == [
        "01-01 00:01:07", "01-01 00:05:00", "01-01 00:10:00"]
    weekdays = expected_run_times(Cron("0 9 * * mon-fri"), start=start, seconds=7 * 86400,
                                  immediate_transfer=False)
    assert [iso(t) for t in weekdays] == ["01-01 09:00:00", "01-02 09:00:00", "01-03 09:00:00",
                                          "01-04 09:00:00", "01-07 09:00:00"]
    spring = expected_run_times(Cron("30 2 * * *", tz="Europe/Berlin"), immediate_transfer=False,
                                start=datetime.datetime(2030, 3, 30, 12, tzinfo=UTC), seconds=2 * 86400)
    assert [iso(t) for t in spring] == ["03-31 01:00:00", "04-01 00:30:00"]  # 02:30 skipped: 03:00 CEST
    autumn = expected_run_times(Cron("30 2 * * *", tz="Europe/Berlin"), immediate_transfer=False,
                                start=datetime.datetime(2030, 10, 26, 12, tzinfo=UTC), seconds=86400)
    assert [iso(t) for t in autumn] == ["10-27 00:30:00"]  # 02:30 happens twice: the first one


def test_a_day_field_starting_with_a_star_is_unrestricted_as_in_vixie_cron():
    """'*/2' in a day field counts as '*' for the either-day rule (Vixie cron looks at the first
    character): '* * 1 * */2' runs on a 1st that is an even weekday, '* * 1 * 0,2,4,6' on either.
    The planner, Cron.next_wall and the oracle agree (the oracle once read '*/2' as restricted)."""
    start = datetime.datetime(2030, 3, 30, 23, 30, tzinfo=UTC)  # a Saturday; 2030-06-01 is one too
    both, either = Cron("0 12 1 * */2"), Cron("0 12 1 * 0,2,4,6")
    assert iso(both.next_wall(start.timestamp())) == "06-01 12:00:00"
    assert iso(either.next_wall(start.timestamp())) == "03-31 12:00:00"  # a Sunday
    quarter = 92 * 86400
    assert [iso(t) for t in expected_run_times(both, start=start, seconds=quarter,
                                               immediate_transfer=False)] == ["06-01 12:00:00"]
    assert [iso(t) for t in expected_run_times(either, start=start, seconds=7 * 86400,
                                               immediate_transfer=False)] == [
        "03-31 12:00:00", "04-01 12:00:00", "04-02 12:00:00", "04-04 12:00:00", "04-06 12:00:00"]
    minutely = Cron("* * 1 * */2")  # from Saturday 23:30 for six hours: no 1st of a month
    runs = run_times(minutely, 6 * HOUR, start=start)
    assert runs == [start.timestamp()]  # only the immediate transfer
    assert_runs_on_schedule(minutely, runs, start=start, seconds=6 * HOUR)
    assert len(run_times(Cron("* * 1 * 0,2,4,6"), 6 * HOUR, start=start)) == 1 + 6 * 60


def test_the_oracle_on_known_grids():
    """Every: the grid from the start, the wall-clock grid with align, offsets."""
    start = datetime.datetime(2030, 1, 1, 0, 1, 7, tzinfo=UTC)
    assert [iso(t) for t in expected_run_times(Every(10), start=start, seconds=25)] == [
        "01-01 00:01:07", "01-01 00:01:17", "01-01 00:01:27"]
    aligned = expected_run_times(Every(10, align=True, offset=3), start=start, seconds=25)
    assert [iso(t) for t in aligned] == ["01-01 00:01:07", "01-01 00:01:13", "01-01 00:01:23"]


def test_a_slot_due_at_the_very_end_counts_on_both_sides():
    """Every(60.00000000000001) for six hours: its last slot is due at the end, rounding to just
    inside in wall seconds and just outside in monotonic ones; run_times and the oracle both keep it."""
    start = datetime.datetime(2030, 3, 30, 23, 30, tzinfo=UTC)
    every = Every(60.00000000000001)
    runs = run_times(every, 6 * HOUR, start=start)
    assert len(runs) == 361 and iso(runs[-1]) == "03-31 05:30:00"
    assert_runs_on_schedule(every, runs, start=start, seconds=6 * HOUR)
    aligned = Every(60.00000000000001, align=True)  # on the grid at the start: one run there
    runs = run_times(aligned, 6 * HOUR, start=start)
    assert len(runs) == 361 and runs[1] - runs[0] > 59
    assert_runs_on_schedule(aligned, runs, start=start, seconds=6 * HOUR)


def test_a_planner_that_runs_late_or_twice_is_reported():
    """assert_runs_on_schedule names the first run that differs, an extra one and a missing one."""
    start = datetime.datetime(2030, 1, 1, tzinfo=UTC)
    due = expected_run_times(Every(10), start=start, seconds=30)
    with pytest.raises(AssertionError, match=r"run 2 was at 2030-01-01T00:00:21\+00:00, due at .*00:00:20"):
        assert_runs_on_schedule(Every(10), due[:2] + [due[2] + 1] + due[3:], start=start, seconds=30)
    with pytest.raises(AssertionError, match="5 runs, 4 due; first extra run"):
        assert_runs_on_schedule(Every(10), due + [due[-1]], start=start, seconds=30)
    with pytest.raises(AssertionError, match="3 runs, 4 due; first missed run"):
        assert_runs_on_schedule(Every(10), due[:3], start=start, seconds=30)
    with pytest.raises(AssertionError, match="outside the jitter bound"):
        assert_runs_on_schedule(Every(10, jitter=2), [due[0]] + [t + 5 for t in due[1:]], start=start, seconds=30)


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=strategies.schedules(min_interval=60), start=st.sampled_from(STARTS))
def test_the_planner_runs_each_link_exactly_at_its_schedules_due_times(schedule, start):
    """The property: over six virtual hours from a tricky start, every run is exactly when it is due."""
    runs = run_times(schedule, 6 * HOUR, start=start)
    assert_runs_on_schedule(schedule, runs, start=start, seconds=6 * HOUR)


@settings(max_examples=200, deadline=None, database=None)
@given(expression=strategies.cron_expressions(), tz=strategies.time_zones())
def test_generated_cron_expressions_are_valid(expression, tz):
    """Every generated expression is accepted by databay's Cron, in every generated zone."""
    assert Cron(expression, tz=tz).expression == expression


def test_a_fractional_interval_never_runs_a_slot_twice():
    """Every(7.3) for a minute: 9 runs, each slot once (float rounding once ran slots 2 and 8 twice)."""
    start = datetime.datetime(2030, 1, 1, tzinfo=UTC)
    runs = run_times(Every(7.3), 60, start=start)
    assert len(runs) == 9
    assert_runs_on_schedule(Every(7.3), runs, start=start, seconds=60)
