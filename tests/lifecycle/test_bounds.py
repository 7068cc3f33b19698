"""Learned deadlines: a route's bound per hop from its own delivered canaries, the cold start on the
configured deadline, the limits, office time for people's hops, and the silence limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

import pytest

from probe.config.routes import Learning, Route
from probe.hops import Channel, Hop, Verdict
from probe.lifecycle.bounds import SILENT_INTERVALS, HopLatencies, RouteBounds, route_bounds
from probe.lifecycle.record import CanaryRecord, State
from probe.office_time import OfficeHours
from tests.engine.kit import ALTINN, PORTAL, record

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
LEARNING = Learning(quantile=1.0, margin=1.5, samples=20, min_samples=5, minimum=30.0, office_margin=1.5)
LEARNING_PORTAL = dataclasses.replace(PORTAL, learning=LEARNING)
OFFICE_ALTINN = dataclasses.replace(ALTINN, learning=LEARNING, office_hours=OfficeHours(), deadline=8 * 3600)


def at(day: int, hour: int, minute: int = 0) -> float:
    """A time in the week of Monday 8 March 2027 (no holiday), Oslo."""
    return dt.datetime(2027, 3, day, hour, minute, tzinfo=OSLO).timestamp()


def delivered(route: Route, sent: float, **latencies: float) -> CanaryRecord:
    made = record(route, created_at=sent, hops={Hop.ACCEPTED: sent})
    for hop, latency in latencies.items():
        made.hops[Hop(hop)] = sent + latency
    made.state, made.verdict = State.RESOLVED, Verdict.DELIVERED
    return made


def test_a_window_keeps_its_newest_latencies_and_reads_quantiles_by_rank() -> None:
    window = HopLatencies(3)
    for latency in (5.0, 1.0, 9.0, 2.0):
        window.add(latency)
    assert len(window) == 3
    assert (window.quantile(1.0), window.quantile(0.5), window.quantile(0.01)) == (9.0, 2.0, 1.0)


def test_the_configured_deadline_holds_until_enough_canaries_were_delivered() -> None:
    bounds = RouteBounds(LEARNING_PORTAL)
    for number in range(4):
        assert bounds.learn(
            delivered(LEARNING_PORTAL, 1000.0 * number, forwarded=5, receipted=20, registered=40)
        )
    assert bounds.bound(Hop.RECEIPTED) == PORTAL.deadline
    assert bounds.usual(Hop.RECEIPTED) is None
    bounds.learn(delivered(LEARNING_PORTAL, 5000.0, forwarded=5, receipted=30, registered=50))
    # Five delivered: the slowest seen times the margin, per hop.
    assert bounds.usual(Hop.RECEIPTED) == 30
    assert bounds.bound(Hop.RECEIPTED) == 45
    assert bounds.bound(Hop.REGISTERED) == 75
    # Never below the minimum, never above the configured deadline.
    assert bounds.bound(Hop.FORWARDED) == 30
    assert bounds.bound(Hop.ACCEPTED) == 30
    bounds.learn(delivered(LEARNING_PORTAL, 6000.0, forwarded=5, receipted=280, registered=299))
    assert bounds.bound(Hop.RECEIPTED) == PORTAL.deadline


def test_due_instants_are_fixed_from_the_send_time() -> None:
    bounds = RouteBounds(LEARNING_PORTAL)
    for number in range(5):
        bounds.learn(delivered(LEARNING_PORTAL, 1000.0 * number, forwarded=5, receipted=20, registered=40))
    assert bounds.due(10_000.0) == {
        Hop.ACCEPTED: 10_030.0,
        Hop.FORWARDED: 10_030.0,
        Hop.RECEIPTED: 10_030.0,
        Hop.REGISTERED: 10_060.0,
    }
    canary = CanaryRecord.for_route(LEARNING_PORTAL, "c", "m", 10_000.0, bounds.due(10_000.0))
    assert canary.deadline_at == 10_060.0
    assert bounds.usual_at(canary, Hop.REGISTERED) == 10_040.0


def test_what_says_nothing_about_healthy_latency_is_not_learned() -> None:
    bounds = RouteBounds(LEARNING_PORTAL)
    lost = delivered(LEARNING_PORTAL, 0.0, forwarded=5)
    lost.verdict = Verdict.LOST
    unconfirmed = delivered(LEARNING_PORTAL, 0.0, forwarded=5, receipted=20, registered=40)
    unconfirmed.unconfirmed = True
    other_final = delivered(dataclasses.replace(LEARNING_PORTAL, final_hop=Hop.RECEIPTED), 0.0, receipted=2)
    other_final.final_hop = Hop.RECEIPTED
    assert not any(bounds.learn(canary) for canary in (lost, unconfirmed, other_final))
    assert not RouteBounds(PORTAL).learn(delivered(PORTAL, 0.0, forwarded=5, receipted=20, registered=40))
    assert RouteBounds(PORTAL).bound(Hop.RECEIPTED) == PORTAL.deadline


def test_a_persons_hop_learns_and_falls_due_in_office_time() -> None:
    bounds = RouteBounds(OFFICE_ALTINN)
    # Sent at 08:00 on Monday to Friday, each fetched two office hours later.
    for day in (8, 9, 10, 11, 12):
        sent = at(day, 8)
        bounds.learn(delivered(OFFICE_ALTINN, sent, published=60, fetched=2 * 3600))
    assert bounds.usual(Hop.FETCHED) == 2 * 3600
    assert bounds.bound(Hop.FETCHED) == 3 * 3600
    # A machine's hop stays on the wall clock.
    assert bounds.bound(Hop.PUBLISHED) == 90
    # Sent on Friday at 15:00: published a minute and a half later, fetched due on Monday at 10:30.
    due = bounds.due(at(12, 15))
    assert due[Hop.PUBLISHED] == at(12, 15) + 90
    assert due[Hop.FETCHED] == at(15, 10, 30)
    # A person's hop has a margin of its own (machines' tails and slow days need more room).
    own = RouteBounds(
        dataclasses.replace(OFFICE_ALTINN, learning=dataclasses.replace(LEARNING, office_margin=1.1))
    )
    for day in (8, 9, 10, 11, 12):
        own.learn(delivered(OFFICE_ALTINN, at(day, 8), published=60, fetched=2 * 3600))
    assert own.bound(Hop.FETCHED) == pytest.approx(2.2 * 3600)
    assert own.bound(Hop.PUBLISHED) == 90
    # A canary fetched on Monday at 09:00 took half an hour of office time, not 66 hours.
    late_weekend = delivered(OFFICE_ALTINN, at(12, 15), published=60, fetched=at(15, 9) - at(12, 15))
    assert bounds.latency(late_weekend, Hop.FETCHED) == 1.5 * 3600


def test_the_silence_limit_spans_closed_office_hours() -> None:
    bounds = RouteBounds(OFFICE_ALTINN)
    for day in (8, 9, 10, 11, 12):
        bounds.learn(delivered(OFFICE_ALTINN, at(day, 8), published=60, fetched=2 * 3600))
    intervals = SILENT_INTERVALS * ALTINN.interval
    # Monday 09:00: the last three office hours began on Friday at 13:30.
    assert bounds.silence_limit(at(15, 9)) == pytest.approx(at(15, 9) - at(12, 13, 30) + intervals)
    assert bounds.silence_limit(at(9, 14)) == pytest.approx(3 * 3600 + intervals)
    wall = RouteBounds(LEARNING_PORTAL)
    assert wall.silence_limit(at(15, 9)) == PORTAL.deadline + SILENT_INTERVALS * PORTAL.interval
    # A delivery is known only at its canary's first check, up to normal_latency after sending.
    looked_late = RouteBounds(dataclasses.replace(LEARNING_PORTAL, normal_latency=600.0))
    assert looked_late.silence_limit(at(15, 9)) == PORTAL.deadline + SILENT_INTERVALS * PORTAL.interval + 600


def test_a_route_marks_its_own_manual_hops() -> None:
    manual = dataclasses.replace(PORTAL, office_hours=OfficeHours(), manual_hops=frozenset({Hop.REGISTERED}))
    assert manual.in_office_time(Hop.REGISTERED)
    assert not manual.in_office_time(Hop.RECEIPTED)
    assert OFFICE_ALTINN.in_office_time(Hop.FETCHED)
    assert not dataclasses.replace(OFFICE_ALTINN, office_hours=None).in_office_time(Hop.FETCHED)
    bounds = RouteBounds(manual)
    # The configured 5 minutes count in office time: 2 on Friday, 3 on Monday.
    assert bounds.due(at(12, 15, 28))[Hop.REGISTERED] == at(15, 8, 3)
    assert Channel.PORTAL is manual.channel


def test_routes_of_one_channel_and_vendor_share_their_hops_tails() -> None:
    neighbour = dataclasses.replace(LEARNING_PORTAL, kommunenummer="0301")
    other_vendor = dataclasses.replace(LEARNING_PORTAL, kommunenummer="1101", vendor="fjordsys")
    office = dataclasses.replace(OFFICE_ALTINN, kommunenummer="0301")
    wall_altinn = dataclasses.replace(OFFICE_ALTINN, kommunenummer="1101", office_hours=None)
    routes = (LEARNING_PORTAL, neighbour, other_vendor, OFFICE_ALTINN, office, wall_altinn)
    bounds = route_bounds(routes)
    for number in range(5):
        for route in (LEARNING_PORTAL, other_vendor, neighbour):
            made = delivered(route, 1000.0 * number, forwarded=5, receipted=20, registered=40)
            bounds[route.key].learn(made)
    assert bounds[LEARNING_PORTAL.key].bound(Hop.RECEIPTED) == 30
    # The neighbour's tail is the vendor's: its slow canary raises both routes' bounds.
    bounds[neighbour.key].learn(delivered(neighbour, 6000.0, forwarded=5, receipted=100, registered=120))
    assert bounds[LEARNING_PORTAL.key].usual(Hop.RECEIPTED) == 100
    assert bounds[LEARNING_PORTAL.key].bound(Hop.RECEIPTED) == 150
    assert bounds[other_vendor.key].bound(Hop.RECEIPTED) == 30  # another vendor's routes: their own
    # People's longest wait for a look is shared too, in office seconds, among routes counting them so;
    # a route counting the hop on the wall clock keeps its own.
    for number in range(5):
        sent = at(8, 9) + 600.0 * number
        bounds[OFFICE_ALTINN.key].learn(delivered(OFFICE_ALTINN, sent, published=60, fetched=600))
        bounds[office.key].learn(delivered(office, sent, published=60, fetched=3600 if number == 4 else 600))
        bounds[wall_altinn.key].learn(delivered(wall_altinn, sent, published=60, fetched=900))
    assert bounds[OFFICE_ALTINN.key].usual(Hop.FETCHED) == 3600
    assert bounds[office.key].usual(Hop.FETCHED) == 3600
    assert bounds[wall_altinn.key].usual(Hop.FETCHED) == 900
    assert bounds[OFFICE_ALTINN.key].usual(Hop.PUBLISHED) == 60


def test_a_delivered_canary_tells_its_ratio_to_the_median_and_a_slowdown_stretches_its_bound() -> None:
    bounds = RouteBounds(LEARNING_PORTAL)
    assert bounds.ratios(delivered(LEARNING_PORTAL, 0.0, forwarded=5, receipted=20, registered=40)) == {}
    for number, receipted in enumerate((10.0, 20.0, 20.0, 30.0, 40.0)):
        bounds.learn(
            delivered(LEARNING_PORTAL, 1000.0 * number, forwarded=5, receipted=receipted, registered=50)
        )
    slow = delivered(LEARNING_PORTAL, 9000.0, forwarded=10, receipted=60, registered=100)
    assert bounds.ratios(slow)[Hop.RECEIPTED] == 3.0  # 60 s over the median 20 s
    assert bounds.stretched_due(slow, Hop.RECEIPTED, 2.0) == 9000.0 + 40 * 1.5 * 2
    assert bounds.stretched_due(slow, Hop.RECEIPTED, 10.0) == 9000.0 + PORTAL.deadline
    altinn = RouteBounds(OFFICE_ALTINN)
    assert altinn.stretched_due(slow, Hop.FETCHED, 2.0) is None  # a person's hop, office time
