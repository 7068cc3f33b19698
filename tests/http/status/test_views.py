"""The status page's read model: route states, shares, windows, incidents and runbook choices."""

from __future__ import annotations

from probe.config.routes import Route
from probe.hops import Channel, Hop, Owner, Verdict
from probe.http.status import views
from probe.http.status.views import RouteState
from probe.lifecycle.incident import Incident
from tests.http.status.fakes import NOW, PORTAL_DONE, ROUTES, broken_bergen, incident, record

BERGEN_P, BERGEN_A, OSLO_P, OSLO_A, TYSVAER = ROUTES


def test_a_route_state_follows_its_newest_verdict_and_an_open_incident() -> None:
    assert views.route_state(Verdict.DELIVERED, False) is RouteState.DELIVERING
    assert views.route_state(Verdict.LOST, False) is RouteState.BROKEN
    assert views.route_state(Verdict.FAILED, False) is RouteState.BROKEN
    assert views.route_state(Verdict.UNKNOWN, False) is RouteState.UNKNOWN
    assert views.route_state(None, False) is RouteState.PENDING
    assert views.route_state(Verdict.DELIVERED, True) is RouteState.BROKEN


def test_the_newest_verdict_skips_canaries_in_flight() -> None:
    delivered = record(OSLO_P, 1, NOW, Verdict.DELIVERED, hops=PORTAL_DONE)
    in_flight = record(OSLO_P, 5, NOW + 300, None)
    assert views.newest_verdict([in_flight, delivered]) is Verdict.DELIVERED
    assert views.newest_verdict([in_flight]) is None
    assert views.newest_verdict([]) is None


def test_delivered_share_leaves_unknown_out_and_is_none_without_judged_canaries() -> None:
    counts = {Verdict.DELIVERED: 3, Verdict.LOST: 1, Verdict.UNKNOWN: 6}
    assert views.delivered_share(counts) == 0.75
    assert views.judged(counts) == 4
    assert views.delivered_share({Verdict.UNKNOWN: 2}) is None
    assert views.delivered_share({}) is None


def test_the_national_view_counts_states_and_open_incidents_per_channel_and_groups_by_county() -> None:
    ledger = broken_bergen()
    view = views.national_view(ROUTES, ledger.latest_verdicts(), ledger.incidents(open_only=True), NOW)
    portal, altinn = view.channels
    assert portal.channel is Channel.PORTAL
    assert portal.routes == 3
    assert portal.states[RouteState.BROKEN] == 1
    assert portal.states[RouteState.PENDING] == 1
    assert portal.share == 1 / 3
    assert portal.open_incidents == 1
    assert altinn.open_incidents == 0
    assert altinn.states[RouteState.UNKNOWN] == 1
    # Counties in kommunenummer order: Oslo (03), Rogaland (11), Vestland (46).
    assert [county.name for county in portal.counties] == ["Oslo", "Rogaland", "Vestland"]
    cells = {cell.kommunenummer: cell.state for county in portal.counties for cell in county.cells}
    assert cells == {"0301": RouteState.DELIVERING, "1146": RouteState.PENDING, "4601": RouteState.BROKEN}


def test_a_channel_without_routes_is_left_out() -> None:
    view = views.national_view([OSLO_P], {}, [], NOW)
    assert [summary.channel for summary in view.channels] == [Channel.PORTAL]
    assert view.channels[0].share == 0.0


def test_the_vendor_view_has_shares_over_both_windows_latency_and_its_incidents_only() -> None:
    ledger = broken_bergen()
    keys = [route.key for route in ROUTES if route.vendor == "nordlys"]
    counts = {days: ledger.verdict_counts(keys, NOW - days * 86400) for days in views.WINDOWS_DAYS}
    view = views.vendor_view(
        "nordlys",
        "Nordlys",
        ROUTES,
        verdicts=ledger.latest_verdicts(),
        delivered=ledger.newest_delivered(),
        counts=counts,
        incidents=ledger.incidents(),
        taken_at=NOW,
    )
    assert [(line.route.kommunenummer, line.route.channel) for line in view.routes] == [
        ("1146", Channel.PORTAL),
        ("4601", Channel.ALTINN),
        ("4601", Channel.PORTAL),
    ]
    bergen_portal = view.routes[2]
    assert bergen_portal.state is RouteState.BROKEN
    # Seven days: two delivered, five lost; 30 days: 25 delivered, five lost.
    assert bergen_portal.judged == {7: 7, 30: 30}
    assert bergen_portal.shares == {7: 2 / 7, 30: 25 / 30}
    assert bergen_portal.last_latency == 75.0
    assert view.routes[0].shares == {7: None, 30: None}
    assert view.routes[0].last_latency is None
    assert view.judged == {7: 14, 30: 60}
    assert view.median_latency == (75.0 + 900.0) / 2
    assert len(view.open_incidents) == 1
    assert len(view.past_incidents) == 1
    assert all(i.vendor == "nordlys" for i in view.open_incidents + view.past_incidents)


