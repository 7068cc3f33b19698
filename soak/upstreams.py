"""In-process upstreams for the soak: KS's producer API, Altinn Correspondence and the vendors' read-back
APIs as simulations that implement what the engine calls (:class:`probe.channels.base.ChannelAdapter`,
the :class:`probe.checks.readback.ReadbackClient` interface: ``since``/``delete``).

Each canary's timeline is drawn when it is sent, from the sandbox's own world model: the same hop delays
(:class:`probe.sandbox.delays.Delays`: log-normal bodies, bounded tails, slow days), the same people at
the municipalities (:class:`probe.sandbox.behaviour.people.People`: inbox looks in office hours), and the
fault plan (:class:`soak.plan.FaultPlan`) applied as the sandbox applies its faults: a step fault at the
instant the step is due (a held step resumes when the fault ends), a request fault when the call is
made. What is not simulated: HTTP, tokens, the canary's content (PDF, ASiC-E, CMS: about 3 ms a canary,
measured by ``make bench``), KS's directory and the report versions.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping

from probe.canary.content import CanarySubject
from probe.channels import altinn as altinn_channel
from probe.channels import portal as portal_channel
from probe.channels.base import Observation, Sent, StatusEvent, observation_from_events
from probe.checks.readback import Registration
from probe.clock import Clock
from probe.config.routes import Route
from probe.errors import InvalidResponseError, RateLimitedError, Reason, UpstreamError
from probe.hops import Channel
from probe.sandbox.assignment import Assignment
from probe.sandbox.behaviour.people import People
from probe.sandbox.delays import Delays, inbox_schedule, next_poll
from probe.sandbox.faults import FaultName
from probe.sandbox.settings import DelaySettings
from soak.plan import FaultPlan

RETRY_AFTER = 30.0
# Timelines and registrations are forgotten this long after sending: past the longest healthy wait (from
# the Wednesday before Easter to its Tuesday) plus the late-arrival window, with room to spare.
FORGET_AFTER = 14 * 86_400.0
F = FaultName


@dataclasses.dataclass(slots=True)
class Timeline:
    """One canary as the world will treat it: its status history and its registrations (read-back)."""

    canary_id: str
    marker: str
    kommunenummer: str
    sent: float
    events: list[StatusEvent]


class World:
    """The simulated world of one soak: timelines drawn at send, the fault plan, the vendors' stores."""

    def __init__(
        self,
        clock: Clock,
        plan: FaultPlan,
        assignments: Mapping[str, Assignment],
        delays: Delays,
        people: People,
    ) -> None:
        self.clock = clock
        self.plan = plan
        self.assignments = assignments
        self.delays = delays
        self.people = people
        self.settings: DelaySettings = delays.settings
        self.timelines: dict[str, Timeline] = {}
        # Per municipality: registrations sorted by instant, and the canaries removed (cleaned up).
        self.registered: dict[str, list[tuple[float, str, str]]] = {}
        self.removed: set[str] = set()
        self.sent = 0

    # Request faults, evaluated when a call is made.
    def refuse(self, upstream: str, kommunenummer: str, *, submit: FaultName | None = None) -> None:
        """Raise what the upstream answers now, if a fault makes it refuse the call."""
        fault = self.plan.at(kommunenummer, self.clock.now())
        if fault is None:
            return
        if fault.name is F.RATELIMIT:
            raise RateLimitedError(upstream, RETRY_AFTER)
        if submit is not None and fault.name is submit:
            raise UpstreamError(upstream, Reason.HTTP_5XX, "503 Service Unavailable", 503)

    def malformed(self, kommunenummer: str) -> bool:
        """Whether answers about the municipality are broken JSON now."""
        return self.plan.active(F.MALFORMED, kommunenummer, self.clock.now())

    def register(self, kommunenummer: str, at: float, subject: CanarySubject, *, duplicate: bool) -> None:
        """The vendor's fagsystem stores the canary at ``at`` (twice when it duplicates)."""
        found = self.registered.setdefault(kommunenummer, [])
        bisect.insort(found, (at, subject.canary_id, subject.marker))
        if duplicate:
            bisect.insort(found, (at + self.settings.duplicate_gap, subject.canary_id, subject.marker))

    def forget(self) -> None:
        """Drop what was sent longer ago than :data:`FORGET_AFTER` (bounded memory over a year)."""
        before = self.clock.now() - FORGET_AFTER
        stale = [key for key, timeline in self.timelines.items() if timeline.sent < before]
        for key in stale:
            del self.timelines[key]
        for found in self.registered.values():
            cut = bisect.bisect_left(found, (before, "", ""))
            for _, canary_id, _ in found[:cut]:
                self.removed.discard(canary_id)
            del found[:cut]

    def behaviour(self, kommunenummer: str, instant: float) -> FaultName | None:
        """The vendor fault in force on the municipality at ``instant``, if any."""
        fault = self.plan.at(kommunenummer, instant)
        return fault.name if fault is not None else None

    # Timelines, drawn at send.
    def portal(self, subject: CanarySubject, number: str, now: float) -> list[StatusEvent]:
        """KS's status history of a report accepted now, with the fagsystem's store (DESIGN 6)."""
        vendor = self.assignments[number].vendor_id
        draw, plan = self.delays.draw, self.plan
        forwarded = plan.free_from((F.PORTAL_STALL,), number, now + draw("ks_forward", at=now))
        arrived = plan.free_from(
            (F.VENDOR_DOWN,), number, forwarded + draw("fiks_handover", vendor=vendor, at=now)
        )
        receipt = draw("fagsystem_receipt", vendor=vendor, at=now)
        printing = draw("ks_print", at=now)
        events = [StatusEvent(now, "AKSEPTERT"), StatusEvent(forwarded, "SENDT_FAGSYSTEM")]
        behaviour = self.behaviour(number, arrived)
        if behaviour is F.PORTAL_HANDOVER_LOST:
            return events
        processed = arrived + (self.settings.vendor_slow if behaviour is F.VENDOR_SLOW else 0.0)
        if behaviour is F.VENDOR_REJECT:
            rejected = processed + receipt
            events += [
                StatusEvent(rejected, "AVVIST_FAGSYSTEM"),
                StatusEvent(rejected + printing, "SENDT_PRINT"),
                StatusEvent(rejected + 2 * printing, "LEVERT"),
            ]
            return events
        if behaviour is not F.VENDOR_RECEIPT_WITHOUT_STORE:
            self.register(number, processed, subject, duplicate=behaviour is F.VENDOR_DUPLICATE)
        events.append(StatusEvent(processed + receipt, "LEVERT"))
        return events

    def altinn(self, subject: CanarySubject, route: Route, now: float) -> list[StatusEvent]:
        """Altinn's status history of a correspondence created now: published, fetched when someone (or
        the fagsystem's import) looks and may see it, read in office time, imported."""
        number = route.kommunenummer
        assignment = self.assignments[number]
        draw = self.delays.draw
        published = now + draw("altinn_ready", at=now) + draw("altinn_publish", at=now)
        read_delay = draw("municipality_read")
        import_delay = draw("altinn_import", vendor=assignment.vendor_id, at=now)
        events = [StatusEvent(now, "Initialized"), StatusEvent(now, "ReadyForPublish")]
        if self.plan.active(F.ALTINN_PUBLISH_FAILED, number, published):
            return [*events, StatusEvent(published, "Failed")]
        events.append(StatusEvent(published, "Published"))
        blockers = [F.MUNICIPALITY_NEVER_FETCHES]
        if route.confidential:
            blockers.append(F.MUNICIPALITY_NO_CONFIDENTIAL_ROLE)
        if assignment.imports_altinn:
            blockers.append(F.VENDOR_DOWN)
        look = self.next_look(assignment, published)
        while (free := self.plan.free_from(blockers, number, look)) > look:
            look = self.next_look(assignment, free)
        events += [StatusEvent(look, "Fetched"), StatusEvent(self.people.read_at(look, read_delay), "Read")]
        behaviour = self.behaviour(number, look)
        if assignment.imports_altinn and behaviour not in (F.VENDOR_REJECT, F.VENDOR_RECEIPT_WITHOUT_STORE):
            slow = self.settings.vendor_slow if behaviour is F.VENDOR_SLOW else 0.0
            at = look + import_delay + slow
            self.register(number, at, subject, duplicate=behaviour is F.VENDOR_DUPLICATE)
        return events

    def next_look(self, assignment: Assignment, after: float) -> float:
        """When the municipality next opens its inbox at or after ``after``: its people at work, or its
        fagsystem's import on the inbox poll schedule."""
        if assignment.imports_altinn:
            period, phase = inbox_schedule(assignment.kommunenummer, self.settings, 1.0)
            return next_poll(after, period, phase)
        return self.people.next_look(assignment.kommunenummer, after)

    def history(self, upstream_id: str) -> list[StatusEvent]:
        """The canary's status history as it stands now."""
        timeline = self.timelines.get(upstream_id)
        if timeline is None:
            return []
        now = self.clock.now()
        return [event for event in timeline.events if event.at <= now]


