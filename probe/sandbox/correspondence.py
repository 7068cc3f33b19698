"""Altinn's side of the altinn channel: correspondences, their status history, and the simulated
municipalities reading their inbox.

Like KS reports, a correspondence's timeline is drawn when it is created and worked out lazily, with
faults evaluated at the instant each step was due:

1. ``Initialized`` at creation, ``ReadyForPublish`` after a short delay.
2. ``Published`` after the publish delay, or ``Failed`` under ``altinn.publish_failed`` at that instant.
3. The municipality fetches it at its first inbox poll at or after publication (``Fetched``): each
   municipality polls on its own deterministic schedule (:func:`probe.sandbox.delays.inbox_schedule`).
   Under ``municipality.never_fetches`` the polls find nothing (nobody holds the role to see the
   message); fetching resumes at the first poll after the fault is cleared.
4. A person reads it after the read delay (``Read``); municipalities importing Altinn mail also register
   it in their vendor's fagsystem after the import delay (subject to the vendor faults).

Recipient API calls (overview, content, markasread, confirm, purge) add their statuses at the moment they
are made, as Altinn does.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import random
import uuid
from collections.abc import Iterable
from typing import Any

from probe.clock import Clock
from probe.sandbox.assignment import Assignment
from probe.sandbox.delays import Delays, inbox_schedule, next_poll
from probe.sandbox.fagsystem import Fagsystems, VendorBehaviour
from probe.sandbox.faults import FaultName, FaultRegistry
from probe.sandbox.settings import DelaySettings


class Status(enum.StrEnum):
    """Altinn's correspondence statuses (``CorrespondenceStatusExt``)."""

    INITIALIZED = "Initialized"
    READY_FOR_PUBLISH = "ReadyForPublish"
    PUBLISHED = "Published"
    FETCHED = "Fetched"
    READ = "Read"
    REPLIED = "Replied"
    CONFIRMED = "Confirmed"
    PURGED_BY_RECIPIENT = "PurgedByRecipient"
    PURGED_BY_ALTINN = "PurgedByAltinn"
    ARCHIVED = "Archived"
    RESERVED = "Reserved"
    FAILED = "Failed"
    ATTACHMENTS_DOWNLOADED = "AttachmentsDownloaded"


# The statuses in which a recipient can see a correspondence (Altinn's IsAvailableForRecipient).
AVAILABLE_FOR_RECIPIENT = frozenset(
    {
        Status.PUBLISHED,
        Status.FETCHED,
        Status.READ,
        Status.REPLIED,
        Status.CONFIRMED,
        Status.ARCHIVED,
        Status.RESERVED,
        Status.ATTACHMENTS_DOWNLOADED,
    }
)
STATUS_TEXT = {
    Status.INITIALIZED: "Initialized",
    Status.READY_FOR_PUBLISH: "Ready for publish",
    Status.PUBLISHED: "Published",
    Status.FETCHED: "Fetched",
    Status.READ: "Read",
    Status.CONFIRMED: "Confirmed",
    Status.PURGED_BY_RECIPIENT: "Purged by recipient",
    Status.PURGED_BY_ALTINN: "Purged by Altinn",
    Status.FAILED: "Failed",
}


class Event(enum.Enum):
    """A scheduled step of a correspondence."""

    READY = 1
    PUBLISH = 2
    FETCH = 3
    READ = 4


@dataclasses.dataclass(slots=True)
class StatusEvent:
    """One entry of ``statusHistory``."""

    status: Status
    text: str
    at: float