def test_the_municipality_view_shows_both_channels_timelines_deadlines_and_runbooks() -> None:
    ledger = broken_bergen()
    recent = {r.key: ledger.recent_canaries(r.channel, "4601", views.RECENT_CANARIES) for r in ROUTES[:2]}
    learned = {(Channel.PORTAL, "4601"): {Hop.REGISTERED: 120.0}}
    view = views.municipality_view(
        "4601",
        ROUTES,
        recent=recent,
        incidents=ledger.incidents(municipality="4601"),
        taken_at=NOW,
        deadlines=learned,
    )
    assert view is not None
    assert (view.name, view.county) == ("Bergen", "Vestland")
    altinn, portal = view.channels
    assert (altinn.route.channel, altinn.state, altinn.learned_deadline) == (
        Channel.ALTINN,
        RouteState.DELIVERING,
        {},
    )
    assert portal.state is RouteState.BROKEN
    assert portal.learned_deadline == {Hop.REGISTERED: 120.0}
    assert len(portal.canaries) == views.RECENT_CANARIES
    newest = portal.canaries[0]
    assert newest.verdict is Verdict.LOST
    assert newest.blamed_hop is Hop.REGISTERED
    assert [(mark.hop, mark.seconds) for mark in newest.hops] == [
        (Hop.ACCEPTED, 1.0),
        (Hop.FORWARDED, 4.0),
        (Hop.RECEIPTED, 30.0),
        (Hop.REGISTERED, None),
    ]
    assert [mark.owner for mark in newest.hops] == [Owner.KS, Owner.KS, Owner.VENDOR, Owner.VENDOR]
    (open_incident,) = portal.open_incidents
    (past,) = portal.past_incidents
    assert portal.runbooks == {
        open_incident.id: "KanariReceiptWithoutRecord",
        past.id: "KanariRouteLosingCanaries",
    }


def test_an_unconfigured_municipality_has_no_view() -> None:
    assert (
        views.municipality_view("9999", ROUTES, recent={}, incidents=[], taken_at=NOW, deadlines={}) is None
    )


def test_runbook_choice_by_hop_owner_and_paper_post() -> None:
    def on(route: Route, hop: Hop, owner: Owner) -> Incident:
        return incident(route, opened=NOW, start=NOW, end=None, hop=hop, owner=owner)

    assert views.runbook_alert(on(BERGEN_A, Hop.FETCHED, Owner.MUNICIPALITY)) == "KanariPublishedNeverFetched"
    assert views.runbook_alert(on(BERGEN_P, Hop.ACCEPTED, Owner.OPS)) == "KanariSendingFailing"
    assert views.runbook_alert(on(BERGEN_P, Hop.FORWARDED, Owner.KS)) == "KanariRouteLosingCanaries"
    assert views.runbook_alert(on(BERGEN_P, Hop.RECEIPTED, Owner.VENDOR), True) == "KanariFallbackToPaperPost"


def test_a_route_whose_newest_canary_went_to_paper_post_links_the_paper_post_runbook() -> None:
    rejected = record(
        BERGEN_P, 1, NOW, Verdict.FAILED, hops={Hop.ACCEPTED: 1.0, Hop.FORWARDED: 2.0}, blamed=Hop.RECEIPTED
    )
    broken = incident(BERGEN_P, opened=NOW, start=NOW - 900, end=None, hop=Hop.RECEIPTED, owner=Owner.VENDOR)
    view = views.municipality_view(
        "4601", ROUTES, recent={BERGEN_P.key: [rejected]}, incidents=[broken], taken_at=NOW, deadlines={}
    )
    assert view is not None
    assert view.channels[1].runbooks == {broken.id: "KanariFallbackToPaperPost"}
