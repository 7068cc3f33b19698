"""What a verdict does to its route's incidents (DESIGN section 7), as pure functions of the route's
incident state and the judged canary.

An incident opens at a route's first lost or failed canary and closes at the next delivered one; its
exposure window runs from the send time of the last canary delivered before the break to the send time
of the first delivered after it. Verdicts come in *verdict* order, which is not send order: a lost
canary is judged at its deadline, long after canaries sent later were delivered, and a slow canary sent
before the break can be delivered after it. The window is therefore decided by send times:

- a delivered canary closes an open incident only if it was sent after every lost or failed canary of
  the incident (after the first one, in particular: one sent before the break closes nothing, but, being
  the newest delivered before the break, moves the window's start to its send time);
- a lost or failed canary joins the route's newest incident if that is open or if its send time lies in
  that incident's window (the route's window already covers it), otherwise it opens a new incident;
- a new incident whose break is already followed by a delivered canary (one sent after it, judged
  first) is closed at once, at the first such.

For that the route's state keeps the send times of the delivered canaries that can still be a window's
edge (:func:`pruned` drops those that cannot), the send time of the route's first canary (the window's
start when nothing was ever delivered before the break) and its newest incident. A window always holds
the send times of every canary counted in it; the result does not depend on the order in which
verdicts given at the same time are applied.
"""

from __future__ import annotations

import bisect
import dataclasses
import uuid

from probe.hops import Channel, Hop, Owner, Verdict, owner_of
from probe.lifecycle.incident import Incident
from probe.lifecycle.record import CanaryRecord

# Incident ids are derived from the canary that opened the incident: the same break gives the same id
# (a replayed flush, a test), and an incident id can never be taken for a canary id.
_NAMESPACE = uuid.UUID("6b616e61-7269-4943-a96e-636964656e74")
BREAKING = frozenset({Verdict.LOST, Verdict.FAILED})


@dataclasses.dataclass(frozen=True, slots=True)
class TrackedIncident:
    """An incident and the send times of the earliest and the latest sent of its lost or failed
    canaries, and whether its window starts at a delivered canary's send (else at the route's first
    canary's): what decides which later verdicts change it (kept in the ledger beside it)."""

    incident: Incident
    failed_from: float
    failed_until: float
    start_delivered: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class RouteIncidents:
    """One route's state for incidents: delivered canaries' send times that can still be a window's
    edge (ascending), the route's first canary's send time, and its newest incident."""

    delivered: tuple[float, ...] = ()
    first_sent: float | None = None
    last: TrackedIncident | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """A route's new state and the incidents a verdict created or changed (to be saved)."""

    state: RouteIncidents
    changed: tuple[TrackedIncident, ...] = ()


def incident_id(first_canary: str) -> str:
    """The id of the incident the canary ``first_canary`` opened."""
    return str(uuid.uuid5(_NAMESPACE, first_canary))


def sent(state: RouteIncidents, created_at: float) -> RouteIncidents:
    """The route has a canary sent at ``created_at`` (its first one's time is the fallback start)."""
    if state.first_sent is not None and state.first_sent <= created_at:
        return state
    return dataclasses.replace(state, first_sent=created_at)


def judged(state: RouteIncidents, record: CanaryRecord, retention: float) -> Change:
    """What the verdict of ``record`` does to its route: ``retention`` is KS's (window start plus it is
    the recovery date). ``unknown`` changes nothing: a blind probe neither opens nor closes."""
    state = sent(state, record.created_at)
    if record.verdict is Verdict.DELIVERED:
        return _delivered(state, record.created_at, retention, record.verdict_at or record.created_at)
    if record.verdict in BREAKING:
        return _broken(state, record, retention)
    return Change(state)


def pruned(state: RouteIncidents, oldest_unresolved: float | None) -> RouteIncidents:
    """Drop the delivered send times no future verdict can need. Every later lost or failed canary is
    one not yet resolved (sent at ``oldest_unresolved`` or later, or not yet sent: ``None``), so the
    newest delivered before that and every one after it are all that can become a window's edge."""
    times = state.delivered
    if not times:
        return state
    if oldest_unresolved is None:
        keep = len(times) - 1
    else:
        keep = max(bisect.bisect_left(times, oldest_unresolved) - 1, 0)
    return state if keep == 0 else dataclasses.replace(state, delivered=times[keep:])


def _with_start(tracked: TrackedIncident, start: tuple[float, bool], retention: float) -> TrackedIncident:
    at, delivered = start
    incident = dataclasses.replace(tracked.incident, exposure_start=at, retained_until=at + retention)
    return dataclasses.replace(tracked, incident=incident, start_delivered=delivered)