@dataclasses.dataclass(slots=True)
class Correspondence:
    """One correspondence to one recipient."""

    id: str
    resource_id: str
    sender_orgnr: str
    senders_reference: str
    recipient: str
    recipient_orgnr: str
    assignment: Assignment
    content: dict[str, Any]
    property_list: dict[str, str]
    idempotent_key: str | None
    extra: dict[str, Any]
    created: float
    ready_delay: float
    publish_delay: float
    read_delay: float
    import_delay: float
    published: float | None = None
    purged: bool = False
    history: list[StatusEvent] = dataclasses.field(default_factory=list)
    pending: list[tuple[float, Event]] = dataclasses.field(default_factory=list)

    @property
    def kommunenummer(self) -> str:
        """The recipient municipality."""
        return self.assignment.kommunenummer

    @property
    def latest(self) -> StatusEvent:
        """The current status."""
        return self.history[-1]

    def has(self, status: Status) -> bool:
        """Whether ``status`` appears in the history."""
        return any(event.status is status for event in self.history)

    @property
    def visible_to_recipient(self) -> bool:
        """Whether the recipient can see it now (published, not failed or purged)."""
        return not self.purged and self.latest.status in AVAILABLE_FOR_RECIPIENT

    def text(self) -> str:
        """Everything a fagsystem importing it reads (where a canary marker may be)."""
        return json.dumps({"content": self.content, "propertyList": self.property_list}, ensure_ascii=False)


