"""One canary's record, its states, and the transitions that are the only way to change it.

A record lives in one of four states, and moves only along :data:`TRANSITIONS`::

    intent ──▶ in_flight ──▶ resolved ──▶ closed
       └────────────────────▲
    intent     committed before sending; the send's answer is not recorded yet
    in_flight  sent (``upstream_id`` known), or ``unconfirmed``: a portal send whose answer was lost
    resolved   has a verdict; still watched for a late arrival (lost/unknown) or awaiting cleanup
    closed     nothing left to do

Besides moving between states, a record gathers what was seen of it: hops reached and when, the last
successful looks (status, read-back), the upstream's words about a failure. Each of those is a function
here too, so that everything that can happen to a canary reads in one place; the engine calls them inside
:meth:`probe.engine.open_canaries.OpenCanaries.changing`, which persists the change and moves its
counters.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from typing import Literal

from probe import diagnostics
from probe.config.routes import Route
from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle import story

log = logging.getLogger("kanari.verdict")


class State(enum.StrEnum):
    """Where a canary is in its life."""

    INTENT = "intent"
    IN_FLIGHT = "in_flight"
    RESOLVED = "resolved"
    CLOSED = "closed"


TRANSITIONS: dict[State, frozenset[State]] = {
    # Answered (or unanswered but possibly sent) goes in flight; refused at once is resolved.
    State.INTENT: frozenset({State.IN_FLIGHT, State.RESOLVED}),
    State.IN_FLIGHT: frozenset({State.RESOLVED}),
    State.RESOLVED: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}
UNRESOLVED = frozenset({State.INTENT, State.IN_FLIGHT})


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """A verdict with the hop and owner to blame (``None`` for delivered/unknown), and whether the
    canary arrived, though too late (:mod:`probe.lifecycle.verdict` decides them)."""

    verdict: Verdict
    blamed_hop: Hop | None = None
    blamed_owner: Owner | None = None
    late: bool = False


class TransitionError(ValueError):
    """A record was asked to move where its lifecycle does not go (a bug, never an upstream's doing)."""


@dataclasses.dataclass(slots=True)
class CanaryRecord:
    """A canary's ledger row, held in memory by the engine while it is not closed."""

    id: str
    channel: Channel
    municipality: str
    vendor: str
    bydel: str | None
    final_hop: Hop
    created_at: float
    deadline_at: float
    marker: str
    state: State = State.INTENT
    upstream_id: str | None = None
    unconfirmed: bool = False
    hops: dict[Hop, float] = dataclasses.field(default_factory=dict)
    last_status: str | None = None
    status_ok_at: float | None = None
    readback_ok_at: float | None = None
    verdict: Verdict | None = None
    verdict_at: float | None = None
    blamed_hop: Hop | None = None
    blamed_owner: Owner | None = None
    failure_reason: str | None = None
    late_at: float | None = None
    duplicate: bool = False
    cleaned_at: float | None = None
    # When Kanari gave up asking the vendor to remove it (the vendor kept refusing).
    cleanup_failed_at: float | None = None
    # The portal's report version the canary was sent in (asked again in it when following).
    api_version: str | None = None
    # What upstreams said about a failure (bounded, never a secret; see probe.diagnostics).
    diagnostics: str | None = None
    # When each needed hop was due: the route's bound when the canary was sent, as an instant (office
    # time already converted). A hop missing here is due at ``deadline_at`` (canaries of older ledgers).
    due: dict[Hop, float] = dataclasses.field(default_factory=dict)
    # The last status history seen, as received (JSON; see probe.lifecycle.history).
    history: str | None = None

    @classmethod
    def for_route(
        cls,
        route: Route,
        canary_id: str,
        marker: str,
        created_at: float,
        due: dict[Hop, float] | None = None,
    ) -> CanaryRecord:
        """A new canary on ``route``, created at ``created_at`` (its deadlines count from then). ``due``:
        when each hop is due (:meth:`probe.lifecycle.bounds.RouteBounds.due`); without it every hop is
        due at the configured deadline, ``deadline_at``, which is the latest of them otherwise."""
        due = dict(due or {})
        return cls(
            id=canary_id,
            channel=route.channel,
            municipality=route.kommunenummer,
            vendor=route.vendor,
            bydel=route.bydel,
            final_hop=route.final_hop,
            created_at=created_at,
            deadline_at=max(due.values()) if due else created_at + route.deadline,
            marker=marker,
            due=due,
        )

    @property
    def route_key(self) -> tuple[Channel, str]:
        """(channel, kommunenummer)."""
        return (self.channel, self.municipality)

    @property
    def resolved(self) -> bool:
        """Whether the canary has its verdict."""
        return self.state not in UNRESOLVED


def _move(record: CanaryRecord, to: State) -> None:
    if to not in TRANSITIONS[record.state]:
        raise TransitionError(f"canary {record.id}: {record.state.value} cannot become {to.value}")
    record.state = to


def accept(record: CanaryRecord, upstream_id: str, accepted_at: float, api_version: str | None) -> float:
    """The upstream took the canary under ``upstream_id``. The ``accepted`` hop is kept between sending
    and now; returns the time it was given."""
    _move(record, State.IN_FLIGHT)
    record.upstream_id = upstream_id
    record.api_version = api_version
    record.hops[Hop.ACCEPTED] = accepted_at
    return accepted_at


def unanswered(record: CanaryRecord, *, findable: bool) -> None:
    """The send may have been acted on but its answer was lost (a timeout, a reset, a crash before it
    was recorded). The canary is followed, never sent again: looked up where the channel can find it,
    otherwise *unconfirmed* and seen only through read-back."""
    _move(record, State.IN_FLIGHT)
    record.unconfirmed = not findable


def refused(record: CanaryRecord, reason: str, detail: str | None) -> None:
    """A send failed with ``reason``; what the upstream said is kept."""
    record.failure_reason = reason
    note(record, detail)


def found(record: CanaryRecord, upstream_id: str) -> None:
    """A lookup found the canary the channel holds under ``upstream_id``; it was accepted when sent."""
    record.upstream_id = upstream_id
    record.hops.setdefault(Hop.ACCEPTED, record.created_at)


def looked(record: CanaryRecord, source: Literal["status", "readback"], at: float) -> None:
    """A check of ``source`` asked at ``at`` succeeded (what the blind-probe rule and "looked after the hop
    was due" need to know); an answer to an older question never moves it back."""
    if source == "status":
        record.status_ok_at = max(at, record.status_ok_at or at)
    else:
        record.readback_ok_at = max(at, record.readback_ok_at or at)


def status_seen(record: CanaryRecord, status: str) -> None:
    """The upstream's latest raw status, kept as evidence."""
    record.last_status = status or record.last_status


def note(record: CanaryRecord, detail: str | None) -> None:
    """Add what an upstream said about a failure to the canary's evidence (bounded, no repeats)."""
    if detail:
        record.diagnostics = diagnostics.join([record.diagnostics, detail])


def reach(record: CanaryRecord, hop: Hop, at: float) -> bool:
    """The canary reached ``hop`` at ``at``; ``False`` (and nothing changes) if it had already."""
    if hop in record.hops:
        return False
    record.hops[hop] = at
    return True


def extend_due(record: CanaryRecord, hop: Hop, at: float) -> bool:
    """``hop`` is due at ``at``, later than it was (its party is slow today); ``False`` (and nothing
    changes) unless that is later."""
    if at <= record.due.get(hop, record.deadline_at):
        return False
    record.due[hop] = at
    record.deadline_at = max(record.deadline_at, at)
    return True


def mark_duplicate(record: CanaryRecord) -> None:
    """The receiving system registered the canary more than once (logged once per canary)."""
    if not record.duplicate:
        log.warning(
            "duplicate registration: %s", story.describe(record), extra=story.fields(record, "duplicate")
        )
    record.duplicate = True


def resolve(record: CanaryRecord, decision: Decision, now: float) -> None:
    """Give the canary its verdict, blamed on a hop and its owner when it was not delivered; a verdict
    other than delivered gets one log line with what the upstreams said."""
    _move(record, State.RESOLVED)
    record.verdict = decision.verdict
    record.verdict_at = now
    record.blamed_hop = decision.blamed_hop
    record.blamed_owner = decision.blamed_owner
    if decision.late:
        arrive_late(record, now)
    if decision.verdict is not Verdict.DELIVERED:
        log.warning(
            "verdict %s: %s", decision.verdict.value, story.describe(record),
            extra=story.fields(record, "verdict"),
        )  # fmt: skip


def arrive_late(record: CanaryRecord, now: float) -> None:
    """A lost (or unknown) canary turned up after its deadline."""
    if record.late_at is None:
        record.late_at = now
        log.warning("late arrival: %s", story.describe(record), extra=story.fields(record, "late_arrival"))


def clean(record: CanaryRecord, now: float) -> None:
    """The vendor removed the canary from case workers' view."""
    record.cleaned_at = now


def abandon_cleanup(record: CanaryRecord, now: float) -> None:
    """The vendor kept refusing to remove the canary: no more attempts (counted once)."""
    if record.cleanup_failed_at is None:
        record.cleanup_failed_at = now


def close(record: CanaryRecord) -> None:
    """Nothing is left to do for the canary."""
    _move(record, State.CLOSED)
