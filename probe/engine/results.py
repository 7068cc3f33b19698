"""What the engine's network work finds, as typed results.

Sends, status checks, read-back batches and cleanups run as tasks that never touch a record: each ends
in one of these results, and :class:`probe.engine.applying.Applier` applies them, at the next tick, in
one place. A result holds the record it is about; the applier ignores it if the record has been closed
and dropped meanwhile.
"""

from __future__ import annotations

import dataclasses

from probe.channels.base import Observation, Sent
from probe.checks.readback import Registration
from probe.errors import UpstreamError
from probe.hops import Channel
from probe.lifecycle.record import CanaryRecord


@dataclasses.dataclass(frozen=True, slots=True)
class SendAnswered:
    """The upstream answered a send (``Sent``), or it failed (the error)."""

    record: CanaryRecord
    answer: Sent | UpstreamError


@dataclasses.dataclass(frozen=True, slots=True)
class StatusSeen:
    """A status check succeeded; it was asked at ``asked_at``."""

    record: CanaryRecord
    observation: Observation
    asked_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class LookupDone:
    """A lookup of an unanswered send: the upstream's id of the canary, or ``None`` if it has none."""

    record: CanaryRecord
    upstream_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class RegistrationsSeen:
    """A read-back call for the canaries of one (vendor, municipality), asked at ``asked_at``."""

    vendor: str
    municipality: str
    records: tuple[CanaryRecord, ...]
    registrations: tuple[Registration, ...]
    asked_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class CleanedUp:
    """The vendor removed the canary from case workers' view."""

    record: CanaryRecord


@dataclasses.dataclass(frozen=True, slots=True)
class CleanupAbandoned:
    """The vendor kept refusing to remove the canary: Kanari stops asking and closes it (counted)."""

    record: CanaryRecord
    error: UpstreamError


@dataclasses.dataclass(frozen=True, slots=True)
class CheckFailed:
    """A check could not look: ``target`` is ``portal``, ``altinn`` or ``readback``."""

    channel: Channel
    target: str
    error: UpstreamError
    record: CanaryRecord | None = None


Result = (
    SendAnswered | StatusSeen | LookupDone | RegistrationsSeen | CleanedUp | CleanupAbandoned | CheckFailed
)