class CorrespondenceService:
    """Every correspondence, with the municipalities' inbox behaviour."""

    def __init__(
        self,
        clock: Clock,
        faults: FaultRegistry,
        *,
        delays: Delays,
        fagsystems: Fagsystems,
        rng: random.Random,
        delay_settings: DelaySettings,
        speed: float,
    ) -> None:
        self._clock = clock
        self._faults = faults
        self._delays = delays
        self._fagsystems = fagsystems
        self._rng = rng
        self._delay_settings = delay_settings
        self._speed = speed
        self._all: dict[str, Correspondence] = {}
        self._by_recipient: dict[str, list[Correspondence]] = {}
        self.idempotent_keys: dict[str, str] = {}

    def create(
        self,
        *,
        resource_id: str,
        sender_orgnr: str,
        senders_reference: str,
        recipient: str,
        assignment: Assignment,
        content: dict[str, Any],
        property_list: dict[str, str],
        idempotent_key: str | None,
        extra: dict[str, Any],
    ) -> Correspondence:
        """Create one correspondence (``Initialized``) and draw its timeline."""
        now = self._clock.now()
        ready = self._delays.draw("altinn_ready")
        correspondence = Correspondence(
            id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            resource_id=resource_id,
            sender_orgnr=sender_orgnr,
            senders_reference=senders_reference,
            recipient=recipient,
            recipient_orgnr=assignment.orgnr,
            assignment=assignment,
            content=content,
            property_list=property_list,
            idempotent_key=idempotent_key,
            extra=extra,
            created=now,
            ready_delay=ready,
            publish_delay=self._delays.draw("altinn_publish"),
            read_delay=self._delays.draw("municipality_read"),
            import_delay=self._delays.draw("altinn_import"),
        )
        self._add(correspondence, Status.INITIALIZED, now)
        correspondence.pending.append((now + ready, Event.READY))
        self._all[correspondence.id] = correspondence
        self._by_recipient.setdefault(assignment.kommunenummer, []).append(correspondence)
        if idempotent_key is not None:
            self.idempotent_keys[idempotent_key] = correspondence.id
        return correspondence

    def prune(self, before: float) -> int:
        """Forget correspondences with nothing scheduled whose last status is older than ``before``;
        returns how many."""
        stale = {c.id for c in self._all.values() if not c.pending and c.history and c.latest.at < before}
        for correspondence_id in stale:
            correspondence = self._all.pop(correspondence_id)
            if correspondence.idempotent_key is not None:
                self.idempotent_keys.pop(correspondence.idempotent_key, None)
        for kommunenummer, found in self._by_recipient.items():
            self._by_recipient[kommunenummer] = [c for c in found if c.id not in stale]
        return len(stale)

    def __len__(self) -> int:
        return len(self._all)

    def peek(self, correspondence_id: str) -> Correspondence | None:
        """The correspondence as it stands (not advanced)."""
        return self._all.get(correspondence_id)

    def addressed_to(self, kommunenummer: str) -> list[Correspondence]:
        """Every correspondence to the municipality, as it stands (not advanced)."""
        return list(self._by_recipient.get(kommunenummer, []))

    def to_municipality(self, kommunenummer: str) -> list[Correspondence]:
        """Every correspondence to the municipality, advanced to now."""
        found = self._by_recipient.get(kommunenummer, [])
        for correspondence in found:
            self.advance(correspondence)
        return list(found)

    def sent_by(self, sender_orgnr: str, resource_id: str) -> Iterable[Correspondence]:
        """Every correspondence the organisation sent on the resource (not advanced)."""
        return [
            c for c in self._all.values() if c.sender_orgnr == sender_orgnr and c.resource_id == resource_id
        ]

    def advance(self, correspondence: Correspondence) -> None:
        """Work out every scheduled step due by now."""
        now = self._clock.now()
        pending = correspondence.pending
        while pending:
            pending.sort(key=lambda item: (item[0], item[1].value))
            at, event = pending[0]
            if at > now:
                break
            pending.pop(0)
            if not self._handle(correspondence, at, event):
                pending.append((at, event))
                break

    def _handle(self, correspondence: Correspondence, at: float, event: Event) -> bool:
        """Apply one step; ``False`` if it is blocked by a fault still active."""
        kommunenummer = correspondence.kommunenummer
        if correspondence.purged:
            return True
        if event is Event.READY:
            self._add(correspondence, Status.READY_FOR_PUBLISH, at)
            correspondence.pending.append((at + correspondence.publish_delay, Event.PUBLISH))
        elif event is Event.PUBLISH:
            if self._faults.active_at(FaultName.ALTINN_PUBLISH_FAILED, kommunenummer, at):
                self._add(correspondence, Status.FAILED, at)
                return True
            correspondence.published = at
            self._add(correspondence, Status.PUBLISHED, at)
            correspondence.pending.append((self._next_poll(kommunenummer, at), Event.FETCH))
        elif event is Event.FETCH:
            free = self._faults.free_from(FaultName.MUNICIPALITY_NEVER_FETCHES, kommunenummer, at)
            if free is None:
                return False  # nobody can see the inbox; look again once the fault is cleared
            if free > at:
                correspondence.pending.append((self._next_poll(kommunenummer, free), Event.FETCH))
                return True
            self._add(correspondence, Status.FETCHED, at)
            correspondence.pending.append((at + correspondence.read_delay, Event.READ))
            assignment = correspondence.assignment
            if assignment.imports_altinn:
                self._fagsystems.import_correspondence(
                    assignment.vendor_id,
                    kommunenummer=kommunenummer,
                    correspondence_id=correspondence.id,
                    text=correspondence.text(),
                    fetched_at=at,
                    import_delay=correspondence.import_delay,
                    behaviour=VendorBehaviour.at(self._faults, kommunenummer, at),
                )
        elif event is Event.READ and not correspondence.has(Status.READ):
            self._add(correspondence, Status.READ, at)
        return True

    def _next_poll(self, kommunenummer: str, after: float) -> float:
        period, phase = inbox_schedule(kommunenummer, self._delay_settings, self._speed)
        return next_poll(after, period, phase)

    def record(self, correspondence: Correspondence, status: Status) -> None:
        """Add ``status`` now (a recipient's or sender's action)."""
        self._add(correspondence, status, self._clock.now())
        if status in (Status.PURGED_BY_RECIPIENT, Status.PURGED_BY_ALTINN):
            correspondence.purged = True
            correspondence.pending.clear()

    @staticmethod
    def _add(correspondence: Correspondence, status: Status, at: float) -> None:
        correspondence.history.append(StatusEvent(status, STATUS_TEXT.get(status, status.value), at))
