"""The soak's fault plan: which fault strikes which municipality when, and what each must be blamed on.

Faults are drawn at seeded random instants over the run, each on one municipality for a bounded time,
never overlapping another on the same municipality (nor its settle window). A share of them is pinned
to the moments a fixed deadline handles worst: Friday afternoons and the day before Easter. Faults of a
person's hop (nobody fetches) last in office time (a working day or more: nobody notices a missing role
in an hour), the others in wall time.

Everything here is plain data; :mod:`soak.upstreams` reads the plan to decide what the simulated
upstreams answer, :mod:`soak.analysis` to score the verdicts.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import random
import zoneinfo
from collections.abc import Iterable, Sequence

from dateutil.easter import easter  # type: ignore[import-untyped]

from probe.clock import NORWAY
from probe.hops import Channel, Hop, Owner
from probe.office_time import OfficeHours
from probe.sandbox.faults import FaultName

HOUR = 3600.0
DAY = 24 * HOUR
P, A = Channel.PORTAL, Channel.ALTINN

# fault -> {channel: (hop, owner)} the first lost/failed verdict must name (DESIGN section 2); the
# channels not listed are not scored for the fault (their verdicts in its window are not false pages).
BLAME: dict[FaultName, dict[Channel, tuple[Hop, Owner]]] = {
    FaultName.PORTAL_SUBMIT_ERROR: {P: (Hop.ACCEPTED, Owner.KS)},
    FaultName.PORTAL_STALL: {P: (Hop.FORWARDED, Owner.KS)},
    FaultName.PORTAL_HANDOVER_LOST: {P: (Hop.RECEIPTED, Owner.VENDOR)},
    FaultName.VENDOR_RECEIPT_WITHOUT_STORE: {P: (Hop.REGISTERED, Owner.VENDOR)},
    FaultName.VENDOR_REJECT: {P: (Hop.RECEIPTED, Owner.VENDOR)},
    FaultName.VENDOR_SLOW: {P: (Hop.RECEIPTED, Owner.VENDOR)},
    FaultName.VENDOR_DOWN: {P: (Hop.RECEIPTED, Owner.VENDOR)},
    FaultName.ALTINN_SUBMIT_ERROR: {A: (Hop.ACCEPTED, Owner.DIGDIR)},
    FaultName.ALTINN_PUBLISH_FAILED: {A: (Hop.PUBLISHED, Owner.DIGDIR)},
    FaultName.MUNICIPALITY_NEVER_FETCHES: {A: (Hop.FETCHED, Owner.MUNICIPALITY)},
    FaultName.MUNICIPALITY_NO_CONFIDENTIAL_ROLE: {A: (Hop.FETCHED, Owner.MUNICIPALITY)},
}
# Faults that must not page (a blind probe says ``unknown``) but leave a signal of their own.
SIGNALS = (
    FaultName.VENDOR_READBACK_DOWN,  # unknown, never lost
    FaultName.RATELIMIT,  # unknown, never lost
    FaultName.MALFORMED,  # unknown, never lost
    FaultName.VENDOR_DUPLICATE,  # counted in kanari_duplicates_total, still delivered
    FaultName.VENDOR_DELETE_REFUSED,  # counted in kanari_cleanup_failures_total
)
# Faults of a person's hop: their length counts in office time.
HUMAN = frozenset({FaultName.MUNICIPALITY_NEVER_FETCHES, FaultName.MUNICIPALITY_NO_CONFIDENTIAL_ROLE})
# Faults of each kind pinned to an Easter eve (the Wednesday before and Easter Saturday, alternately).
EASTER_PER_KIND = 2
# How often a pinned fault looks for a free municipality at its moment before it is drawn at random.
PINNED_TRIES = 200
# Faults that need the vendor's read-back API to be seen at all.
NEEDS_READBACK = frozenset(
    {
        FaultName.VENDOR_RECEIPT_WITHOUT_STORE,
        FaultName.VENDOR_READBACK_DOWN,
        FaultName.VENDOR_DUPLICATE,
        FaultName.VENDOR_DELETE_REFUSED,
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedFault:
    """One fault on one municipality, active in [``start``, ``end``)."""

    index: int
    name: FaultName
    municipality: str
    start: float
    end: float
    # Why it starts when it does: ``random``, ``friday`` (a Friday afternoon), ``easter`` (the day before).
    moment: str = "random"


@dataclasses.dataclass(frozen=True)
class Lengths:
    """How long faults last: machine faults in wall hours, a person's in office hours."""

    wall: tuple[float, float] = (1 * HOUR, 12 * HOUR)
    office: tuple[float, float] = (8 * HOUR, 24 * HOUR)
    # After a fault ends, nothing else starts on the municipality for this long.
    settle: float = 6 * HOUR


