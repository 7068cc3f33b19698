"""Learned deadlines in the engine: each canary sent with its route's bounds, the route learning from each
delivered one, a stuck canary judged at its learned bound instead of the configured deadline, the bounds
shown as metrics and learned again after a restart; and the overdue warning before the verdict."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from probe.channels.base import Observation
from probe.config.routes import Learning
from probe.engine.deadlines import learned_from_ledger
from probe.hops import Hop, Owner, Verdict
from tests.engine.kit import FakeReadback, Probe, portal_adapter, probe, route

pytestmark = pytest.mark.anyio

LEARNING = Learning(quantile=1.0, margin=1.5, samples=50, min_samples=3, minimum=10.0)
# Final hop receipted (no read-back), configured deadline 300 s, polled every 15 s.
LEARNER = dataclasses.replace(route(final_hop=Hop.RECEIPTED), learning=LEARNING)
TIMING = {"channel": "portal", "municipality": "4601"}
LABELS = {**TIMING, "vendor": "nordlys"}


async def deliver(running: Probe, receipted_after: float) -> None:
    """Send one canary now and let it be receipted ``receipted_after`` seconds later."""
    sent = running.clock.now()
    adapter = running.adapters[LEARNER.channel]
    adapter.check_answer = Observation(
        {Hop.FORWARDED: sent + 2, Hop.RECEIPTED: sent + receipted_after}, None, "LEVERT"
    )
    canary = running.engine.send_now(LEARNER)
    await running.until(lambda: canary.verdict is not None, last=sent + 400)
    assert canary.verdict is Verdict.DELIVERED


def bound(running: Probe, hop: Hop) -> float:
    return running.value("kanari_route_deadline_seconds", **TIMING, hop=hop.value)


async def test_a_stuck_canary_is_lost_at_its_learned_bound_and_overdue_before(tmp_path: Path) -> None:
    async with probe(tmp_path, FakeReadback(), routes=(LEARNER,), portal=portal_adapter()) as running:
        running.engine.start(schedule=False)
        assert bound(running, Hop.RECEIPTED) == 300  # cold: the configured deadline
        for latency in (6.0, 10.0, 8.0):
            await deliver(running, latency)
        assert bound(running, Hop.RECEIPTED) == 15  # the slowest of the three, 10 s, times 1.5
        assert bound(running, Hop.FORWARDED) == 10  # 2 s times 1.5 is below the minimum

        sent = running.clock.now()
        running.adapters[LEARNER.channel].check_answer = Observation({Hop.FORWARDED: sent + 2}, None, "SENDT")
        canary = running.engine.send_now(LEARNER)
        assert canary.due[Hop.RECEIPTED] == sent + 15
        waiting_for_ks = {**LABELS, "hop": "forwarded", "owner": "ks"}
        overdue = {**LABELS, "hop": "receipted", "owner": "vendor"}
        # A check at the usual 2 s to forwarded finds the canary there: never overdue at KS's hop. The
        # check at the usual 10 s to receipted does not: overdue at the vendor's hop from its answer on.
        ks_overdue: list[float] = []

        def overdue_at_vendor() -> bool:
            ks_overdue.append(running.value("kanari_overdue", **waiting_for_ks))
            return running.value("kanari_overdue", **overdue) == 1

        await running.until(overdue_at_vendor, last=sent + 15)
        assert running.clock.now() == sent + 11
        assert set(ks_overdue) == {0}
        # Judged at the 15 s bound (a check then, its answer applied a tick later), long before the
        # configured 300 s.
        judged = await running.until(lambda: canary.verdict is not None, last=sent + 60)
        assert judged == sent + 16
        assert (canary.verdict, canary.blamed_hop, canary.blamed_owner) == (
            Verdict.LOST,
            Hop.RECEIPTED,
            Owner.VENDOR,
        )
        assert running.value("kanari_overdue", **overdue) == 0


async def test_a_restart_learns_again_from_the_ledger(tmp_path: Path) -> None:
    async with probe(tmp_path, FakeReadback(), routes=(LEARNER,), portal=portal_adapter()) as running:
        running.engine.start(schedule=False)
        for latency in (6.0, 10.0, 8.0):
            await deliver(running, latency)
        assert bound(running, Hop.RECEIPTED) == 15
        # What ``kanari status`` works out from the ledger alone is what the engine learned.
        learned = running.engine.deadlines.learned()
        assert learned[LEARNER.key][Hop.RECEIPTED] == 15
        assert learned_from_ledger((LEARNER,), running.engine.ledger) == learned
        stopped_at = running.clock.now()
    async with probe(tmp_path, FakeReadback(), routes=(LEARNER,), portal=portal_adapter()) as restarted:
        restarted.clock.set(stopped_at + 60)
        restarted.engine.start(schedule=False)
        assert bound(restarted, Hop.RECEIPTED) == 15
        canary = restarted.engine.send_now(LEARNER)
        assert canary.due[Hop.RECEIPTED] == restarted.clock.now() + 15


async def test_a_route_without_learning_keeps_the_configured_deadline(tmp_path: Path) -> None:
    fixed = dataclasses.replace(LEARNER, learning=None)
    async with probe(tmp_path, FakeReadback(), routes=(fixed,), portal=portal_adapter()) as running:
        running.engine.start(schedule=False)
        for latency in (6.0, 10.0, 8.0, 7.0):
            await deliver(running, latency)
        assert bound(running, Hop.RECEIPTED) == 300
        canary = running.engine.send_now(fixed)
        assert set(canary.due.values()) == {running.clock.now() + 300}
        assert running.value("kanari_route_silence_limit_seconds", **TIMING) == 300 + 2 * fixed.interval


async def test_a_late_canary_waits_longer_while_its_party_is_slow_and_is_lost_at_the_longer_bound(
    tmp_path: Path,
) -> None:
    async with probe(tmp_path, FakeReadback(), routes=(LEARNER,), portal=portal_adapter()) as running:
        running.engine.start(schedule=False)
        for latency in (6.0, 10.0, 8.0):
            await deliver(running, latency)
        # A slow day: each delivered canary 1.75, 2.5 and 2.5 times the route's median to receipted
        # (8, 8 and 10 s as it learns them), each just inside the bound it was sent with.
        adapter = running.adapters[LEARNER.channel]

        def stuck() -> float:
            sent = running.clock.now()
            adapter.check_answer = Observation({Hop.FORWARDED: sent + 2}, None, "SENDT")
            return sent

        async def receipted_at(sent: float, latency: float) -> None:
            await running.until(lambda: running.clock.now() >= sent + latency, last=sent + latency)
            adapter.check_answer = Observation(
                {Hop.FORWARDED: sent + 2, Hop.RECEIPTED: sent + latency}, None, "LEVERT"
            )

        for latency in (14.0, 20.0, 25.0):
            sent = stuck()
            slow = running.engine.send_now(LEARNER)
            await receipted_at(sent, latency)
            await running.until(lambda: slow.verdict is not None, last=sent + 300)  # noqa: B023
            assert slow.verdict is Verdict.DELIVERED
        assert bound(running, Hop.RECEIPTED) == 37.5  # 25 s times 1.5

        # Past its 37.5 s bound the canary is not lost: the hop is 2.5 times slower than usual today,
        # so it is due at 37.5 x 2.5 = 93.75 s, and arriving at 60 s it is delivered.
        sent = stuck()
        canary = running.engine.send_now(LEARNER)
        assert canary.due[Hop.RECEIPTED] == sent + 37.5
        await running.until(lambda: canary.due[Hop.RECEIPTED] > sent + 37.5, last=sent + 45)
        assert canary.due[Hop.RECEIPTED] == sent + 93.75
        assert canary.deadline_at == sent + 93.75
        await receipted_at(sent, 60.0)
        assert canary.verdict is None
        slowdown = {"channel": "portal", "hop": "receipted", "vendor": LABELS["vendor"]}
        assert running.value("kanari_slowdown_ratio", **slowdown) == 2.5
        assert running.value("kanari_slowdown_ratio", **slowdown | {"hop": "forwarded"}) == 1.0
        await running.until(lambda: canary.verdict is not None, last=sent + 100)
        assert canary.verdict is Verdict.DELIVERED

        # One that never arrives is lost at its stretched bound (the route learned 60 s meanwhile:
        # 90 s, stretched), before the configured 300 s.
        plain = bound(running, Hop.RECEIPTED)
        assert plain == 90
        sent = stuck()
        lost = running.engine.send_now(LEARNER)
        judged = await running.until(lambda: lost.verdict is not None, last=sent + 300)
        assert (lost.verdict, lost.blamed_hop) == (Verdict.LOST, Hop.RECEIPTED)
        assert sent + plain < lost.due[Hop.RECEIPTED] <= judged < sent + 300
