"""The settings of learned deadlines and office time: ``office_hours:`` in ``kanari.yaml`` (and a
municipality file's own, laid over it), ``channels.<ch>.learning:``. The calendar itself is
:mod:`probe.office_time`; the bounds :mod:`probe.lifecycle.bounds`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from probe.config.durations import DeliveryTime
from probe.config.fields import Strict, TimeZoneName
from probe.config.routes import Learning
from probe.office_time import Closure, OfficeHours, known_country

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WORKING_WEEK: list[Weekday] = ["monday", "tuesday", "wednesday", "thursday", "friday"]


class ClosureSettings(Strict):
    """Dates (both included) a municipality's office is closed, e.g. its summer weeks."""

    first: dt.date
    last: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> ClosureSettings:
        if self.last < self.first:
            raise ValueError(f"last ({self.last}) is before first ({self.first})")
        return self


class OfficeHoursOverride(Strict):
    """A municipality's own office hours: what it gives replaces ``kanari.yaml``'s, the rest is kept;
    its closures come on top of those ``kanari.yaml`` names."""

    opens: dt.time | None = None
    closes: dt.time | None = None
    weekdays: list[Weekday] | None = Field(default=None, min_length=1)
    closures: list[ClosureSettings] = []


class OfficeHoursSettings(Strict):
    """When people at the municipalities work (default 08:00-15:30 Europe/Oslo, Monday to Friday, no
    Norwegian public holiday): the clock of the hops that need a person."""

    opens: dt.time = dt.time(8, 0)
    closes: dt.time = dt.time(15, 30)
    weekdays: list[Weekday] = Field(default=WORKING_WEEK, min_length=1)
    time_zone: TimeZoneName = "Europe/Oslo"
    # The public holidays of this country (ISO 3166 code, the ``holidays`` library's calendar); null for
    # none.
    holidays: str | None = "NO"
    closures: list[ClosureSettings] = []

    @model_validator(mode="after")
    def _consistent(self) -> OfficeHoursSettings:
        if self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes}) must be after opens ({self.opens})")
        if self.holidays is not None and not known_country(self.holidays):
            raise ValueError(
                f"holidays: no public holiday calendar for {self.holidays!r}; use an ISO 3166 country code "
                "such as NO, or null for none"
            )
        return self

    def build(self, override: OfficeHoursOverride | None = None) -> OfficeHours:
        """The calendar, with a municipality's ``override`` laid over it."""
        opens = override.opens if override and override.opens else self.opens
        closes = override.closes if override and override.closes else self.closes
        weekdays = override.weekdays if override and override.weekdays else self.weekdays
        closures = [*self.closures, *(override.closures if override else [])]
        return OfficeHours(
            opens=opens,
            closes=closes,
            weekdays=frozenset(WEEKDAYS.index(day) + 1 for day in weekdays),
            zone=self.time_zone,
            country=self.holidays,
            closures=tuple(Closure(closure.first, closure.last) for closure in closures),
        )


class LearningSettings(Strict):
    """How each route learns its deadlines (:class:`probe.config.routes.Learning`); ``learning: null``
    keeps the configured deadline for every hop."""

    # The nearest-rank quantile of the route's recent latencies: 1 is the slowest healthy canary seen.
    quantile: float = Field(default=1.0, gt=0.5, le=1.0)
    # The bound of a machine's hop is the quantile times this: room for the long tail of machines and
    # their slow days (a vendor two to four times slower all day), which a few days of history rarely
    # hold. At the portal's 15-minute sends most of the time to detect a break is the wait for the next
    # send, so a generous margin costs little.
    margin: float = Field(default=2.0, ge=1.0, le=10.0)
    # The bound of a person's hop (office time): people open the inbox at their times of day, so its
    # latency is bounded by the office's own day and a small margin is enough.
    office_margin: float = Field(default=1.25, ge=1.0, le=10.0)
    # How many delivered canaries a route remembers (at the portal's 15 minutes, 500 is five days).
    samples: int = Field(default=500, ge=10, le=100_000)
    # Until this many were delivered, the configured deadline holds (half a day of the portal's sends,
    # two of Altinn's).
    min_samples: int = Field(default=50, ge=1)
    # The shortest bound: a route that is always fast still gets this long (two of the portal's polls).
    minimum: DeliveryTime = 60

    @model_validator(mode="after")
    def _enough_samples(self) -> LearningSettings:
        if self.min_samples > self.samples:
            raise ValueError(f"min_samples ({self.min_samples}) is more than samples ({self.samples})")
        return self

    def build(self) -> Learning:
        """The routes' learning."""
        return Learning(
            self.quantile, self.margin, self.samples, self.min_samples, self.minimum, self.office_margin
        )
