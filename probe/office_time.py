"""Office time: the clock of the hops that need a person (DESIGN section 2; Altinn ``fetched`` and
``read``, and any hop a route marks as manual).

A municipality's inbox is opened by people at work: working hours on working days (default 08:00-15:30
Europe/Oslo, Monday to Friday), never on Norwegian public holidays (the maintained ``holidays``
calendar, not a list of our own), never in the closures a municipality names (its summer weeks). A
deadline of "three office hours" sent on a Friday afternoon falls on Monday morning, and Easter counts
for nothing: a probe that pages on Easter Sunday because nobody read the mail is muted by Tuesday.

Everything here is a pure function of Unix seconds; the open spans of a day are computed once per date
(daylight saving time included) and cached, so the engine's and the soak's many questions cost a few
comparisons each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import zoneinfo

import holidays

from probe.clock import NORWAY

DAY = 86_400.0
# Far enough to cross the longest closure a configuration can name plus the weekends around it; a
# search that finds no open minute in that long says the calendar is never open (refused at load).
SEARCH_DAYS = 400


class ClosedCalendarError(ValueError):
    """The calendar has no working time at all (no weekday, or every day closed)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Closure:
    """A span of dates (both included) when the office is closed, e.g. the summer weeks."""

    first: dt.date
    last: dt.date


@dataclasses.dataclass(frozen=True)
class OfficeHours:
    """Working hours of one municipality's office, as a clock that runs only while it is open."""

    opens: dt.time = dt.time(8, 0)
    closes: dt.time = dt.time(15, 30)
    # ISO weekday numbers, Monday = 1.
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    zone: str = NORWAY
    # The public holidays of this country (``holidays``' ISO 3166 code); ``None``: no holidays.
    country: str | None = "NO"
    closures: tuple[Closure, ...] = ()

    def __post_init__(self) -> None:
        if self.closes <= self.opens:
            raise ValueError(f"office hours close ({self.closes}) before they open ({self.opens})")
        if not self.weekdays or not self.weekdays <= set(range(1, 8)):
            raise ValueError(f"office weekdays must be ISO weekday numbers 1-7, got {sorted(self.weekdays)}")

    # The open span of a date, in Unix seconds; ``None`` on a closed day.
    @functools.lru_cache(maxsize=4096)  # noqa: B019 (instances are few, frozen and live for the run)
    def span(self, date: dt.date) -> tuple[float, float] | None:
        """When the office is open on ``date`` (Unix seconds), or ``None`` when it is closed all day."""
        if not self.working_day(date):
            return None
        zone = zoneinfo.ZoneInfo(self.zone)
        start = dt.datetime.combine(date, self.opens, tzinfo=zone).timestamp()
        end = dt.datetime.combine(date, self.closes, tzinfo=zone).timestamp()
        return (start, end)

    def working_day(self, date: dt.date) -> bool:
        """Whether ``date`` is a working day: a configured weekday, no public holiday, no closure."""
        if date.isoweekday() not in self.weekdays:
            return False
        if self.country is not None and date in _holidays(self.country, date.year):
            return False
        return not any(closure.first <= date <= closure.last for closure in self.closures)

    def _date(self, instant: float) -> dt.date:
        return dt.datetime.fromtimestamp(instant, tz=zoneinfo.ZoneInfo(self.zone)).date()

    def is_open(self, instant: float) -> bool:
        """Whether the office is open at ``instant``."""
        span = self.span(self._date(instant))
        return span is not None and span[0] <= instant < span[1]

    def elapsed(self, start: float, end: float) -> float:
        """Office seconds between ``start`` and ``end`` (0 when ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        total = 0.0
        date = self._date(start)
        last = self._date(end)
        while date <= last:
            span = self.span(date)
            if span is not None:
                total += max(0.0, min(span[1], end) - max(span[0], start))
            date += dt.timedelta(days=1)
        return total

    def advance(self, start: float, seconds: float) -> float:
        """The instant at which ``seconds`` of office time have passed since ``start``.

        ``seconds`` of 0 give the next open instant (``start`` itself while open): a person's hop cannot
        be due while the office is closed."""
        remaining = max(0.0, seconds)
        date = self._date(start)
        for _ in range(SEARCH_DAYS):
            span = self.span(date)
            if span is not None and span[1] > start:
                begin = max(span[0], start)
                available = span[1] - begin
                if remaining < available or (remaining == 0 and available > 0):
                    return begin + remaining
                remaining -= available
            date += dt.timedelta(days=1)
        raise ClosedCalendarError("the office calendar has no working time in the coming years")

    def rewind(self, end: float, seconds: float) -> float:
        """The latest instant from which ``seconds`` of office time have passed by ``end``."""
        remaining = max(0.0, seconds)
        date = self._date(end)
        for _ in range(SEARCH_DAYS):
            span = self.span(date)
            if span is not None and span[0] < end:
                finish = min(span[1], end)
                available = finish - span[0]
                if remaining <= available:
                    return finish - remaining
                remaining -= available
            date -= dt.timedelta(days=1)
        raise ClosedCalendarError("the office calendar has no working time in the past years")

    def next_open(self, instant: float) -> float:
        """``instant`` while the office is open, else when it next opens."""
        return self.advance(instant, 0.0)

    def open_spans(self, start: float, end: float) -> list[tuple[float, float]]:
        """The open spans that overlap [``start``, ``end``), clipped to it (the sandbox's people work in
        them)."""
        spans: list[tuple[float, float]] = []
        date = self._date(start)
        last = self._date(end)
        while date <= last:
            span = self.span(date)
            if span is not None and span[1] > start and span[0] < end:
                spans.append((max(span[0], start), min(span[1], end)))
            date += dt.timedelta(days=1)
        return spans


@functools.lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    """The public holidays of ``country`` in ``year`` (``holidays``' calendar: Easter, Whit Monday,
    Constitution Day, ...; Sundays are not counted as holidays here, weekdays decide those)."""
    return frozenset(holidays.country_holidays(country, years=year).keys())


def known_country(country: str) -> bool:
    """Whether ``holidays`` has a calendar for ``country`` (a configuration check)."""
    return country in holidays.list_supported_countries()
