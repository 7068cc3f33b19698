"""What each view of the status page shows, computed from a ledger snapshot and the configured routes.

Pure functions of their inputs (no I/O, no clock): the page renders these objects, tests assert on them.
A route's **state** is what the grid colours and the legend names:

- ``delivering``: its newest verdict is ``delivered`` and no incident is open on it;
- ``broken``: an incident is open on it, or its newest verdict is ``lost`` or ``failed``;
- ``unknown``: its newest verdict is ``unknown`` (Kanari could not look: a blind probe blames no one);
- ``pending``: no canary on it has a verdict yet.

Nothing here carries a canary's content, marker, upstream id or diagnostics: only ids, times, hops and
verdicts, which a vendor needs to search its own system and hold no personal data.
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from collections.abc import Iterable, Mapping, Sequence

from probe.config.routes import Route
from probe.hops import HOPS, Channel, Hop, Owner, Verdict, hops_until
from probe.lifecycle.incident import Incident
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at

RouteKey = tuple[Channel, str]
Deadlines = Mapping[RouteKey, Mapping[Hop, float]]
"""Learned deadlines: per route, the bound per hop (seconds from sending) the probe learned from the
route's history. Filled by whoever learns them; empty means every route uses its configured deadline."""
VerdictCounts = Mapping[RouteKey, Mapping[Verdict, int]]

WINDOWS_DAYS = (7, 30)
# How many of a route's newest canaries the municipality view shows.
RECENT_CANARIES = 10


class RouteState(enum.StrEnum):
    """A route's state on the page."""

    DELIVERING = "delivering"
    BROKEN = "broken"
    UNKNOWN = "unknown"
    PENDING = "pending"


# The symbol beside each state's colour, so the grid reads without colour too.
SYMBOLS: dict[RouteState, str] = {
    RouteState.DELIVERING: "✓",
    RouteState.BROKEN: "✗",
    RouteState.UNKNOWN: "?",
    RouteState.PENDING: "○",
}

# Which runbook section describes an incident: the alert that pages for it (see docs/runbooks.md). Hops
# with their own alert first; every other loss is the route-losing alert's.
_RUNBOOK_ALERTS: dict[tuple[Channel, Hop], str] = {
    (Channel.PORTAL, Hop.REGISTERED): "KanariReceiptWithoutRecord",
    (Channel.ALTINN, Hop.FETCHED): "KanariPublishedNeverFetched",
}
RUNBOOK_DEFAULT = "KanariRouteLosingCanaries"
RUNBOOK_SENDING = "KanariSendingFailing"
RUNBOOK_PAPER_POST = "KanariFallbackToPaperPost"


def newest_verdict(records: Sequence[CanaryRecord]) -> Verdict | None:
    """The verdict of the newest judged canary among ``records`` (newest first)."""
    return next((record.verdict for record in records if record.verdict is not None), None)


def route_state(verdict: Verdict | None, incident_open: bool) -> RouteState:
    """The state of a route whose newest verdict is ``verdict`` (``None``: none yet)."""
    if incident_open:
        return RouteState.BROKEN
    if verdict is None:
        return RouteState.PENDING
    if verdict is Verdict.DELIVERED:
        return RouteState.DELIVERING
    if verdict is Verdict.UNKNOWN:
        return RouteState.UNKNOWN
    return RouteState.BROKEN


def delivered_share(counts: Mapping[Verdict, int]) -> float | None:
    """Delivered among judged canaries (delivered, lost, failed); ``None`` if none was judged. Unknown
    verdicts are left out: a blind probe says nothing about the route, as in the SLO."""
    judged = sum(counts.get(verdict, 0) for verdict in (Verdict.DELIVERED, Verdict.LOST, Verdict.FAILED))
    return counts.get(Verdict.DELIVERED, 0) / judged if judged else None


def judged(counts: Mapping[Verdict, int]) -> int:
    """How many canaries of ``counts`` were judged (delivered, lost or failed)."""
    return sum(counts.get(verdict, 0) for verdict in (Verdict.DELIVERED, Verdict.LOST, Verdict.FAILED))


def runbook_alert(incident: Incident, failed_on_paper: bool = False) -> str:
    """The alert whose runbook section says what to do about ``incident``."""
    if incident.owner is Owner.OPS:
        return RUNBOOK_SENDING
    if failed_on_paper:
        return RUNBOOK_PAPER_POST
    return _RUNBOOK_ALERTS.get((incident.channel, incident.hop), RUNBOOK_DEFAULT)


