"""The vocabulary of routes: channels, hops, their order and their owners (DESIGN section 2).

This module is the single place that knows which hops a channel has, in which order they are reached
and who is paged when one is not. Everything else (verdicts, metrics, alerts, dashboards) asks it.
"""

from __future__ import annotations

import enum


class Channel(enum.StrEnum):
    """A sending path."""

    PORTAL = "portal"
    ALTINN = "altinn"


class Hop(enum.StrEnum):
    """One step of a route's delivery chain."""

    ACCEPTED = "accepted"
    FORWARDED = "forwarded"
    RECEIPTED = "receipted"
    PUBLISHED = "published"
    FETCHED = "fetched"
    READ = "read"
    REGISTERED = "registered"


class Owner(enum.StrEnum):
    """Who is paged when a hop breaks. ``ops`` is the probe's own side (the operations centre)."""

    KS = "ks"
    DIGDIR = "digdir"
    VENDOR = "vendor"
    MUNICIPALITY = "municipality"
    OPS = "ops"


class Verdict(enum.StrEnum):
    """How a canary ended."""

    DELIVERED = "delivered"
    LOST = "lost"
    FAILED = "failed"
    UNKNOWN = "unknown"


# Hops in the order a canary reaches them, with the owner of each (DESIGN section 2).
HOPS: dict[Channel, tuple[tuple[Hop, Owner], ...]] = {
    Channel.PORTAL: (
        (Hop.ACCEPTED, Owner.KS),
        (Hop.FORWARDED, Owner.KS),
        (Hop.RECEIPTED, Owner.VENDOR),
        (Hop.REGISTERED, Owner.VENDOR),
    ),
    Channel.ALTINN: (
        (Hop.ACCEPTED, Owner.DIGDIR),
        (Hop.PUBLISHED, Owner.DIGDIR),
        (Hop.FETCHED, Owner.MUNICIPALITY),
        (Hop.READ, Owner.MUNICIPALITY),
        (Hop.REGISTERED, Owner.VENDOR),
    ),
}

# Hops that need a person (someone at the municipality opens and reads the inbox entry): their deadlines
# count in office time (:mod:`probe.office_time`); every other hop is a machine's, on wall-clock time. A
# route may mark more hops as manual (a fagsystem whose registration is done by hand).
HUMAN_HOPS: dict[Channel, frozenset[Hop]] = {
    Channel.PORTAL: frozenset(),
    Channel.ALTINN: frozenset({Hop.FETCHED, Hop.READ}),
}

# Who owns a canary that ended as ``failed`` by an upstream's explicit failure status.
FAILURE_OWNER: dict[Channel, Owner] = {Channel.PORTAL: Owner.VENDOR, Channel.ALTINN: Owner.DIGDIR}


def hops_of(channel: Channel) -> tuple[Hop, ...]:
    """The hops of ``channel`` in order."""
    return tuple(hop for hop, _ in HOPS[channel])


def owner_of(channel: Channel, hop: Hop) -> Owner:
    """The owner of ``hop`` on ``channel``; ``KeyError`` if the channel has no such hop."""
    return dict(HOPS[channel])[hop]


def hops_until(channel: Channel, final_hop: Hop) -> tuple[Hop, ...]:
    """The hops of ``channel`` up to and including ``final_hop``: the ones a canary must reach.

    On the Altinn channel, ``registered`` (the vendor's import of Altinn mail) needs neither ``fetched``
    nor ``read``: a fagsystem importing with a token that holds ``altinn:correspondence.write`` never sets
    ``Fetched`` (Altinn sets it only for callers without that scope), and nobody needs to read the mail
    for the fagsystem to register it. Read-back is what proves it arrived.
    """
    order = hops_of(channel)
    if final_hop not in order:
        raise KeyError(f"channel {channel.value} has no hop {final_hop.value}")
    needed = order[: order.index(final_hop) + 1]
    if channel is Channel.ALTINN and final_hop is Hop.REGISTERED:
        needed = tuple(hop for hop in needed if hop not in (Hop.FETCHED, Hop.READ))
    return needed


def default_final_hop(channel: Channel, vendor_has_readback: bool) -> Hop:
    """DESIGN section 2: ``registered`` on the portal when the vendor has read-back, else
    ``receipted``; ``fetched`` on Altinn."""
    if channel is Channel.PORTAL:
        return Hop.REGISTERED if vendor_has_readback else Hop.RECEIPTED
    return Hop.FETCHED
