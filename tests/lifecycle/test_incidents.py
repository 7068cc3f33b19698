from __future__ import annotations

import itertools

import pytest

from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle.incidents import (
    RouteIncidents,
    TrackedIncident,
    incident_id,
    judged,
    pruned,
    sent,
)
from probe.lifecycle.record import CanaryRecord, State

RETENTION = 30 * 86400.0


def canary(
    name: str,
    sent_at: float,
    verdict: Verdict,
    judged_at: float | None = None,
    *,
    hop: Hop | None = Hop.REGISTERED,
    owner: Owner | None = Owner.VENDOR,
) -> CanaryRecord:
    breaking = verdict in (Verdict.LOST, Verdict.FAILED)
    return CanaryRecord(
        id=name,
        channel=Channel.PORTAL,
        municipality="4601",
        vendor="fjordsys",
        bydel=None,
        final_hop=Hop.REGISTERED,
        created_at=sent_at,
        deadline_at=sent_at + 900,
        marker="KANARI1.x.y",
        state=State.RESOLVED,
        verdict=verdict,
        verdict_at=judged_at if judged_at is not None else sent_at + 60,
        blamed_hop=hop if breaking else None,
        blamed_owner=owner if breaking else None,
    )


def run(
    *records: CanaryRecord, state: RouteIncidents | None = None
) -> tuple[RouteIncidents, list[TrackedIncident]]:
    """Apply verdicts in the given order; every incident by id, as last changed."""
    state = state or RouteIncidents()
    seen: dict[str, TrackedIncident] = {}
    for record in records:
        change = judged(state, record, RETENTION)
        state = change.state
        for tracked in change.changed:
            seen[tracked.incident.id] = tracked
    return state, list(seen.values())


def test_a_lost_canary_opens_an_incident_from_the_last_delivered_send() -> None:
    _, [tracked] = run(canary("a", 100, Verdict.DELIVERED), canary("b", 400, Verdict.LOST, 1300))
    incident = tracked.incident
    assert incident.open
    assert incident.id == incident_id("b") != "b"
    assert (incident.hop, incident.owner, incident.first_canary) == (Hop.REGISTERED, Owner.VENDOR, "b")
    assert (incident.opened_at, incident.exposure_start, incident.exposure_end) == (1300, 100, None)
    assert incident.retained_until == 100 + RETENTION
    assert incident.canaries == 1


def test_more_losses_count_and_the_next_delivered_closes_it() -> None:
    _, [tracked] = run(
        canary("a", 100, Verdict.DELIVERED),
        canary("b", 400, Verdict.LOST, 1300),
        canary("c", 700, Verdict.FAILED, 800, hop=Hop.RECEIPTED),
        canary("d", 1000, Verdict.DELIVERED, 1100),
    )
    incident = tracked.incident
    assert not incident.open
    assert (incident.exposure_start, incident.exposure_end, incident.closed_at) == (100, 1000, 1100)
    assert incident.canaries == 2
    assert incident.hop is Hop.REGISTERED  # the first canary's blame


def test_unknown_neither_opens_nor_closes() -> None:
    state, incidents = run(canary("a", 100, Verdict.UNKNOWN), canary("b", 400, Verdict.LOST))
    [tracked] = incidents
    state, again = run(canary("c", 700, Verdict.UNKNOWN), state=state)
    assert again == []
    assert state.last == tracked


def test_nothing_ever_delivered_starts_the_window_at_the_routes_first_canary() -> None:
    state = sent(RouteIncidents(), 50)
    _, [tracked] = run(canary("a", 100, Verdict.UNKNOWN), canary("b", 400, Verdict.LOST), state=state)
    assert tracked.incident.exposure_start == 50
    _, [first] = run(canary("b", 400, Verdict.LOST))
    assert first.incident.exposure_start == 400  # the lost canary is the route's first


def test_a_delivered_canary_sent_before_the_break_but_judged_after_it_does_not_close_it() -> None:
    # a delivered (sent 100); c sent 200 is slow; b sent 300 fails at once; c is delivered after b failed.
    _, [tracked] = run(
        canary("a", 100, Verdict.DELIVERED, 150),
        canary("b", 300, Verdict.FAILED, 320),
        canary("c", 200, Verdict.DELIVERED, 400),
    )
    incident = tracked.incident
    assert incident.open
    # c is now the last canary delivered before the break: the window starts at its send.
    assert (incident.exposure_start, incident.retained_until) == (200, 200 + RETENTION)
    assert incident.canaries == 1


