from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from probe.errors import Reason
from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle.record import CanaryRecord, Decision, State
from probe.lifecycle.verdict import (
    arrived_late,
    decide,
    delivered_at,
    due_at,
    failed,
    judged_at,
    needed_hops,
    send_refused,
)

T0 = 1_000_000.0
DEADLINE = 900.0
GRACE = 120.0


def record(
    channel: Channel = Channel.PORTAL,
    final_hop: Hop = Hop.REGISTERED,
    hops: Mapping[Hop, float] | None = None,
    **fields: Any,
) -> CanaryRecord:
    base = CanaryRecord(
        id="c1",
        channel=channel,
        municipality="4601",
        vendor="fjordsys",
        bydel=None,
        final_hop=final_hop,
        created_at=T0,
        deadline_at=T0 + DEADLINE,
        marker="KANARI1.x.y",
        state=State.IN_FLIGHT,
        upstream_id="u1",
    )
    base.hops = dict(hops or {})
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def test_needed_hops_follow_the_final_hop() -> None:
    assert needed_hops(record()) == (Hop.ACCEPTED, Hop.FORWARDED, Hop.RECEIPTED, Hop.REGISTERED)
    assert needed_hops(record(final_hop=Hop.RECEIPTED)) == (Hop.ACCEPTED, Hop.FORWARDED, Hop.RECEIPTED)
    assert needed_hops(record(Channel.ALTINN, Hop.FETCHED)) == (Hop.ACCEPTED, Hop.PUBLISHED, Hop.FETCHED)
    # Altinn mail imported into a fagsystem is registered without anyone reading it, and an import with a
    # write-scoped token never sets Fetched.
    assert Hop.READ not in needed_hops(record(Channel.ALTINN, Hop.REGISTERED))
    assert needed_hops(record(Channel.ALTINN, Hop.REGISTERED)) == (
        Hop.ACCEPTED,
        Hop.PUBLISHED,
        Hop.REGISTERED,
    )
    assert needed_hops(record(unconfirmed=True)) == (Hop.REGISTERED,)
    assert needed_hops(record(final_hop=Hop.RECEIPTED, unconfirmed=True)) == ()


ALL = {Hop.ACCEPTED: T0 + 1, Hop.FORWARDED: T0 + 3, Hop.RECEIPTED: T0 + 30, Hop.REGISTERED: T0 + 25}


def test_delivered_before_the_deadline_even_if_registered_before_the_receipt() -> None:
    canary = record(hops=ALL)
    assert delivered_at(canary) == T0 + 30
    assert decide(canary, T0 + 31, GRACE) == Decision(Verdict.DELIVERED)


def test_open_until_the_deadline() -> None:
    canary = record(hops={Hop.ACCEPTED: T0 + 1}, status_ok_at=T0 + DEADLINE - 1)
    assert decide(canary, T0 + DEADLINE - 0.001, GRACE) is None


def test_lost_needs_a_successful_look_after_the_deadline() -> None:
    canary = record(hops={Hop.ACCEPTED: T0 + 1, Hop.FORWARDED: T0 + 2}, status_ok_at=T0 + DEADLINE - 5)
    # The last look was before the deadline: the receipt might have come in between. Wait.
    assert decide(canary, T0 + DEADLINE + 1, GRACE) is None
    canary.status_ok_at = T0 + DEADLINE
    assert decide(canary, T0 + DEADLINE + 1, GRACE) == Decision(Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR)


def test_receipt_without_record_blames_registered_on_the_vendor() -> None:
    hops: dict[Hop, float] = {hop: at for hop, at in ALL.items() if hop is not Hop.REGISTERED}
    canary = record(hops=hops, status_ok_at=T0 + 40, readback_ok_at=T0 + DEADLINE + 2)
    assert decide(canary, T0 + DEADLINE + 2, GRACE) == Decision(Verdict.LOST, Hop.REGISTERED, Owner.VENDOR)


def test_blind_read_back_gives_unknown_after_the_grace_never_lost() -> None:
    hops: dict[Hop, float] = {hop: at for hop, at in ALL.items() if hop is not Hop.REGISTERED}
    canary = record(hops=hops, status_ok_at=T0 + 40, readback_ok_at=T0 + 10)
    assert decide(canary, T0 + DEADLINE + GRACE - 1, GRACE) is None
    assert decide(canary, T0 + DEADLINE + GRACE, GRACE) == Decision(Verdict.UNKNOWN)


def test_blind_status_gives_unknown() -> None:
    canary = record(hops={Hop.ACCEPTED: T0 + 1}, status_ok_at=None)
    assert decide(canary, T0 + DEADLINE + GRACE, GRACE) == Decision(Verdict.UNKNOWN)


def test_late_arrival_is_lost_and_late() -> None:
    late = dict(ALL)
    late[Hop.RECEIPTED] = T0 + DEADLINE + 50
    canary = record(hops=late, status_ok_at=T0 + DEADLINE + 60, readback_ok_at=T0 + DEADLINE + 60)
    assert decide(canary, T0 + DEADLINE + 60, GRACE) == Decision(
        Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR, late=True
    )


def test_altinn_never_fetched_blames_the_municipality() -> None:
    canary = record(
        Channel.ALTINN,
        Hop.FETCHED,
        hops={Hop.ACCEPTED: T0, Hop.PUBLISHED: T0 + 5},
        status_ok_at=T0 + DEADLINE,
    )
    assert decide(canary, T0 + DEADLINE, GRACE) == Decision(Verdict.LOST, Hop.FETCHED, Owner.MUNICIPALITY)


