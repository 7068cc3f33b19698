"""Office time: working hours on working days, Norwegian holidays from the maintained calendar, closures,
daylight saving time, and the arithmetic the deadlines of people's hops rest on."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.office_time import ClosedCalendarError, Closure, OfficeHours

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
HOUR = 3600.0
OFFICE = OfficeHours()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """An Oslo wall-clock time as Unix seconds."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=OSLO).timestamp()


def test_a_friday_afternoon_hour_falls_on_monday_morning() -> None:
    # 2027-03-19 is a Friday: 15:00 leaves half an hour, the other half is Monday 08:00-08:30.
    assert OFFICE.advance(at(2027, 3, 19, 15), HOUR) == at(2027, 3, 22, 8, 30)
    assert OFFICE.elapsed(at(2027, 3, 19, 15), at(2027, 3, 22, 8, 30)) == HOUR


def test_easter_counts_for_nothing() -> None:
    # Wednesday 24 March 2027, 14:00: Maundy Thursday, Good Friday and Easter Monday are holidays, so
    # three office hours end on Tuesday 30 March at 09:30 (after the switch to summer time).
    assert OFFICE.advance(at(2027, 3, 24, 14), 3 * HOUR) == at(2027, 3, 30, 9, 30)
    assert not OFFICE.working_day(dt.date(2027, 3, 25))
    assert not OFFICE.working_day(dt.date(2027, 5, 17))  # Constitution Day
    assert OFFICE.working_day(dt.date(2027, 3, 24))


def test_nothing_is_open_at_night_on_weekends_or_holidays() -> None:
    assert OFFICE.is_open(at(2027, 3, 24, 9))
    assert not OFFICE.is_open(at(2027, 3, 24, 15, 30))  # closes at 15:30
    assert not OFFICE.is_open(at(2027, 3, 24, 7, 59))
    assert not OFFICE.is_open(at(2027, 3, 27, 10))  # Saturday
    assert not OFFICE.is_open(at(2027, 12, 25, 10))  # Christmas Day
    assert OFFICE.next_open(at(2027, 3, 27, 10)) == at(2027, 3, 30, 8)  # Easter Monday in between


def test_a_closure_closes_every_day_in_it() -> None:
    summer = OfficeHours(closures=(Closure(dt.date(2027, 7, 5), dt.date(2027, 7, 30)),))
    assert summer.next_open(at(2027, 7, 5, 9)) == at(2027, 8, 2, 8)
    assert summer.elapsed(at(2027, 7, 1), at(2027, 8, 1)) == 2 * 7.5 * HOUR  # 1 and 2 July only


def test_working_hours_and_days_are_the_office_s_own() -> None:
    weekend_shift = OfficeHours(opens=dt.time(10), closes=dt.time(12), weekdays=frozenset({6}), country=None)
    assert weekend_shift.advance(at(2027, 3, 22, 9), HOUR) == at(2027, 3, 27, 11)


def test_open_spans_are_clipped_to_the_asked_span() -> None:
    spans = OFFICE.open_spans(at(2027, 3, 19, 12), at(2027, 3, 22, 9))
    assert spans == [(at(2027, 3, 19, 12), at(2027, 3, 19, 15, 30)), (at(2027, 3, 22, 8), at(2027, 3, 22, 9))]


def test_rewind_is_the_latest_start_that_reaches_the_end() -> None:
    assert OFFICE.rewind(at(2027, 3, 22, 8, 30), HOUR) == at(2027, 3, 19, 15)
    assert OFFICE.rewind(at(2027, 3, 22, 7), 0) == at(2027, 3, 19, 15, 30)


@given(
    start=st.floats(min_value=at(2026, 1, 1), max_value=at(2028, 12, 31)),
    seconds=st.floats(min_value=0, max_value=40 * 7.5 * HOUR),
)
def test_advance_and_elapsed_agree(start: float, seconds: float) -> None:
    end = OFFICE.advance(start, seconds)
    assert end >= start
    assert OFFICE.elapsed(start, end) == pytest.approx(seconds, abs=1e-3)
    assert OFFICE.is_open(end) or (seconds > 0 and OFFICE.is_open(end - 1e-3))


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="ISO weekday numbers"):
        OfficeHours(weekdays=frozenset())
    with pytest.raises(ValueError, match="close"):
        OfficeHours(opens=dt.time(16), closes=dt.time(8))
    closed = OfficeHours(closures=(Closure(dt.date(2020, 1, 1), dt.date(2030, 1, 1)),))
    with pytest.raises(ClosedCalendarError):
        closed.advance(at(2027, 1, 4), HOUR)
    with pytest.raises(ClosedCalendarError):
        closed.rewind(at(2027, 1, 4), HOUR)
