"""What every channel adapter offers the engine, and what a status check reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from probe.canary.content import CanarySubject
from probe.config.routes import Route
from probe.hops import Channel, Hop


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    """The upstream accepted a canary: its id there and when (upstream time where it says, else ours)."""

    upstream_id: str
    accepted_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """What one successful status check saw: the hops reached (with upstream timestamps), whether the
    upstream ended the canary as failed, and the latest raw status (kept as evidence)."""

    reached: dict[Hop, float]
    failed_status: str | None
    last_status: str


def observation_from_events(
    events: Iterable[tuple[float, str]],
    hop_of_status: Mapping[str, Hop],
    failure_statuses: frozenset[str],
    hop_order: Sequence[Hop],
    current_status: str | None = None,
) -> Observation:
    """Turn an upstream's status history (time, status) into an :class:`Observation`.

    Each hop is reached at the first time its status appears; unknown statuses are tolerated (upstreams
    add states) and only kept as the last status; a later hop implies the earlier ones, at the later
    hop's time, because an upstream may skip recording an intermediate state.
    """
    ordered = sorted(events)
    reached: dict[Hop, float] = {}
    failed: str | None = None
    for when, status in ordered:
        hop = hop_of_status.get(status)
        if hop is not None:
            reached.setdefault(hop, when)
        if status in failure_statuses and failed is None:
            failed = status
    for index in range(len(hop_order) - 2, -1, -1):
        later = hop_order[index + 1]
        if later in reached and hop_order[index] not in reached:
            reached[hop_order[index]] = reached[later]
    last = current_status if current_status is not None else (ordered[-1][1] if ordered else "")
    return Observation(reached, failed, last)


class ChannelAdapter(Protocol):
    """A sending channel: sends canaries, reports their hops, and finds a canary whose send answer was
    lost (after a crash) without sending it again."""

    channel: Channel
    # Whether :meth:`find` can tell an absent canary from one it cannot see. Altinn can (sender-side
    # search by sendersReference); the KS producer API cannot (its report ids are chosen by KS).
    can_find: bool

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Submit the canary; raises :class:`probe.errors.UpstreamError` if it was not accepted."""
        ...

    async def check(self, route: Route, upstream_id: str) -> Observation:
        """The canary's hops as the upstream reports them now."""
        ...

    async def find(self, route: Route, canary_id: str) -> str | None:
        """The upstream id of a canary sent earlier, or ``None`` if the upstream has no such canary
        (only meaningful when :attr:`can_find`). Never sends."""
        ...
