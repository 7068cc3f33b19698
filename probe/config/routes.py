"""Routes: (channel, municipality) with the timing that applies to it, the unit Kanari monitors."""

from __future__ import annotations

import dataclasses

from probe.hops import HUMAN_HOPS, Channel, Hop
from probe.office_time import OfficeHours


@dataclasses.dataclass(frozen=True, slots=True)
class Learning:
    """How a route learns its deadlines from its own delivered canaries (``channels.<ch>.learning``).

    A hop's bound is ``margin`` times the ``quantile`` of the latencies to it of the route's last
    ``samples`` delivered canaries (``office_margin`` for a hop counted in office time), never below
    ``minimum`` nor above the configured deadline (which also holds until ``min_samples`` canaries were
    delivered: the cold start). The quantile without the margin is the route's *usual* latency: a canary
    past it is overdue, a warning before the verdict.
    """

    quantile: float = 1.0
    margin: float = 2.0
    samples: int = 500
    min_samples: int = 50
    minimum: float = 60.0
    office_margin: float = 1.25


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One monitored route, with every setting resolved (channel defaults plus municipality overrides)."""

    channel: Channel
    kommunenummer: str
    municipality_name: str
    county: str
    orgnr: str
    vendor: str
    bydel: str | None
    interval: float
    deadline: float
    poll_interval: float
    final_hop: Hop
    # Portal: ``auto`` (negotiated from the office's stottetVersjon), ``v1`` or ``v2``.
    api_version: str = "auto"
    # Altinn: whether the canary is sent as confidential mail (``isConfidential``), as it is by default.
    confidential: bool = True
    # The slowest latency a healthy route shows (``normal_latency``): where status checks first look
    # until the route's own history says better; ``None`` (routes built outside the configuration) looks
    # halfway to the deadline.
    normal_latency: float | None = None
    # How the route learns its deadlines; ``None``: the configured deadline for every hop.
    learning: Learning | None = None
    # The office whose people make the human hops; ``None``: every hop on wall-clock time.
    office_hours: OfficeHours | None = None
    # Hops this route's people make by hand, besides the channel's own human hops (HUMAN_HOPS).
    manual_hops: frozenset[Hop] = frozenset()

    @property
    def key(self) -> tuple[Channel, str]:
        """The route's identity: (channel, kommunenummer)."""
        return (self.channel, self.kommunenummer)

    def in_office_time(self, hop: Hop) -> bool:
        """Whether ``hop``'s deadline counts in office time on this route (a person's hop, and office
        hours known)."""
        return self.office_hours is not None and (hop in HUMAN_HOPS[self.channel] or hop in self.manual_hops)

    @property
    def name(self) -> str:
        """Human-readable name, e.g. ``portal/4601``."""
        return f"{self.channel.value}/{self.kommunenummer}"
