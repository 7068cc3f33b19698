"""The soak's in-process upstreams: timelines drawn at send from the world model, faults applied as the
sandbox applies them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import zoneinfo

import pytest

from probe.canary.content import CanarySubject
from probe.clock import FakeClock
from probe.config.registry import packaged_registry
from probe.config.routes import Route
from probe.errors import RateLimitedError, UpstreamError
from probe.hops import Channel, Hop
from probe.office_time import OfficeHours
from probe.sandbox.assignment import assign_all
from probe.sandbox.behaviour.people import People
from probe.sandbox.delays import Delays
from probe.sandbox.faults import FaultName
from probe.sandbox.settings import DelaySettings, PeopleSettings
from soak.plan import FaultPlan, PlannedFault
from soak.upstreams import SimAltinn, SimPortal, SimReadback, World

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
MONDAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=OSLO).timestamp()
ROUTE = Route(
    Channel.PORTAL, "0301", "Oslo", "Oslo", "974778874", "fjordsys", None, 900, 1800, 30, Hop.REGISTERED
)
ALTINN = dataclasses.replace(ROUTE, channel=Channel.ALTINN, final_hop=Hop.FETCHED)


def world(*faults: PlannedFault) -> tuple[World, FakeClock]:
    clock = FakeClock(MONDAY)
    delays = Delays(DelaySettings(), 1.0, random.Random(1))
    people = People(PeopleSettings(), OfficeHours(), 1)
    return World(clock, FaultPlan(faults), assign_all(packaged_registry()), delays, people), clock


def subject(canary_id: str, channel: Channel = Channel.PORTAL) -> CanarySubject:
    return CanarySubject(
        canary_id, channel, "0301", "Oslo", "00", "Oslo", f"KANARI1.{canary_id}.x", MONDAY, "x"
    )


def test_a_healthy_report_is_forwarded_receipted_and_registered() -> None:
    sim, clock = world()
    portal, readback = SimPortal(sim), SimReadback("fjordsys", sim)
    sent = asyncio.run(portal.send(ROUTE, subject("a")))
    clock.advance(3600)
    seen = asyncio.run(portal.check(ROUTE, sent.upstream_id))
    assert {Hop.ACCEPTED, Hop.FORWARDED, Hop.RECEIPTED} <= set(seen.reached)
    [registration] = asyncio.run(readback.since("0301", MONDAY - 60))
    assert registration.canary_id == "a"
    asyncio.run(readback.delete("0301", "a"))
    assert asyncio.run(readback.since("0301", MONDAY - 60)) == []


def test_a_stall_holds_the_forward_until_it_ends() -> None:
    sim, clock = world(PlannedFault(0, FaultName.PORTAL_STALL, "0301", MONDAY - 1, MONDAY + 7200))
    portal = SimPortal(sim)
    sent = asyncio.run(portal.send(ROUTE, subject("a")))
    clock.advance(3600)
    assert Hop.FORWARDED not in asyncio.run(portal.check(ROUTE, sent.upstream_id)).reached
    clock.advance(7200)
    assert asyncio.run(portal.check(ROUTE, sent.upstream_id)).reached[Hop.FORWARDED] == MONDAY + 7200


def test_a_lost_handover_never_reaches_the_fagsystem() -> None:
    sim, clock = world(PlannedFault(0, FaultName.PORTAL_HANDOVER_LOST, "0301", MONDAY - 1, MONDAY + 7200))
    portal = SimPortal(sim)
    sent = asyncio.run(portal.send(ROUTE, subject("a")))
    clock.advance(86_400)
    assert set(asyncio.run(portal.check(ROUTE, sent.upstream_id)).reached) == {Hop.ACCEPTED, Hop.FORWARDED}
    assert sim.registered.get("0301", []) == []


def test_request_faults_refuse_the_calls() -> None:
    sim, _ = world(
        PlannedFault(0, FaultName.RATELIMIT, "0301", MONDAY - 1, MONDAY + 10),
    )
    with pytest.raises(RateLimitedError):
        asyncio.run(SimPortal(sim).send(ROUTE, subject("a")))
    refused, _clock = world(PlannedFault(0, FaultName.VENDOR_DELETE_REFUSED, "0301", MONDAY - 1, MONDAY + 10))
    with pytest.raises(UpstreamError, match="403"):
        asyncio.run(SimReadback("fjordsys", refused).delete("0301", "a"))
    down, _ = world(PlannedFault(0, FaultName.VENDOR_READBACK_DOWN, "0301", MONDAY - 1, MONDAY + 10))
    with pytest.raises(UpstreamError, match="503"):
        asyncio.run(SimReadback("fjordsys", down).since("0301", MONDAY))


def test_mail_nobody_may_fetch_waits_for_a_look_after_the_fault() -> None:
    end = MONDAY + 3 * 86_400
    sim, clock = world(PlannedFault(0, FaultName.MUNICIPALITY_NEVER_FETCHES, "0301", MONDAY - 1, end))
    altinn = SimAltinn(sim)
    sent = asyncio.run(altinn.send(ALTINN, subject("b", Channel.ALTINN)))
    clock.advance(10 * 86_400)
    fetched = asyncio.run(altinn.check(ALTINN, sent.upstream_id)).reached[Hop.FETCHED]
    assert fetched > end
    assert OfficeHours().is_open(fetched)
    assert asyncio.run(altinn.find(ALTINN, "b")) == sent.upstream_id