def _delivered(state: RouteIncidents, at: float, retention: float, verdict_at: float) -> Change:
    delivered = list(state.delivered)
    bisect.insort(delivered, at)
    state = dataclasses.replace(state, delivered=tuple(delivered))
    tracked = state.last
    if tracked is None:
        return Change(state)
    incident = tracked.incident
    if at < tracked.failed_from and (incident.exposure_start < at or not tracked.start_delivered):
        # Sent before the break, judged after it: the newest delivered before the break is this one.
        updated = _with_start(tracked, (at, True), retention)
    elif at > tracked.failed_until and incident.open:
        updated = dataclasses.replace(
            tracked, incident=dataclasses.replace(incident, exposure_end=at, closed_at=verdict_at)
        )
    elif tracked.failed_until < at < (incident.exposure_end or at):
        # Closed by a canary sent later than this one: the first delivered after the break is this one.
        updated = dataclasses.replace(tracked, incident=dataclasses.replace(incident, exposure_end=at))
    else:
        return Change(state)  # within the failures' span (the route flaps), or outside the window
    return Change(dataclasses.replace(state, last=updated), (updated,))


def _before(state: RouteIncidents, at: float) -> tuple[float, bool]:
    """The window's start for a break at ``at``: the newest delivered send time before it, else the
    route's first canary's (and which of the two it is)."""
    index = bisect.bisect_left(state.delivered, at)
    if index > 0:
        return state.delivered[index - 1], True
    return min(state.first_sent if state.first_sent is not None else at, at), False


def _after(state: RouteIncidents, at: float) -> float | None:
    """The first delivered send time after ``at``, if one was judged already."""
    index = bisect.bisect_right(state.delivered, at)
    return state.delivered[index] if index < len(state.delivered) else None


def _blame(record: CanaryRecord) -> tuple[Hop, Owner]:
    hop = record.blamed_hop or record.final_hop
    if record.blamed_owner is not None:
        return hop, record.blamed_owner
    try:
        return hop, owner_of(record.channel, hop)
    except KeyError:
        return hop, Owner.OPS


def _closed_if_followed(tracked: TrackedIncident, state: RouteIncidents, now: float) -> TrackedIncident:
    """Close an open incident at once if a canary sent after all its failures was delivered already."""
    after = _after(state, tracked.failed_until)
    if after is None or not tracked.incident.open:
        return tracked
    incident = dataclasses.replace(tracked.incident, exposure_end=after, closed_at=now)
    return dataclasses.replace(tracked, incident=incident)


def _broken(state: RouteIncidents, record: CanaryRecord, retention: float) -> Change:
    at = record.created_at
    now = record.verdict_at if record.verdict_at is not None else at
    last = state.last
    if last is not None and _joins(last, at):
        incident = dataclasses.replace(last.incident, canaries=last.incident.canaries + 1)
        tracked = dataclasses.replace(
            last,
            incident=incident,
            failed_from=min(last.failed_from, at),
            failed_until=max(last.failed_until, at),
        )
        if at < incident.exposure_start:
            tracked = _with_start(tracked, _before(state, at), retention)
        tracked = _closed_if_followed(tracked, state, now)
        return Change(dataclasses.replace(state, last=tracked), (tracked,))
    hop, owner = _blame(record)
    start, start_delivered = _before(state, at)
    incident = Incident(
        id=incident_id(record.id),
        channel=Channel(record.channel),
        municipality=record.municipality,
        vendor=record.vendor,
        hop=hop,
        owner=owner,
        opened_at=now,
        first_canary=record.id,
        exposure_start=start,
        exposure_end=None,
        closed_at=None,
        canaries=1,
        retained_until=start + retention,
    )
    tracked = _closed_if_followed(TrackedIncident(incident, at, at, start_delivered), state, now)
    if last is not None and at < last.incident.exposure_start and last.start_delivered:
        # A break older than the route's newest incident (its canary was judged very late): its own
        # incident, while the newer one stays the one later verdicts are compared with.
        return Change(state, (tracked,))
    return Change(dataclasses.replace(state, last=tracked), (tracked,))


def _joins(tracked: TrackedIncident, at: float) -> bool:
    """Whether a lost or failed canary sent at ``at`` counts in ``tracked``: it is open, or ``at`` lies
    in its window (before it too, when no delivered canary is known before the window: the same break)."""
    incident = tracked.incident
    if incident.open:
        return True
    end = incident.exposure_end if incident.exposure_end is not None else at
    return (incident.exposure_start <= at or not tracked.start_delivered) and at <= end