class FaultPlan:
    """Every planned fault, searchable by municipality and instant."""

    def __init__(self, faults: Iterable[PlannedFault]) -> None:
        self.faults = sorted(faults, key=lambda fault: (fault.municipality, fault.start))
        self._by_municipality: dict[str, list[PlannedFault]] = {}
        for fault in self.faults:
            self._by_municipality.setdefault(fault.municipality, []).append(fault)
        self._starts = {k: [f.start for f in found] for k, found in self._by_municipality.items()}

    def at(self, municipality: str, instant: float) -> PlannedFault | None:
        """The fault active on ``municipality`` at ``instant`` (at most one: they never overlap)."""
        starts = self._starts.get(municipality)
        if not starts:
            return None
        index = bisect.bisect_right(starts, instant) - 1
        if index < 0:
            return None
        fault = self._by_municipality[municipality][index]
        return fault if instant < fault.end else None

    def active(self, name: FaultName, municipality: str, instant: float) -> bool:
        """Whether ``name`` is active on ``municipality`` at ``instant``."""
        fault = self.at(municipality, instant)
        return fault is not None and fault.name is name

    def free_from(self, names: Iterable[FaultName], municipality: str, instant: float) -> float:
        """The first instant at or after ``instant`` when none of ``names`` holds ``municipality``."""
        fault = self.at(municipality, instant)
        if fault is not None and fault.name in set(names):
            return fault.end
        return instant

    def of(self, municipality: str) -> Sequence[PlannedFault]:
        """The municipality's faults, in time order."""
        return self._by_municipality.get(municipality, [])


def friday_afternoons(start: float, end: float, zone: str = NORWAY) -> list[float]:
    """14:00-15:30 on every Friday of [``start``, ``end``), as its 14:00 instant."""
    tz = zoneinfo.ZoneInfo(zone)
    day = dt.datetime.fromtimestamp(start, tz=tz).date()
    found: list[float] = []
    while True:
        instant = dt.datetime.combine(day, dt.time(14, 0), tzinfo=tz).timestamp()
        if instant >= end:
            return found
        if day.isoweekday() == 5 and instant >= start:
            found.append(instant)
        day += dt.timedelta(days=1)


def easter_eves(start: float, end: float, zone: str = NORWAY) -> list[float]:
    """Noon on the day before Easter's first holiday (the Wednesday before Maundy Thursday) and on Easter
    Saturday, in every year of [``start``, ``end``)."""
    tz = zoneinfo.ZoneInfo(zone)
    first = dt.datetime.fromtimestamp(start, tz=tz).year
    last = dt.datetime.fromtimestamp(end, tz=tz).year
    found: list[float] = []
    for year in range(first, last + 1):
        sunday = easter(year)
        for day in (sunday - dt.timedelta(days=4), sunday - dt.timedelta(days=1)):
            instant = dt.datetime.combine(day, dt.time(12, 0), tzinfo=tz).timestamp()
            if start <= instant < end:
                found.append(instant)
    return found


@dataclasses.dataclass(frozen=True)
class Target:
    """A municipality faults may strike, and what it has (for the faults that need it)."""

    kommunenummer: str
    has_readback: bool


def draw_plan(
    targets: Sequence[Target],
    kinds: Sequence[FaultName],
    per_kind: int,
    start: float,
    end: float,
    *,
    seed: int,
    lengths: Lengths = Lengths(),
    office: OfficeHours | None = None,
    pinned_share: float = 0.1,
) -> FaultPlan:
    """``per_kind`` faults of each of ``kinds`` over [``start``, ``end``), seeded.

    :data:`EASTER_PER_KIND` of each kind's faults start on an Easter eve and about ``pinned_share`` on a
    Friday afternoon (jittered by up to an hour); the rest at uniform instants. A fault that would overlap
    another (with its settle window) on its municipality is drawn again elsewhere."""
    rng = random.Random(f"soak-faults:{seed}")
    office = office or OfficeHours()
    fridays = friday_afternoons(start, end)
    eves = easter_eves(start, end)
    busy: dict[str, list[tuple[float, float]]] = {}
    planned: list[PlannedFault] = []
    for kind in kinds:
        eligible = [t for t in targets if t.has_readback or kind not in NEEDS_READBACK]
        for number in range(per_kind):
            for attempt in range(10_000):
                target = rng.choice(eligible)
                moment = "random"
                # A pinned moment that found no free municipality in many tries gives way to a random one.
                pinned = attempt < PINNED_TRIES
                if pinned and number < EASTER_PER_KIND and eves:
                    moment = "easter"
                    begin = eves[number % len(eves)] + rng.uniform(-HOUR, HOUR)
                elif pinned and number < EASTER_PER_KIND + per_kind * pinned_share and fridays:
                    moment = "friday"
                    begin = rng.choice(fridays) + rng.uniform(-HOUR, HOUR)
                else:
                    begin = rng.uniform(start, end - 2 * DAY)
                if kind in HUMAN:
                    finish = office.advance(begin, rng.uniform(*lengths.office))
                else:
                    finish = begin + rng.uniform(*lengths.wall)
                spans = busy.setdefault(target.kommunenummer, [])
                if finish + lengths.settle < end - DAY and not any(
                    begin < b + lengths.settle and a < finish + lengths.settle for a, b in spans
                ):
                    spans.append((begin, finish))
                    planned.append(
                        PlannedFault(len(planned), kind, target.kommunenummer, begin, finish, moment)
                    )
                    break
            else:
                raise ValueError(f"no room for {per_kind} faults of {kind} in the run: make it longer")
    return FaultPlan(planned)
