"""How a canary ends (DESIGN section 2), as pure functions of its record and the time: every verdict
Kanari gives is decided here.

Each needed hop has its own deadline, *when it is due* (``record.due``: the route's learned or configured
bound when the canary was sent, office time for a person's hop already converted to an instant; see
:mod:`probe.lifecycle.bounds`). A canary stuck before a hop is judged once that hop is due:

- ``delivered``: every hop up to the final hop reached, the last of them by the time it was due (an
  intermediate hop reached after its own bound but caught up in time is not a loss).
- ``failed``: the upstream said so (KS rejected it to paper post, Altinn marked it Failed), or the send
  was refused.
- ``lost``: the first missing hop is past due and a check that *succeeded after it was due* still did not
  see it; blamed on that hop and its owner.
- ``unknown``: the first missing hop is past due and the checks that could have seen it kept failing
  for ``blind_grace`` more: a blind probe must not page a vendor.

A canary whose send answer was lost on the portal (``unconfirmed``) can only be seen through read-back,
and since nobody can say it was ever sent, it is never ``lost``: it is delivered or unknown.
"""

from __future__ import annotations

from probe.errors import Reason
from probe.hops import FAILURE_OWNER, Channel, Hop, Owner, Verdict, hops_until, owner_of
from probe.lifecycle.record import CanaryRecord, Decision

# Send failures that are Kanari's own doing (its credentials, its request): owned by ``ops``.
OPS_REASONS = frozenset({Reason.AUTH, Reason.HTTP_4XX})


def needed_hops(record: CanaryRecord) -> tuple[Hop, ...]:
    """The hops ``record`` must reach to be delivered."""
    if record.unconfirmed:
        return (Hop.REGISTERED,) if record.final_hop is Hop.REGISTERED else ()
    return hops_until(record.channel, record.final_hop)


def delivered_at(record: CanaryRecord) -> float | None:
    """When the last needed hop was reached, or ``None`` while one is missing."""
    hops = needed_hops(record)
    if not hops or any(hop not in record.hops for hop in hops):
        return None
    return max(record.hops[hop] for hop in hops)


def due_at(record: CanaryRecord, hop: Hop) -> float:
    """When ``hop`` was due for ``record`` (its deadline, canaries of older ledgers have only one)."""
    return record.due.get(hop, record.deadline_at)


def final_due(record: CanaryRecord) -> float:
    """When the last needed hop was due: the canary is delivered if it got there by then."""
    hops = needed_hops(record)
    return due_at(record, hops[-1]) if hops else record.deadline_at


def judged_at(record: CanaryRecord) -> float:
    """When the canary can next be judged by time alone: when its first missing hop is due, or the
    last needed hop's due time once every hop is there."""
    hop = first_missing(record)
    return final_due(record) if hop is None else due_at(record, hop)


def first_missing(record: CanaryRecord) -> Hop | None:
    """The first needed hop not yet reached."""
    for hop in needed_hops(record):
        if hop not in record.hops:
            return hop
    return None


def first_late(record: CanaryRecord) -> Hop | None:
    """The first needed hop reached only after it was due (for a canary that arrived late)."""
    for hop in needed_hops(record):
        reached = record.hops.get(hop)
        if reached is not None and reached > due_at(record, hop):
            return hop
    return None


def arrived_late(record: CanaryRecord) -> bool:
    """Whether every needed hop is reached, the last of them after it was due."""
    arrived = delivered_at(record)
    return arrived is not None and arrived > final_due(record)


def source_ok_at(record: CanaryRecord, hop: Hop) -> float | None:
    """The last time a check that could see ``hop`` succeeded: read-back for ``registered``, the
    channel's status for every other hop."""
    return record.readback_ok_at if hop is Hop.REGISTERED else record.status_ok_at


def send_refused(channel: Channel, reason: Reason) -> Decision:
    """A send refused before the upstream acted on it:

    - ``auth`` (Kanari's own token or credentials) and other ``http_4xx`` (Kanari's request refused):
      ``failed`` at hop ``accepted``, owner ``ops`` — the probe's side, never a vendor page;
    - ``rate_limited``: ``unknown`` — the upstream asked Kanari to wait, so the route could not be tested;
    - ``connect``, ``tls``, ``http_5xx`` (and the rest): ``failed`` at ``accepted``, owner of that hop.
    """
    if reason is Reason.RATE_LIMITED:
        return Decision(Verdict.UNKNOWN)
    owner = Owner.OPS if reason in OPS_REASONS else owner_of(channel, Hop.ACCEPTED)
    return Decision(Verdict.FAILED, Hop.ACCEPTED, owner)


def not_found(record: CanaryRecord) -> Decision:
    """A lookup found no such canary at the upstream: the send never took. After a failed send that is
    the upstream's failure at ``accepted``; after a crash before any answer, nothing was tested."""
    if record.failure_reason is not None:
        return Decision(Verdict.FAILED, Hop.ACCEPTED, owner_of(record.channel, Hop.ACCEPTED))
    return Decision(Verdict.UNKNOWN)


def failed(record: CanaryRecord) -> Decision:
    """The upstream ended the canary (paper-post fallback, Altinn ``Failed``)."""
    hop = first_missing(record) or record.final_hop
    return Decision(Verdict.FAILED, hop, FAILURE_OWNER[record.channel])


def decide(
    record: CanaryRecord, now: float, blind_grace: float, looking_since: float | None = None
) -> Decision | None:
    """The verdict of an unresolved canary at ``now``, or ``None`` while it is still open.

    ``looking_since`` is when this probe started looking (its start): the blind grace counts from then
    at the earliest, so a deadline that passed while the probe was down is looked at before anything is
    judged unknown, and canaries that arrived in time meanwhile are delivered, not written off.
    """
    arrived = delivered_at(record)
    if arrived is not None and arrived <= final_due(record):
        return Decision(Verdict.DELIVERED)
    if record.unconfirmed and not needed_hops(record):
        # Nothing can be observed about a portal send whose answer was lost and whose vendor has no
        # read-back: say so now rather than pretend to wait.
        return Decision(Verdict.UNKNOWN)
    hop = first_missing(record) or first_late(record) or record.final_hop
    due = due_at(record, hop)
    if now < due:
        return None
    looked = source_ok_at(record, hop)
    if looked is not None and looked >= due:
        # An unconfirmed send may never have left Kanari: not seeing it says nothing about the route.
        if record.unconfirmed:
            return Decision(Verdict.UNKNOWN)
        return Decision(Verdict.LOST, hop, owner_of(record.channel, hop), late=arrived is not None)
    blind_from = due if looking_since is None else max(due, looking_since)
    return Decision(Verdict.UNKNOWN) if now >= blind_from + blind_grace else None
