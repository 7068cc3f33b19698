"""How a canary ends (DESIGN section 2), as pure functions of its ledger record and the time.

- ``delivered``: every hop up to the final hop reached, the last of them by the deadline.
- ``failed``: the upstream said so (KS rejected it to paper post, Altinn marked it Failed), or the send
  was refused.
- ``lost``: the deadline passed and a check that *succeeded after the deadline* still did not see the
  first missing hop; blamed on that hop and its owner.
- ``unknown``: the deadline passed and the checks that could have seen the missing hop kept failing
  for ``blind_grace`` more: a blind probe must not page a vendor.

A canary whose send answer was lost on the portal (``unconfirmed``) can only be seen through read-back,
and since nobody can say it was ever sent, it is never ``lost``: it is delivered or unknown.
"""

from __future__ import annotations

import dataclasses

from probe.hops import FAILURE_OWNER, Hop, Owner, Verdict, hops_until, owner_of
from probe.ledger import CanaryRecord


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """A verdict with the hop and owner to blame (``None`` for delivered/unknown)."""

    verdict: Verdict
    blamed_hop: Hop | None = None
    blamed_owner: Owner | None = None
    late: bool = False


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


def first_missing(record: CanaryRecord) -> Hop | None:
    """The first needed hop not yet reached."""
    for hop in needed_hops(record):
        if hop not in record.hops:
            return hop
    return None


def first_late(record: CanaryRecord) -> Hop | None:
    """The first needed hop reached only after the deadline (for a canary that arrived late)."""
    for hop in needed_hops(record):
        if record.hops.get(hop, record.deadline_at + 1) > record.deadline_at:
            return hop
    return None


def source_ok_at(record: CanaryRecord, hop: Hop) -> float | None:
    """The last time a check that could see ``hop`` succeeded: read-back for ``registered``, the
    channel's status for every other hop."""
    return record.readback_ok_at if hop is Hop.REGISTERED else record.status_ok_at


def failed(record: CanaryRecord) -> Decision:
    """The upstream ended the canary (paper-post fallback, Altinn ``Failed``)."""
    hop = first_missing(record) or record.final_hop
    return Decision(Verdict.FAILED, hop, FAILURE_OWNER[record.channel])


def decide(record: CanaryRecord, now: float, blind_grace: float) -> Decision | None:
    """The verdict of an unresolved canary at ``now``, or ``None`` while it is still open."""
    arrived = delivered_at(record)
    if arrived is not None and arrived <= record.deadline_at:
        return Decision(Verdict.DELIVERED)
    if record.unconfirmed and not needed_hops(record):
        # Nothing can be observed about a portal send whose answer was lost and whose vendor has no
        # read-back: say so now rather than pretend to wait.
        return Decision(Verdict.UNKNOWN)
    if now < record.deadline_at:
        return None
    hop = first_missing(record) or first_late(record) or record.final_hop
    looked = source_ok_at(record, hop)
    if looked is not None and looked >= record.deadline_at:
        # An unconfirmed send may never have left Kanari: not seeing it says nothing about the route.
        if record.unconfirmed:
            return Decision(Verdict.UNKNOWN)
        return Decision(Verdict.LOST, hop, owner_of(record.channel, hop), late=arrived is not None)
    return Decision(Verdict.UNKNOWN) if now >= record.deadline_at + blind_grace else None
