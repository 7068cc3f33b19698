"""Routes: (channel, municipality) with the timing that applies to it, the unit Kanari monitors."""

from __future__ import annotations

import dataclasses

from probe.hops import Channel, Hop


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

    @property
    def key(self) -> tuple[Channel, str]:
        """The route's identity: (channel, kommunenummer)."""
        return (self.channel, self.kommunenummer)

    @property
    def name(self) -> str:
        """Human-readable name, e.g. ``portal/4601``."""
        return f"{self.channel.value}/{self.kommunenummer}"
