"""The people at the municipalities: they open the Altinn inbox at a few times of each working day and
read what came in office time; nobody looks on a weekend, a Norwegian public holiday or at night.

The office calendar is :class:`probe.office_time.OfficeHours` (the probe's vocabulary: one calendar for
both). At speed 1 the world's calendar is the sandbox clock's own. At a higher speed every delay is
divided by the speed, so a day of people would otherwise shrink to nothing against the weekend: with
people on, the calendar is compressed with the world (:class:`WorldCalendar`), starting at the first
office opening of the sandbox's starting week, so a demo at speed 60 lives a working day in 7.5 minutes.

Everything is a pure function of the seed, the kommunenummer and the instant: the same seed gives the
same looks whatever was asked before.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from probe.office_time import SEARCH_DAYS, OfficeHours
from probe.sandbox.behaviour.latency import unit
from probe.sandbox.settings import PeopleSettings


class WorldCalendar:
    """Maps the sandbox clock to the world's calendar time and back.

    ``compressed``: world time runs ``speed`` times faster than the sandbox clock from ``start``, which
    corresponds to the first office opening of ``start``'s week (Monday morning in most weeks); otherwise
    world time is the sandbox clock."""

    def __init__(self, office: OfficeHours, start: float, speed: float, *, compressed: bool) -> None:
        self.speed = speed if compressed else 1.0
        self.start = start
        if compressed:
            zone = zoneinfo.ZoneInfo(office.zone)
            today = dt.datetime.fromtimestamp(start, tz=zone).date()
            monday = today - dt.timedelta(days=today.isoweekday() - 1)
            self.anchor = office.next_open(
                dt.datetime.combine(monday, dt.time(0, 0), tzinfo=zone).timestamp()
            )
        else:
            self.anchor = start

    def world(self, instant: float) -> float:
        """The world time of sandbox instant ``instant``."""
        return self.anchor + (instant - self.start) * self.speed

    def sandbox(self, instant: float) -> float:
        """The sandbox instant of world time ``instant``."""
        return self.start + (instant - self.anchor) / self.speed


class People:
    """When each municipality's people look at the inbox and read (world time, Unix seconds)."""

    def __init__(self, settings: PeopleSettings, office: OfficeHours, seed: int | str) -> None:
        self.settings = settings
        self.office = office
        self._seed = seed
        self._zone = zoneinfo.ZoneInfo(office.zone)
        self._times = tuple(dt.time(int(text[:-3]), int(text[-2:])) for text in settings.looks)
        self._looks: dict[tuple[str, dt.date], tuple[float, ...]] = {}

    def looks_on(self, kommunenummer: str, date: dt.date) -> tuple[float, ...]:
        """The instants the municipality's people look at the inbox on ``date`` (none on a closed day):
        each configured time moved by up to the jitter either way, kept inside the open span."""
        key = (kommunenummer, date)
        cached = self._looks.get(key)
        if cached is not None:
            return cached
        span = self.office.span(date)
        looks: tuple[float, ...] = ()
        if span is not None:
            opened, closed = span
            found = set()
            for index, time in enumerate(self._times):
                planned = dt.datetime.combine(date, time, tzinfo=self._zone).timestamp()
                moved = (
                    planned
                    + (2 * unit("look", self._seed, kommunenummer, date, index) - 1) * self.settings.jitter
                )
                found.add(min(max(moved, opened), closed - 1.0))
            looks = tuple(sorted(found))
        if len(self._looks) > 100_000:  # a long-running sandbox: forget old days, keep the memory bounded
            self._looks.clear()
        self._looks[key] = looks
        return looks

    def next_look(self, kommunenummer: str, after: float) -> float:
        """The first look at the inbox at or after world instant ``after``."""
        date = dt.datetime.fromtimestamp(after, tz=self._zone).date()
        for _ in range(SEARCH_DAYS):
            for look in self.looks_on(kommunenummer, date):
                if look >= after:
                    return look
            date += dt.timedelta(days=1)
        raise ValueError(f"municipality {kommunenummer} never looks at its inbox (no working day)")

    def read_at(self, fetched: float, office_seconds: float) -> float:
        """When a person has read a message fetched at ``fetched``: ``office_seconds`` of office time later
        (a message fetched at 15:20 on a Friday is read on Monday)."""
        return self.office.advance(fetched, office_seconds)

    def longest_wait(self, kommunenummer: str, start: float, days: int = 366) -> float:
        """The longest wall time between two looks in the ``days`` after ``start`` (Easter, mostly)."""
        previous = self.next_look(kommunenummer, start)
        longest = 0.0
        end = start + days * 86_400.0
        while previous < end:
            following = self.next_look(kommunenummer, previous + 1.0)
            longest = max(longest, following - previous)
            previous = following
        return longest
