"""An incident: a route broken from its first lost or failed canary to its next delivered one
(DESIGN section 7), with the span in which real reports on that route may have been lost.

The **exposure window** runs from the send time of the last canary delivered before the break to the
send time of the first delivered after it. KS keeps reports for a retention period (30 days since June
2023, a setting): reports sent in the window can be recovered from KS until the window's start plus that
retention, which is the date a municipality must act by.
"""

from __future__ import annotations

import dataclasses

from probe.hops import Channel, Hop, Owner


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """One incident on one route, open (``closed_at`` is ``None``) or closed."""

    id: str
    channel: Channel
    municipality: str
    vendor: str
    # The hop the first lost or failed canary was blamed on, and its owner.
    hop: Hop
    owner: Owner
    # Detection: the verdict time of the first lost or failed canary, and its id.
    opened_at: float
    first_canary: str
    # Send time of the last canary delivered before the break; the route's first canary's send time
    # when nothing was ever delivered on it (nothing earlier is known to have worked).
    exposure_start: float
    # Send time of the first canary delivered after the break; ``None`` while the incident is open.
    exposure_end: float | None
    # When the incident closed (the verdict time of that delivered canary).
    closed_at: float | None
    # Lost and failed canaries counted in the incident.
    canaries: int
    # Until when KS still holds the reports sent in the window: ``exposure_start`` plus KS's retention.
    retained_until: float

    @property
    def open(self) -> bool:
        """Whether the route is still broken."""
        return self.closed_at is None

    @property
    def status(self) -> str:
        """``open`` or ``closed``, as commands and pages write it."""
        return "open" if self.open else "closed"