@dataclasses.dataclass(frozen=True, slots=True)
class Cell:
    """One municipality in the national grid."""

    kommunenummer: str
    name: str
    state: RouteState


@dataclasses.dataclass(frozen=True, slots=True)
class County:
    """A county's municipalities, in kommunenummer order."""

    name: str
    cells: tuple[Cell, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelSummary:
    """One channel on the national view."""

    channel: Channel
    routes: int
    states: Mapping[RouteState, int]
    open_incidents: int
    counties: tuple[County, ...]

    @property
    def share(self) -> float | None:
        """Share of the channel's routes delivering (``None`` without routes)."""
        return self.states.get(RouteState.DELIVERING, 0) / self.routes if self.routes else None


@dataclasses.dataclass(frozen=True, slots=True)
class NationalView:
    """The public view: per channel, how many routes deliver and where the others are."""

    taken_at: float
    channels: tuple[ChannelSummary, ...]


def _states(
    routes: Iterable[Route], verdicts: Mapping[RouteKey, Verdict], incidents: Sequence[Incident]
) -> dict[RouteKey, RouteState]:
    broken = {(incident.channel, incident.municipality) for incident in incidents if incident.open}
    return {route.key: route_state(verdicts.get(route.key), route.key in broken) for route in routes}


def national_view(
    routes: Sequence[Route],
    verdicts: Mapping[RouteKey, Verdict],
    open_incidents: Sequence[Incident],
    taken_at: float,
) -> NationalView:
    """The national view of ``routes`` (the configured ones), given each route's newest verdict and the
    open incidents."""
    states = _states(routes, verdicts, open_incidents)
    channels = []
    for channel in Channel:
        on_channel = sorted((r for r in routes if r.channel is channel), key=lambda r: r.kommunenummer)
        if not on_channel:
            continue
        counties: dict[str, list[Cell]] = {}
        for route in on_channel:
            cell = Cell(route.kommunenummer, route.municipality_name, states[route.key])
            counties.setdefault(route.county, []).append(cell)
        tally = dict.fromkeys(RouteState, 0)
        for route in on_channel:
            tally[states[route.key]] += 1
        channels.append(
            ChannelSummary(
                channel=channel,
                routes=len(on_channel),
                states=tally,
                open_incidents=sum(1 for i in open_incidents if i.open and i.channel is channel),
                counties=tuple(County(name, tuple(cells)) for name, cells in counties.items()),
            )
        )
    return NationalView(taken_at, tuple(channels))


@dataclasses.dataclass(frozen=True, slots=True)
class VendorRoute:
    """One of a vendor's routes."""

    route: Route
    state: RouteState
    # Per window in days: the delivered share and how many canaries were judged.
    shares: Mapping[int, float | None]
    judged: Mapping[int, int]
    last_latency: float | None
    last_delivered_at: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class VendorView:
    """A vendor's routes, delivered shares, latency and incidents (restricted)."""

    vendor: str
    name: str
    taken_at: float
    routes: tuple[VendorRoute, ...]
    shares: Mapping[int, float | None]
    judged: Mapping[int, int]
    median_latency: float | None
    open_incidents: tuple[Incident, ...]
    past_incidents: tuple[Incident, ...]


def vendor_view(
    vendor: str,
    name: str,
    routes: Sequence[Route],
    *,
    verdicts: Mapping[RouteKey, Verdict],
    delivered: Iterable[CanaryRecord],
    counts: Mapping[int, VerdictCounts],
    incidents: Sequence[Incident],
    taken_at: float,
) -> VendorView:
    """The view of ``vendor``: ``routes`` are the configured routes, ``verdicts`` each route's newest
    verdict, ``delivered`` the newest delivered
    canary per route, ``counts`` the verdicts per route per window (days), ``incidents`` its incidents
    (newest first)."""
    own = [route for route in routes if route.vendor == vendor]
    keys = {route.key for route in own}
    own_incidents = [incident for incident in incidents if (incident.channel, incident.municipality) in keys]
    states = _states(own, verdicts, own_incidents)
    newest = {record.route_key: record for record in delivered if record.route_key in keys}
    lines = []
    for route in sorted(own, key=lambda r: (r.kommunenummer, r.channel.value)):
        record = newest.get(route.key)
        done = delivered_at(record) if record is not None else None
        lines.append(
            VendorRoute(
                route=route,
                state=states[route.key],
                shares={days: delivered_share(counts[days].get(route.key, {})) for days in counts},
                judged={days: judged(counts[days].get(route.key, {})) for days in counts},
                last_latency=done - record.created_at if record is not None and done is not None else None,
                last_delivered_at=done,
            )
        )
    totals = {days: _sum(counts[days].get(key, {}) for key in keys) for days in counts}
    latencies = [line.last_latency for line in lines if line.last_latency is not None]
    return VendorView(
        vendor=vendor,
        name=name,
        taken_at=taken_at,
        routes=tuple(lines),
        shares={days: delivered_share(total) for days, total in totals.items()},
        judged={days: judged(total) for days, total in totals.items()},
        median_latency=statistics.median(latencies) if latencies else None,
        open_incidents=tuple(incident for incident in own_incidents if incident.open),
        past_incidents=tuple(incident for incident in own_incidents if not incident.open),
    )


def _sum(many: Iterable[Mapping[Verdict, int]]) -> dict[Verdict, int]:
    total: dict[Verdict, int] = {}
    for counts in many:
        for verdict, count in counts.items():
            total[verdict] = total.get(verdict, 0) + count
    return total


@dataclasses.dataclass(frozen=True, slots=True)
class HopMark:
    """One hop of one canary: seconds from sending to reaching it (``None``: not reached)."""

    hop: Hop
    owner: Owner
    seconds: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class CanaryLine:
    """One canary in a route's timeline: its id (what a vendor searches for), never its content."""

    id: str
    sent_at: float
    verdict: Verdict | None
    blamed_hop: Hop | None
    hops: tuple[HopMark, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelDetail:
    """One of a municipality's routes."""

    route: Route
    state: RouteState
    canaries: tuple[CanaryLine, ...]
    learned_deadline: Mapping[Hop, float]
    open_incidents: tuple[Incident, ...]
    past_incidents: tuple[Incident, ...]
    # The alert whose runbook section applies, per incident id.
    runbooks: Mapping[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class MunicipalityView:
    """A municipality's routes on both channels (restricted)."""

    kommunenummer: str
    name: str
    county: str
    taken_at: float
    channels: tuple[ChannelDetail, ...]


def canary_line(record: CanaryRecord) -> CanaryLine:
    """A canary's timeline: every hop it must reach, with the seconds from sending to each."""
    return CanaryLine(
        id=record.id,
        sent_at=record.created_at,
        verdict=record.verdict,
        blamed_hop=record.blamed_hop,
        hops=tuple(
            HopMark(
                hop,
                dict(HOPS[record.channel])[hop],
                record.hops[hop] - record.created_at if hop in record.hops else None,
            )
            for hop in hops_until(record.channel, record.final_hop)
        ),
    )


def municipality_view(
    kommunenummer: str,
    routes: Sequence[Route],
    *,
    recent: Mapping[RouteKey, Sequence[CanaryRecord]],
    incidents: Sequence[Incident],
    taken_at: float,
    deadlines: Deadlines,
) -> MunicipalityView | None:
    """The view of one municipality (``None`` if no configured route goes to it): ``recent`` holds each
    route's newest canaries (newest first), ``incidents`` the municipality's incidents (newest first),
    ``deadlines`` the learned deadlines (the lead's hook; empty until routes learn them)."""
    own = sorted((r for r in routes if r.kommunenummer == kommunenummer), key=lambda r: r.channel.value)
    if not own:
        return None
    channels = []
    for route in own:
        on_route = [i for i in incidents if i.channel is route.channel and i.municipality == kommunenummer]
        records = recent.get(route.key, ())
        paper = _failed_on_paper(records)
        channels.append(
            ChannelDetail(
                route=route,
                state=route_state(newest_verdict(records), any(i.open for i in on_route)),
                canaries=tuple(canary_line(record) for record in records),
                learned_deadline=dict(deadlines.get(route.key, {})),
                open_incidents=tuple(i for i in on_route if i.open),
                past_incidents=tuple(i for i in on_route if not i.open),
                runbooks={i.id: runbook_alert(i, paper and i.open) for i in on_route},
            )
        )
    first = own[0]
    return MunicipalityView(kommunenummer, first.municipality_name, first.county, taken_at, tuple(channels))


def _failed_on_paper(records: Sequence[CanaryRecord]) -> bool:
    """Whether the route's newest judged canary failed on the portal after KS took it: the fagsystem
    rejected it and KS sent it as paper post (the paper-post alert's case)."""
    newest = next((record for record in records if record.verdict is not None), None)
    return (
        newest is not None
        and newest.channel is Channel.PORTAL
        and newest.verdict is Verdict.FAILED
        and newest.blamed_hop is Hop.RECEIPTED
    )
