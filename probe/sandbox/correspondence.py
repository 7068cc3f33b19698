"""Altinn's side of the altinn channel: correspondences, their status history, and the simulated
municipalities reading their inbox.

Like KS reports, a correspondence's timeline is drawn when it is created and worked out lazily, with
faults evaluated at the instant each step was due:

1. ``Initialized`` and ``ReadyForPublish`` at creation: Altinn records both at the send when there are
   no attachments to wait for (``InitializeCorrespondenceHelper.cs``), so the send answers
   ``ReadyForPublish``.
2. ``Published`` after the publish delay, or ``Failed`` (with the reason in ``statusText``) under
   ``altinn.publish_failed`` at that instant.
3. The municipality fetches it at its first inbox poll at or after publication (``Fetched``): people
   look at the inbox a few times each working day (:mod:`probe.sandbox.behaviour.people`: never at
   night, on weekends or Norwegian holidays), and a fagsystem importing Altinn mail (or everyone, when
   people keep no office hours) polls on its own deterministic schedule
   (:func:`probe.sandbox.delays.inbox_schedule`).
   Under ``municipality.never_fetches`` the polls find nothing; under
   ``municipality.no_confidential_role`` they find ordinary mail but not confidential mail (nobody
   holds the access package that shows it: the police failure); where the municipality's fagsystem
   imports its Altinn mail, nothing is fetched under ``vendor.down`` (the import is what polls).
   Fetching resumes at the first poll after the fault is cleared.
4. A person reads it after the read delay, counted in office time (``Read``); municipalities importing
   Altinn mail also register it in their vendor's fagsystem after the import delay (subject to the
   vendor faults).

Recipient API calls (overview, details, content, markasread, confirm, purge) add their statuses at the
moment they are made, as Altinn does (:mod:`probe.sandbox.altinn` decides who may).

Like Altinn, the current ``status`` is the *highest* status recorded, never ``Fetched``
(``CorrespondenceStatusExtensions.GetHighestStatus``), while ``statusHistory`` lists every entry,
``Fetched`` rows included, in time order.
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
from probe.sandbox.behaviour.people import People
from probe.sandbox.delays import Delays, inbox_schedule, next_poll
from probe.sandbox.fagsystem import Fagsystems, VendorBehaviour
from probe.sandbox.faults import FaultName, FaultRegistry
from probe.sandbox.settings import DelaySettings

# Altinn adds ``Fetched`` from the overview at most once per 15 s per correspondence and party
# (``GetCorrespondenceOverviewHandler.cs``: a HybridCache entry with a 15-second expiration).
FETCH_DEBOUNCE = 15.0
# ``confirm`` schedules the job that writes ``Confirmed`` 4 s later (``ConfirmCorrespondenceHandler.cs``).
CONFIRM_DELAY = 4.0


class Status(enum.StrEnum):
    """Altinn's correspondence statuses (``CorrespondenceStatusExt``), in the enum's order."""

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
    FORWARDED = "Forwarded"

    @property
    def rank(self) -> int:
        """The enum value Altinn orders statuses by (``Initialized`` = 0 … ``Forwarded`` = 13)."""
        return _RANK[self]


_RANK = {status: index for index, status in enumerate(Status)}

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
        Status.FORWARDED,
    }
)
# The statuses a caller without recipient access sees in ``statusHistory`` (IsAvailableForSender).
AVAILABLE_FOR_SENDER = frozenset(Status) - {
    Status.ARCHIVED,
    Status.PURGED_BY_RECIPIENT,
    Status.PURGED_BY_ALTINN,
}
PURGED = frozenset({Status.PURGED_BY_RECIPIENT, Status.PURGED_BY_ALTINN})
# The publish job's reason when it fails (``PublishCorrespondenceHandler.cs``); every other status's
# ``statusText`` is the enum name.
PUBLISH_FAILED_TEXT = "Dialogporten dialog not created for correspondence {id}"


class Event(enum.Enum):
    """A scheduled step of a correspondence."""

    PUBLISH = 2
    FETCH = 3
    READ = 4
    CONFIRM = 5


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
    confidential: bool
    extra: dict[str, Any]
    created: float
    publish_delay: float
    read_delay: float
    import_delay: float
    published: float | None = None
    purged: bool = False
    history: list[StatusEvent] = dataclasses.field(default_factory=list)
    pending: list[tuple[float, Event]] = dataclasses.field(default_factory=list)
    # When each party last had ``Fetched`` added through the overview (the 15-second debounce).
    fetched_by: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def kommunenummer(self) -> str:
        """The recipient municipality."""
        return self.assignment.kommunenummer

    @property
    def current(self) -> StatusEvent:
        """The status Altinn reports as ``status``: the highest one recorded, ``Fetched`` excluded (the
        latest of equal ones)."""
        ranked = [event for event in self.history if event.status is not Status.FETCHED]
        # ``max`` keeps the first of equal ones; reversed, that is the latest.
        return max(reversed(ranked), key=lambda event: event.status.rank)

    def has(self, status: Status) -> bool:
        """Whether ``status`` appears in the history."""
        return any(event.status is status for event in self.history)

    def first(self, status: Status) -> StatusEvent | None:
        """The first entry with ``status``, if any."""
        return next((event for event in self.history if event.status is status), None)

    @property
    def visible_to_recipient(self) -> bool:
        """Whether the recipient can see it now (published, not failed or purged)."""
        return not self.purged and self.current.status in AVAILABLE_FOR_RECIPIENT

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
        people: People | None = None,
    ) -> None:
        self._clock = clock
        self._faults = faults
        self._delays = delays
        self._fagsystems = fagsystems
        self._rng = rng
        self._delay_settings = delay_settings
        self._speed = speed
        # ``None``: nobody keeps office hours, every municipality polls its inbox around the clock.
        self._people = people
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
        confidential: bool,
        extra: dict[str, Any],
    ) -> Correspondence:
        """Create one correspondence (``Initialized``, ``ReadyForPublish``) and draw its timeline."""
        now = self._clock.now()
        # Drawn in this order since the sandbox began, so a seed keeps giving the same timeline.
        ready = self._delays.draw("altinn_ready", at=now)
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
            confidential=confidential,
            extra=extra,
            created=now,
            publish_delay=ready + self._delays.draw("altinn_publish", at=now),
            read_delay=self._delays.draw("municipality_read"),
            import_delay=self._delays.draw("altinn_import", vendor=assignment.vendor_id, at=now),
        )
        self._add(correspondence, Status.INITIALIZED, now)
        self._add(correspondence, Status.READY_FOR_PUBLISH, now)
        correspondence.pending.append((now + correspondence.publish_delay, Event.PUBLISH))
        self._all[correspondence.id] = correspondence
        self._by_recipient.setdefault(assignment.kommunenummer, []).append(correspondence)
        if idempotent_key is not None:
            self.idempotent_keys[idempotent_key] = correspondence.id
        return correspondence

    def prune(self, before: float) -> int:
        """Forget correspondences with nothing scheduled whose last status is older than ``before``;
        returns how many."""
        stale = {
            c.id for c in self._all.values() if not c.pending and c.history and c.history[-1].at < before
        }
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

    def by_idempotent_key(self, key: str) -> Correspondence | None:
        """The correspondence sent with ``key`` (lower-case GUID), whoever sent it and on whichever
        resource: Altinn's lookup by key is global (``GetCorrespondenceByIdempotentKey``)."""
        correspondence_id = self.idempotent_keys.get(key)
        return self._all.get(correspondence_id) if correspondence_id is not None else None

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
        if event is Event.PUBLISH:
            if self._faults.active_at(FaultName.ALTINN_PUBLISH_FAILED, kommunenummer, at):
                self._add(correspondence, Status.FAILED, at, PUBLISH_FAILED_TEXT.format(id=correspondence.id))
                return True
            correspondence.published = at
            self._add(correspondence, Status.PUBLISHED, at)
            correspondence.pending.append((self._next_poll(correspondence.assignment, at), Event.FETCH))
        elif event is Event.FETCH:
            free = self._faults.free_from(self.fetch_blockers(correspondence), kommunenummer, at)
            if free is None:
                return False  # nobody can see it; look again once the fault is cleared
            if free > at:
                correspondence.pending.append((self._next_poll(correspondence.assignment, free), Event.FETCH))
                return True
            self._fetch(correspondence, at)
        elif event is Event.READ and not correspondence.has(Status.READ):
            self._add(correspondence, Status.READ, at)
        elif event is Event.CONFIRM and not correspondence.has(Status.CONFIRMED):
            self._add(correspondence, Status.CONFIRMED, at)
        return True

    @staticmethod
    def fetch_blockers(correspondence: Correspondence) -> tuple[FaultName, ...]:
        """The faults that keep the municipality from seeing ``correspondence``: any mail under
        ``municipality.never_fetches``, confidential mail also under
        ``municipality.no_confidential_role``, and where the fagsystem's import is what fetches, any mail
        under ``vendor.down``."""
        blockers = [FaultName.MUNICIPALITY_NEVER_FETCHES]
        if correspondence.confidential:
            blockers.append(FaultName.MUNICIPALITY_NO_CONFIDENTIAL_ROLE)
        if correspondence.assignment.imports_altinn:
            blockers.append(FaultName.VENDOR_DOWN)
        return tuple(blockers)

    def _fetch(self, correspondence: Correspondence, at: float) -> None:
        """The municipality's inbox poll at ``at`` opens the correspondence (as Arbeidsflate or a
        fagsystem import with a read-only token would): ``Fetched``, a person reading it later, and the
        import into the fagsystem where the municipality has one."""
        kommunenummer = correspondence.kommunenummer
        self._add(correspondence, Status.FETCHED, at)
        correspondence.pending.append((self._read_at(at, correspondence.read_delay), Event.READ))
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

    def _next_poll(self, assignment: Assignment, after: float) -> float:
        """When the municipality next looks at its inbox: its people's next look at work, or where its
        fagsystem's import fetches (or people keep no office hours), its next inbox poll."""
        people, calendar = self._people, self._delays.calendar
        if people is not None and calendar is not None and not assignment.imports_altinn:
            return calendar.sandbox(people.next_look(assignment.kommunenummer, calendar.world(after)))
        period, phase = inbox_schedule(assignment.kommunenummer, self._delay_settings, self._speed)
        return next_poll(after, period, phase)

    def _read_at(self, fetched: float, delay: float) -> float:
        """When a person reads what was fetched at ``fetched``: ``delay`` (sandbox seconds) later, in
        office time where people keep office hours."""
        people, calendar = self._people, self._delays.calendar
        if people is None or calendar is None:
            return fetched + delay
        return calendar.sandbox(people.read_at(calendar.world(fetched), delay * calendar.speed))

    def record(self, correspondence: Correspondence, status: Status) -> None:
        """Add ``status`` now (a recipient's or sender's action)."""
        self._add(correspondence, status, self._clock.now())
        if status in PURGED:
            correspondence.purged = True
            correspondence.pending.clear()

    def record_fetched(self, correspondence: Correspondence, party: str, *, debounce: bool) -> None:
        """Add ``Fetched`` now for a recipient call by ``party``; with ``debounce`` (the overview and
        content) not again within :data:`FETCH_DEBOUNCE` of that party's last one."""
        now = self._clock.now()
        last = correspondence.fetched_by.get(party)
        if debounce and last is not None and now - last < FETCH_DEBOUNCE:
            return
        correspondence.fetched_by[party] = now
        self._add(correspondence, Status.FETCHED, now)

    def confirm_later(self, correspondence: Correspondence) -> None:
        """Schedule ``Confirmed``, which Altinn writes :data:`CONFIRM_DELAY` after the confirm call."""
        correspondence.pending.append((self._clock.now() + CONFIRM_DELAY, Event.CONFIRM))

    @staticmethod
    def _add(correspondence: Correspondence, status: Status, at: float, text: str | None = None) -> None:
        correspondence.history.append(StatusEvent(status, text if text is not None else status.value, at))