class SimPortal:
    """KS's producer API, in process."""

    channel = Channel.PORTAL
    can_find = False

    def __init__(self, world: World) -> None:
        self._world = world

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Accept the report (unless a fault refuses it) and draw its timeline."""
        world, number = self._world, route.kommunenummer
        world.refuse(self.channel.value, number, submit=F.PORTAL_SUBMIT_ERROR)
        now = world.clock.now()
        upstream_id = f"ks-{subject.canary_id}"
        events = world.portal(subject, number, now)
        world.timelines[upstream_id] = Timeline(subject.canary_id, subject.marker, number, now, events)
        world.sent += 1
        if world.malformed(number):  # the call took effect, its answer is broken
            raise InvalidResponseError(self.channel.value, "answer is not JSON", 201)
        return Sent(upstream_id, now, "v2")

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        """The report's status history so far, mapped onto hops as the real adapter maps KS's."""
        world = self._world
        world.refuse(self.channel.value, route.kommunenummer)
        if world.malformed(route.kommunenummer):
            raise InvalidResponseError(self.channel.value, "status answer is not JSON", 200)
        return observation_from_events(
            world.history(upstream_id),
            Channel.PORTAL,
            portal_channel.HOP_OF_STATUS,
            portal_channel.FAILURE_STATUSES,
        )

    async def find(self, route: Route, canary_id: str) -> str | None:
        """KS cannot search by content."""
        return None


class SimAltinn:
    """Altinn 3 Correspondence, in process."""

    channel = Channel.ALTINN
    can_find = True

    def __init__(self, world: World) -> None:
        self._world = world
        self._by_canary: dict[str, str] = {}

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Create the correspondence (unless a fault refuses it) and draw its timeline."""
        world, number = self._world, route.kommunenummer
        world.refuse(self.channel.value, number, submit=F.ALTINN_SUBMIT_ERROR)
        now = world.clock.now()
        upstream_id = f"altinn-{subject.canary_id}"
        events = world.altinn(subject, route, now)
        world.timelines[upstream_id] = Timeline(subject.canary_id, subject.marker, number, now, events)
        self._by_canary[subject.canary_id] = upstream_id
        world.sent += 1
        if world.malformed(number):
            raise InvalidResponseError(self.channel.value, "answer is not JSON", 200)
        return Sent(upstream_id, now)

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        """The correspondence's status history so far, mapped onto hops as the real adapter maps it."""
        world = self._world
        world.refuse(self.channel.value, route.kommunenummer)
        if world.malformed(route.kommunenummer):
            raise InvalidResponseError(self.channel.value, "details answer is not JSON", 200)
        return observation_from_events(
            world.history(upstream_id),
            Channel.ALTINN,
            altinn_channel.HOP_OF_STATUS,
            altinn_channel.FAILURE_STATUSES,
        )

    async def find(self, route: Route, canary_id: str) -> str | None:
        """The correspondence sent with the canary's ``sendersReference``, if Altinn has it."""
        world = self._world
        world.refuse(self.channel.value, route.kommunenummer)
        if world.malformed(route.kommunenummer):
            raise InvalidResponseError(self.channel.value, "search answer is not JSON", 200)
        found = self._by_canary.get(canary_id)
        return found if found is not None and found in world.timelines else None

    def forget(self) -> None:
        """Forget the lookups of canaries the world forgot."""
        timelines = self._world.timelines
        self._by_canary = {key: value for key, value in self._by_canary.items() if value in timelines}