def test_a_break_judged_after_the_route_recovered_is_closed_at_once() -> None:
    # The common order: canaries sent after the fault ended are delivered before the lost ones' deadline.
    _, [tracked] = run(
        canary("a", 100, Verdict.DELIVERED, 150),
        canary("e", 1000, Verdict.DELIVERED, 1050),
        canary("f", 1300, Verdict.DELIVERED, 1350),
        canary("b", 400, Verdict.LOST, 1300),
        canary("c", 700, Verdict.LOST, 1600),  # inside the closed window: the same incident
    )
    incident = tracked.incident
    assert (incident.exposure_start, incident.exposure_end) == (100, 1000)
    assert (incident.opened_at, incident.closed_at, incident.canaries) == (1300, 1300, 2)


def test_a_delivered_canary_between_failures_does_not_close_the_incident() -> None:
    _, [tracked] = run(
        canary("a", 100, Verdict.DELIVERED),
        canary("b", 400, Verdict.LOST, 1300),
        canary("c", 900, Verdict.LOST, 1800),
        canary("m", 600, Verdict.DELIVERED, 1900),  # between two failures: the route flaps
    )
    assert tracked.incident.open
    assert (tracked.failed_from, tracked.failed_until) == (400, 900)


def test_a_closed_window_narrows_to_the_first_delivered_after_the_break() -> None:
    _, [tracked] = run(
        canary("a", 100, Verdict.DELIVERED),
        canary("b", 400, Verdict.FAILED, 410),
        canary("e", 1000, Verdict.DELIVERED, 1010),
        canary("d", 700, Verdict.DELIVERED, 1500),  # sent earlier than e, judged later
    )
    assert (tracked.incident.exposure_end, tracked.incident.closed_at) == (700, 1010)


def test_a_break_after_a_closed_incident_opens_a_new_one() -> None:
    state, incidents = run(
        canary("a", 100, Verdict.DELIVERED),
        canary("b", 400, Verdict.FAILED, 410),
        canary("e", 1000, Verdict.DELIVERED, 1010),
        canary("g", 1600, Verdict.FAILED, 1610),
    )
    assert [t.incident.first_canary for t in incidents] == ["b", "g"]
    assert incidents[1].incident.exposure_start == 1000
    assert state.last == incidents[1]


def test_a_break_older_than_the_newest_incident_is_its_own_and_stays_behind() -> None:
    state, incidents = run(
        canary("a", 100, Verdict.DELIVERED),
        canary("c", 300, Verdict.DELIVERED),
        canary("e", 700, Verdict.FAILED, 710),
        canary("f", 900, Verdict.DELIVERED, 950),
        canary("b", 200, Verdict.LOST, 1200),  # before c, which was delivered: a break of its own
    )
    old = next(t for t in incidents if t.incident.first_canary == "b").incident
    assert (old.exposure_start, old.exposure_end, old.closed_at) == (100, 300, 1200)
    assert state.last is not None
    assert state.last.incident.first_canary == "e"


def test_a_failure_sent_before_an_open_windows_start_widens_it() -> None:
    _, [tracked] = run(
        canary("a", 100, Verdict.DELIVERED),
        canary("c", 300, Verdict.DELIVERED),
        canary("d", 400, Verdict.FAILED, 410),
        canary("b", 200, Verdict.LOST, 1200),
    )
    assert tracked.incident.open
    assert (tracked.incident.exposure_start, tracked.incident.canaries) == (100, 2)
    assert tracked.failed_from == 200


def test_blame_falls_back_to_the_final_hops_owner() -> None:
    _, [tracked] = run(canary("b", 400, Verdict.LOST, hop=None, owner=None))
    assert (tracked.incident.hop, tracked.incident.owner) == (Hop.REGISTERED, Owner.VENDOR)


VERDICTS = [
    canary("a", 100, Verdict.DELIVERED, 1400),
    canary("b", 400, Verdict.LOST, 1400),
    canary("c", 700, Verdict.FAILED, 1400),
    canary("d", 1000, Verdict.DELIVERED, 1400),
    canary("u", 850, Verdict.UNKNOWN, 1400),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(VERDICTS)))))
def test_verdicts_given_at_the_same_time_give_the_same_incident_in_any_order(order: tuple[int, ...]) -> None:
    _, [tracked] = run(*(VERDICTS[index] for index in order))
    incident = tracked.incident
    assert (incident.exposure_start, incident.exposure_end, incident.canaries) == (100, 1000, 2)
    assert incident.closed_at == 1400


def test_pruning_keeps_what_a_later_verdict_can_need() -> None:
    state = RouteIncidents(delivered=(100.0, 200.0, 300.0, 400.0))
    assert pruned(state, 250).delivered == (200, 300, 400)
    assert pruned(state, 200).delivered == (100, 200, 300, 400)
    assert pruned(state, 50).delivered == (100, 200, 300, 400)
    assert pruned(state, None).delivered == (400,)
    assert pruned(RouteIncidents(), None) == RouteIncidents()
