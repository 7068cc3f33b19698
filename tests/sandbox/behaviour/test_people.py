"""People: inbox looks only in office hours with a daily pattern, none on weekends or Norwegian holidays;
reading counts office time; the compressed calendar of a fast world."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from probe.office_time import OfficeHours
from probe.sandbox.behaviour.people import People, WorldCalendar
from probe.sandbox.settings import PeopleSettings

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=OSLO).timestamp()


def local(instant: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(instant, tz=OSLO)


@pytest.fixture
def people() -> People:
    return People(PeopleSettings(), OfficeHours(), 1)


def test_a_few_looks_a_day_in_office_hours_with_jitter(people: People) -> None:
    office = people.office
    monday = dt.date(2026, 3, 2)
    looks = people.looks_on("4601", monday)
    assert len(looks) == 4
    assert all(office.is_open(look) for look in looks)
    planned = [at(2026, 3, 2, 8, 20), at(2026, 3, 2, 10, 30), at(2026, 3, 2, 12, 45), at(2026, 3, 2, 14, 50)]
    assert all(abs(look - plan) <= 1200 for look, plan in zip(looks, planned, strict=True))
    # Jitter: municipalities and days differ, the same (municipality, day) is always the same.
    assert looks != people.looks_on("0301", monday)
    assert looks != tuple(look - 86_400 for look in people.looks_on("4601", dt.date(2026, 3, 3)))
    assert looks == People(PeopleSettings(), OfficeHours(), 1).looks_on("4601", monday)


def test_nobody_looks_on_weekends_or_holidays(people: People) -> None:
    closed = [
        dt.date(2026, 3, 7),  # Saturday
        dt.date(2026, 3, 8),  # Sunday
        dt.date(2026, 1, 1),  # New Year's Day
        dt.date(2026, 4, 2),  # Maundy Thursday
        dt.date(2026, 4, 3),  # Good Friday
        dt.date(2026, 4, 6),  # Easter Monday
        dt.date(2026, 5, 1),  # Labour Day
        dt.date(2026, 5, 14),  # Ascension Day
        dt.date(2026, 5, 17),  # Constitution Day
        dt.date(2026, 5, 25),  # Whit Monday
        dt.date(2026, 12, 25),
        dt.date(2026, 12, 26),
    ]
    for day in closed:
        assert people.looks_on("4601", day) == ()
    # A year of looks: every one on a working day, in office hours.
    instant = at(2026, 1, 1)
    for _ in range(4 * 260):
        instant = people.next_look("1103", instant + 1)
        assert people.office.is_open(instant)
        assert local(instant).isoweekday() <= 5


def test_mail_published_before_easter_waits_for_tuesday(people: People) -> None:
    wednesday_evening = at(2026, 4, 1, 16, 0)
    fetched = people.next_look("4601", wednesday_evening)
    assert local(fetched).date() == dt.date(2026, 4, 7)
    friday_afternoon = at(2026, 3, 6, 15, 20)
    assert local(people.next_look("4601", friday_afternoon)).date() == dt.date(2026, 3, 9)


def test_reading_counts_office_time(people: People) -> None:
    friday = at(2026, 3, 6, 15, 20)
    read = people.read_at(friday, 1200)  # 10 office minutes on Friday, 10 on Monday
    assert local(read) == dt.datetime(2026, 3, 9, 8, 10, tzinfo=OSLO)


def test_longest_wait_is_easter(people: People) -> None:
    longest = people.longest_wait("4601", at(2026, 1, 1))
    assert 5 * 86_400 < longest < 6.5 * 86_400


def test_the_calendar_is_the_clock_at_speed_one() -> None:
    calendar = WorldCalendar(OfficeHours(), at(2026, 1, 1), 60, compressed=False)
    assert calendar.world(12345.0) == 12345.0 == calendar.sandbox(12345.0)


def test_a_fast_world_starts_its_calendar_on_monday_morning() -> None:
    start = at(2026, 3, 5, 23, 0)  # a Thursday night
    calendar = WorldCalendar(OfficeHours(), start, 60, compressed=True)
    assert local(calendar.world(start)) == dt.datetime(2026, 3, 2, 8, 0, tzinfo=OSLO)
    # A working day of 7.5 hours lasts 7.5 minutes; the conversion goes both ways.
    assert calendar.world(start + 450) == calendar.world(start) + 27_000
    assert calendar.sandbox(calendar.world(start + 99.5)) == pytest.approx(start + 99.5)


def test_look_times_are_checked() -> None:
    with pytest.raises(ValueError, match="not HH:MM"):
        PeopleSettings(looks=("8.20",))
    with pytest.raises(ValueError, match="at least once"):
        PeopleSettings(looks=())
    assert PeopleSettings(looks=("14:00", "09:00")).looks == ("09:00", "14:00")
    assert PeopleSettings().enabled(1)
    assert not PeopleSettings().enabled(60)
    assert PeopleSettings(office_hours=True).enabled(60)