class SimReadback:
    """One vendor's read-back API, in process (``since``/``delete`` as :class:`ReadbackClient`)."""

    def __init__(self, vendor: str, world: World) -> None:
        self.vendor = vendor
        self._world = world

    def _refuse(self, kommunenummer: str) -> None:
        world = self._world
        fault = world.plan.at(kommunenummer, world.clock.now())
        if fault is not None and fault.name in (F.VENDOR_READBACK_DOWN, F.VENDOR_DOWN):
            raise UpstreamError("readback", Reason.HTTP_5XX, "503 Service Unavailable", 503)
        world.refuse("readback", kommunenummer)

    async def since(self, kommunenummer: str, since: float) -> list[Registration]:
        """Every canary registered for the municipality since ``since`` and not removed."""
        self._refuse(kommunenummer)
        world = self._world
        if world.malformed(kommunenummer):
            raise InvalidResponseError("readback", "answer has no canaries list")
        found = world.registered.get(kommunenummer, [])
        now = world.clock.now()
        start = bisect.bisect_left(found, (since, "", ""))
        end = bisect.bisect_right(found, (now, "\uffff", ""))
        removed = world.removed
        return [
            Registration(canary_id, marker, at)
            for at, canary_id, marker in found[start:end]
            if canary_id not in removed
        ]

    async def delete(self, kommunenummer: str, canary_id: str) -> None:
        """Remove the canary from case workers' view, unless the vendor refuses."""
        self._refuse(kommunenummer)
        world = self._world
        if world.plan.active(F.VENDOR_DELETE_REFUSED, kommunenummer, world.clock.now()):
            raise UpstreamError("readback", Reason.HTTP_4XX, "403 Forbidden", 403)
        world.removed.add(canary_id)
