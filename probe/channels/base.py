"""What every channel adapter offers the engine, and what a status check reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Protocol

from probe import diagnostics
from probe.canary.content import CanarySubject
from probe.config.routes import Route
from probe.hops import Channel, Hop, hops_of


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    """The upstream accepted a canary: its id there, when (upstream time where it says, else ours), and
    the API version it was sent in (the portal's negotiated report version; ``None`` where there is one)."""

    upstream_id: str
    accepted_at: float
    api_version: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """What one successful status check saw: the hops reached (with upstream timestamps), whether the
    upstream ended the canary as failed, the latest raw status, and the upstream's own words about a
    failure (KS's ``beskrivelse``, Altinn's ``statusText``), all kept as evidence."""

    reached: dict[Hop, float]
    failed_status: str | None
    last_status: str
    detail: str | None = None
    # The status history as received (evidence: probe.lifecycle.status_history).
    events: tuple[StatusEvent, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class StatusEvent:
    """One entry of an upstream's status history: when, which status, and the upstream's text."""

    at: float
    status: str
    text: str = ""


def observation_from_events(
    events: Iterable[StatusEvent],
    channel: Channel,
    hop_of_status: Mapping[str, Hop],
    failure_statuses: frozenset[str],
    current_status: str | None = None,
) -> Observation:
    """Turn an upstream's status history into an :class:`Observation`.

    Each hop is reached at the first time its status appears; unknown statuses are tolerated (upstreams
    add states) and only kept as the last status; a later hop implies the earlier ones, at the later
    hop's time, because an upstream may skip recording an intermediate state.

    A failure status ends the story: a status that follows it reaches no hop. KS ends every history with
    ``LEVERT``, also after ``SENDT_PRINT`` (the paper letter was handed to the post), and that is not the
    fagsystem's receipt. Entries are ordered by time, and entries of the same instant keep the order the
    upstream listed them in (``sorted`` is stable), so a ``LEVERT`` stamped in the same millisecond as
    ``SENDT_PRINT`` still comes after it.
    """
    events = tuple(events)
    ordered = sorted(events, key=lambda event: event.at)
    # The hops the statuses name, in the channel's order (probe.hops).
    hop_order = [hop for hop in hops_of(channel) if hop in hop_of_status.values()]
    reached: dict[Hop, float] = {}
    failed: str | None = None
    detail: str | None = None
    for event in ordered:
        if event.status in failure_statuses:
            if failed is None:
                failed, detail = event.status, diagnostics.clean(event.text) or None
            continue
        hop = hop_of_status.get(event.status)
        if hop is not None and failed is None:
            reached.setdefault(hop, event.at)
    for index in range(len(hop_order) - 2, -1, -1):
        later = hop_order[index + 1]
        if later in reached and hop_order[index] not in reached:
            reached[hop_order[index]] = reached[later]
    last = current_status if current_status is not None else (ordered[-1].status if ordered else "")
    return Observation(reached, failed, last, detail, tuple(events))


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

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        """The canary's hops as the upstream reports them now (asked in the API version it was sent in)."""
        ...

    async def find(self, route: Route, canary_id: str) -> str | None:
        """The upstream id of a canary sent earlier, or ``None`` if the upstream has no such canary
        (only meaningful when :attr:`can_find`). Never sends."""
        ...
