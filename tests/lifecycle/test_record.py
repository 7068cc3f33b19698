"""The canary's lifecycle: each transition moves the record where :data:`TRANSITIONS` allows and nowhere
else, and the counters a record contributes to only grow along the way."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle import record as lifecycle
from probe.lifecycle.counters import (
    DUPLICATES,
    LATE_ARRIVALS,
    REJECTIONS,
    RESOLVED,
    SEND_FAILURES,
    SENT,
    UNDELIVERED,
    counter_keys,
)
from probe.lifecycle.record import TRANSITIONS, UNRESOLVED, Decision, State, TransitionError
from tests.engine.kit import START, record, route, uuid_of

LOST_AT_REGISTERED = Decision(Verdict.LOST, Hop.REGISTERED, Owner.VENDOR)


def test_the_lifecycle_runs_one_way_and_ends_closed() -> None:
    assert TRANSITIONS[State.INTENT] == {State.IN_FLIGHT, State.RESOLVED}
    assert TRANSITIONS[State.IN_FLIGHT] == {State.RESOLVED}
    assert TRANSITIONS[State.RESOLVED] == {State.CLOSED}
    assert TRANSITIONS[State.CLOSED] == set()
    assert {State.INTENT, State.IN_FLIGHT} == UNRESOLVED
    # Every state is reachable from intent and can reach closed.
    reachable = {State.INTENT}
    for _ in State:
        reachable |= {target for state in reachable for target in TRANSITIONS[state]}
    assert reachable == set(State)


def test_accept_puts_an_intent_in_flight_with_its_accepted_hop() -> None:
    canary = record(state=State.INTENT, upstream_id=None)
    assert lifecycle.accept(canary, "ks-1", START + 2, "v2") == START + 2
    assert canary.state is State.IN_FLIGHT
    assert (canary.upstream_id, canary.api_version) == ("ks-1", "v2")
    assert canary.hops == {Hop.ACCEPTED: START + 2}
    assert not canary.resolved


def test_an_unanswered_send_is_followed_never_resent() -> None:
    findable = record(route(Channel.ALTINN), state=State.INTENT, upstream_id=None)
    lifecycle.unanswered(findable, findable=True)
    assert (findable.state, findable.unconfirmed) == (State.IN_FLIGHT, False)
    portal = record(state=State.INTENT, upstream_id=None)
    lifecycle.unanswered(portal, findable=False)
    assert (portal.state, portal.unconfirmed) == (State.IN_FLIGHT, True)


def test_a_refusal_keeps_the_reason_and_the_upstreams_words() -> None:
    canary = record(state=State.INTENT, upstream_id=None)
    lifecycle.refused(canary, "http_5xx", "KS: Service Unavailable (errorId e-1)")
    lifecycle.refused(canary, "http_5xx", "KS: Service Unavailable (errorId e-1)")
    assert canary.failure_reason == "http_5xx"
    assert canary.diagnostics == "KS: Service Unavailable (errorId e-1)"
    assert canary.state is State.INTENT  # a refusal alone decides nothing; resolve does


def test_found_gives_a_looked_up_canary_its_id_and_accepted_hop() -> None:
    canary = record(route(Channel.ALTINN), upstream_id=None, hops={})
    lifecycle.found(canary, "altinn-7")
    assert canary.upstream_id == "altinn-7"
    assert canary.hops == {Hop.ACCEPTED: canary.created_at}


def test_looks_status_and_notes_are_evidence() -> None:
    canary = record()
    lifecycle.looked(canary, "status", START + 10)
    lifecycle.looked(canary, "readback", START + 11)
    lifecycle.status_seen(canary, "SENDT_FAGSYSTEM")
    lifecycle.status_seen(canary, "")
    lifecycle.note(canary, None)
    lifecycle.note(canary, "first")
    lifecycle.note(canary, "second")
    assert (canary.status_ok_at, canary.readback_ok_at) == (START + 10, START + 11)
    assert canary.last_status == "SENDT_FAGSYSTEM"  # an empty status keeps the last one seen
    assert canary.diagnostics is not None
    assert "first" in canary.diagnostics
    assert "second" in canary.diagnostics


def test_a_hop_is_reached_once_at_its_first_time() -> None:
    canary = record()
    assert lifecycle.reach(canary, Hop.FORWARDED, START + 5)
    assert not lifecycle.reach(canary, Hop.FORWARDED, START + 50)
    assert canary.hops[Hop.FORWARDED] == START + 5


def test_resolve_gives_the_verdict_and_logs_what_is_not_delivered(caplog: pytest.LogCaptureFixture) -> None:
    canary = record()
    lifecycle.note(canary, "vendor said nothing")
    with caplog.at_level(logging.WARNING, logger="kanari.verdict"):
        lifecycle.resolve(canary, LOST_AT_REGISTERED, START + 400)
    assert canary.state is State.RESOLVED
    assert canary.resolved
    assert (canary.verdict, canary.verdict_at) == (Verdict.LOST, START + 400)
    assert (canary.blamed_hop, canary.blamed_owner) == (Hop.REGISTERED, Owner.VENDOR)
    assert canary.late_at is None
    [line] = caplog.messages
    assert "verdict lost" in line
    assert "hop=registered owner=vendor" in line
    assert "vendor said nothing" in line


def test_a_delivered_verdict_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    canary = record()
    with caplog.at_level(logging.WARNING, logger="kanari.verdict"):
        lifecycle.resolve(canary, Decision(Verdict.DELIVERED), START + 60)
    assert caplog.messages == []


def test_a_late_decision_marks_the_arrival_late_once() -> None:
    canary = record()
    lifecycle.resolve(canary, Decision(Verdict.LOST, Hop.REGISTERED, Owner.VENDOR, late=True), START + 400)
    assert canary.late_at == START + 400
    lifecycle.arrive_late(canary, START + 900)
    assert canary.late_at == START + 400


def test_clean_and_close() -> None:
    canary = record()
    lifecycle.resolve(canary, Decision(Verdict.DELIVERED), START + 60)
    lifecycle.clean(canary, START + 70)
    lifecycle.close(canary)
    assert (canary.cleaned_at, canary.state) == (START + 70, State.CLOSED)


@pytest.mark.parametrize(
    ("state", "move"),
    [
        (State.IN_FLIGHT, "accept"),
        (State.RESOLVED, "accept"),
        (State.CLOSED, "unanswered"),
        (State.INTENT, "close"),
        (State.IN_FLIGHT, "close"),
        (State.RESOLVED, "resolve"),
        (State.CLOSED, "resolve"),
        (State.CLOSED, "close"),
    ],
)
def test_a_move_the_lifecycle_does_not_allow_is_refused_and_changes_nothing(state: State, move: str) -> None:
    canary = record(state=state)
    before = (canary.state, canary.upstream_id, dict(canary.hops), canary.verdict)
    moves: dict[str, Callable[[], object]] = {
        "accept": lambda: lifecycle.accept(canary, "other", START + 3, None),
        "unanswered": lambda: lifecycle.unanswered(canary, findable=False),
        "close": lambda: lifecycle.close(canary),
        "resolve": lambda: lifecycle.resolve(canary, LOST_AT_REGISTERED, START + 400),
    }
    with pytest.raises(TransitionError, match=f"canary {uuid_of(1)}: {state.value} cannot become"):
        moves[move]()
    assert (canary.state, canary.upstream_id, dict(canary.hops), canary.verdict) == before


def test_counter_keys_follow_the_record_and_only_grow() -> None:
    canary = record(state=State.INTENT, upstream_id=None)
    assert counter_keys(canary) == set()
    lifecycle.accept(canary, "ks-1", START + 1, None)
    seen = counter_keys(canary)
    assert seen == {(SENT, ())}
    lifecycle.mark_duplicate(canary)
    lifecycle.resolve(canary, Decision(Verdict.LOST, Hop.REGISTERED, Owner.VENDOR, late=True), START + 400)
    assert counter_keys(canary) == {
        (SENT, ()),
        (RESOLVED, ("lost",)),
        (UNDELIVERED, ("registered", "vendor")),
        (LATE_ARRIVALS, ()),
        (DUPLICATES, ()),
    }
    assert seen <= counter_keys(canary)
    lifecycle.close(canary)
    assert (SENT, ()) in counter_keys(canary)


def test_a_refused_send_counts_its_reason_and_an_upstream_rejection_counts_as_one() -> None:
    refused = record(state=State.INTENT, upstream_id=None)
    lifecycle.refused(refused, "http_5xx", None)
    lifecycle.resolve(refused, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.KS), START + 1)
    # A refused send was still sent: kanari_canaries_sent_total counts attempts.
    assert counter_keys(refused) == {
        (SENT, ()),
        (SEND_FAILURES, ("http_5xx",)),
        (RESOLVED, ("failed",)),
        (UNDELIVERED, ("accepted", "ks")),
    }
    rejected = record()
    lifecycle.resolve(rejected, Decision(Verdict.FAILED, Hop.RECEIPTED, Owner.VENDOR), START + 100)
    assert (REJECTIONS, ()) in counter_keys(rejected)