@pytest.mark.parametrize(
    ("channel", "hops", "expected"),
    [
        (
            Channel.PORTAL,
            {Hop.ACCEPTED: T0, Hop.FORWARDED: T0 + 1},
            Decision(Verdict.FAILED, Hop.RECEIPTED, Owner.VENDOR),
        ),
        (Channel.PORTAL, {Hop.ACCEPTED: T0}, Decision(Verdict.FAILED, Hop.FORWARDED, Owner.VENDOR)),
        (Channel.ALTINN, {Hop.ACCEPTED: T0}, Decision(Verdict.FAILED, Hop.PUBLISHED, Owner.DIGDIR)),
    ],
)
def test_failed_blames_the_first_missing_hop_and_the_channel_failure_owner(
    channel: Channel, hops: dict[Hop, float], expected: Decision
) -> None:
    final = Hop.RECEIPTED if channel is Channel.PORTAL else Hop.FETCHED
    assert failed(record(channel, final, hops=hops)) == expected


def test_unconfirmed_portal_send_is_never_lost() -> None:
    canary = record(unconfirmed=True, upstream_id=None, readback_ok_at=T0 + DEADLINE + 1)
    assert decide(canary, T0 + 10, GRACE) is None
    assert decide(canary, T0 + DEADLINE + 1, GRACE) == Decision(Verdict.UNKNOWN)
    canary.hops[Hop.REGISTERED] = T0 + 20
    assert decide(canary, T0 + 21, GRACE) == Decision(Verdict.DELIVERED)


def test_unconfirmed_without_read_back_is_unknown_at_once() -> None:
    canary = record(final_hop=Hop.RECEIPTED, unconfirmed=True, upstream_id=None)
    assert decide(canary, T0 + 1, GRACE) == Decision(Verdict.UNKNOWN)


@pytest.mark.parametrize(
    ("channel", "reason", "expected"),
    [
        (Channel.PORTAL, Reason.AUTH, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.OPS)),
        (Channel.ALTINN, Reason.HTTP_4XX, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.OPS)),
        (Channel.PORTAL, Reason.HTTP_5XX, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.KS)),
        (Channel.ALTINN, Reason.CONNECT, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.DIGDIR)),
        (Channel.PORTAL, Reason.TLS, Decision(Verdict.FAILED, Hop.ACCEPTED, Owner.KS)),
        (Channel.PORTAL, Reason.RATE_LIMITED, Decision(Verdict.UNKNOWN)),
        (Channel.ALTINN, Reason.RATE_LIMITED, Decision(Verdict.UNKNOWN)),
    ],
)
def test_a_refused_send_is_blamed_by_its_reason(channel: Channel, reason: Reason, expected: Decision) -> None:
    assert send_refused(channel, reason) == expected


# ---- a deadline per hop (learned bounds, office time) ---------------------------------------------------

PER_HOP = {Hop.ACCEPTED: T0 + 30, Hop.FORWARDED: T0 + 60, Hop.RECEIPTED: T0 + 300, Hop.REGISTERED: T0 + 600}


def test_a_canary_stuck_before_a_hop_is_judged_when_that_hop_is_due() -> None:
    stuck = record(hops={Hop.ACCEPTED: T0}, due=dict(PER_HOP), deadline_at=T0 + 600)
    assert judged_at(stuck) == T0 + 60
    assert decide(stuck, T0 + 59, GRACE) is None
    stuck.status_ok_at = T0 + 60
    assert decide(stuck, T0 + 60, GRACE) == Decision(Verdict.LOST, Hop.FORWARDED, Owner.KS)


def test_the_next_hops_deadline_is_followed_once_a_hop_is_there() -> None:
    moving = record(hops={Hop.ACCEPTED: T0, Hop.FORWARDED: T0 + 10}, due=dict(PER_HOP), status_ok_at=T0 + 200)
    assert judged_at(moving) == T0 + 300
    assert decide(moving, T0 + 200, GRACE) is None


def test_a_hop_late_against_its_own_bound_but_caught_up_in_time_is_delivered() -> None:
    caught_up = record(
        hops={Hop.ACCEPTED: T0, Hop.FORWARDED: T0 + 90, Hop.RECEIPTED: T0 + 100, Hop.REGISTERED: T0 + 120},
        due=dict(PER_HOP),
    )
    assert decide(caught_up, T0 + 130, GRACE) == Decision(Verdict.DELIVERED)
    assert not arrived_late(caught_up)


def test_arriving_after_the_final_hop_was_due_is_late_blamed_on_the_first_late_hop() -> None:
    late = record(
        hops={Hop.ACCEPTED: T0, Hop.FORWARDED: T0 + 10, Hop.RECEIPTED: T0 + 400, Hop.REGISTERED: T0 + 700},
        due=dict(PER_HOP),
        status_ok_at=T0 + 700,
        readback_ok_at=T0 + 700,
    )
    assert arrived_late(late)
    assert decide(late, T0 + 700, GRACE) == Decision(Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR, late=True)


def test_blindness_counts_from_the_hop_that_was_due() -> None:
    blind = record(hops={Hop.ACCEPTED: T0}, due=dict(PER_HOP))
    assert decide(blind, T0 + 60 + GRACE - 1, GRACE) is None
    assert decide(blind, T0 + 60 + GRACE, GRACE) == Decision(Verdict.UNKNOWN)


def test_a_canary_of_an_older_ledger_has_every_hop_due_at_its_deadline() -> None:
    old = record(hops={Hop.ACCEPTED: T0})
    assert old.due == {}
    assert due_at(old, Hop.FORWARDED) == old.deadline_at == judged_at(old)
