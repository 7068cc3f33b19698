"""The engine assembled from its parts, on a real ledger, a fresh registry and a fake clock: one canary's
whole journey at exact instants, the judge's verdicts and closings, and what a start after a crash
resumes (counters, schedule, unanswered sends)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from probe.channels.base import Observation
from probe.engine.open_canaries import OpenCanaries
from probe.errors import Reason, UpstreamError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from probe.metrics.metric_set import Metrics
from tests.engine.kit import (
    ALTINN,
    LABELS,
    PORTAL,
    SETTINGS,
    START,
    FakeReadback,
    ScriptedAdapter,
    portal_adapter,
    probe,
    record,
)
from tests.ledger_view import all_records

pytestmark = pytest.mark.anyio


async def test_one_canary_from_schedule_to_closed(tmp_path: Path) -> None:
    api = FakeReadback()
    adapter = portal_adapter()
    async with probe(tmp_path, api, portal=adapter) as running:
        running.engine.start()
        sent_at = await running.until(lambda: bool(adapter.sent), last=START + 600)
        assert sent_at < START + 600  # the first send takes its place in the spread of one interval
        await running.at(sent_at + 1)
        canary = running.only()
        assert canary.state is State.IN_FLIGHT
        assert running.value("kanari_canaries_sent_total", **LABELS) == 1

        # KS forwards and the fagsystem receipts; the vendor's read-back then shows it registered.
        adapter.check_answer = Observation(
            {Hop.FORWARDED: sent_at + 2, Hop.RECEIPTED: sent_at + 20}, None, "LEVERT"
        )
        await running.until(lambda: Hop.RECEIPTED in canary.hops, last=sent_at + 60)
        api.register(canary, sent_at + 40)
        await running.until(lambda: canary.verdict is not None, last=sent_at + 300)
        assert canary.verdict is Verdict.DELIVERED
        assert canary.hops[Hop.REGISTERED] == sent_at + 40
        assert running.value("kanari_canaries_resolved_total", **LABELS, verdict="delivered") == 1

        # Removed at the vendor, then closed and out of the working set; the ledger keeps it.
        await running.until(lambda: not running.engine.canaries.records, last=sent_at + 400)
        assert api.deleted == [canary.id]
        [kept] = all_records(running.engine.ledger)
        assert (kept.state, kept.cleaned_at is not None) == (State.CLOSED, True)


async def test_a_canary_not_registered_by_its_deadline_is_lost_at_registered_after_a_successful_look(
    tmp_path: Path,
) -> None:
    api = FakeReadback()
    adapter = portal_adapter()
    adapter.check_answer = Observation({Hop.FORWARDED: START + 2, Hop.RECEIPTED: START + 3}, None, "LEVERT")
    async with probe(tmp_path, api, portal=adapter) as running:
        running.engine.start()
        canary = running.engine.send_now(PORTAL)
        judged = await running.until(lambda: canary.verdict is not None, last=START + 400)
        # Judged at the deadline: the read-back call was brought forward to it, looked, and what it saw is
        # applied at the next tick.
        assert judged == canary.deadline_at + 1
        assert (canary.verdict, canary.blamed_hop, canary.blamed_owner) == (
            Verdict.LOST,
            Hop.REGISTERED,
            Owner.VENDOR,
        )
        assert running.value("kanari_undelivered_total", **LABELS, hop="registered", owner="vendor") == 1

        # It turns up late: counted once, and the canary closes when its watch ends.
        api.register(canary, judged + 100)
        await running.until(lambda: canary.late_at is not None, last=judged + 400)
        assert running.value("kanari_late_arrivals_total", **LABELS) == 1


async def test_a_blind_read_back_gives_unknown_after_the_grace_never_lost(tmp_path: Path) -> None:
    api = FakeReadback()
    api.status = 503
    adapter = portal_adapter()
    adapter.check_answer = Observation({Hop.FORWARDED: START + 2, Hop.RECEIPTED: START + 3}, None, "LEVERT")
    async with probe(tmp_path, api, portal=adapter) as running:
        running.engine.start(schedule=False)
        canary = running.engine.send_now(PORTAL)
        judged = await running.until(lambda: canary.verdict is not None, last=START + 600)
        assert canary.verdict is Verdict.UNKNOWN
        assert (
            canary.deadline_at + SETTINGS.blind_grace
            <= judged
            <= canary.deadline_at + SETTINGS.blind_grace + 1
        )
        assert running.value("kanari_undelivered_total", **LABELS, hop="registered", owner="vendor") == 0
        assert (
            running.value(
                "kanari_check_failures_total", channel="portal", target="readback", reason="http_5xx"
            )
            > 0
        )


async def test_a_refused_send_is_judged_at_once(tmp_path: Path) -> None:
    adapter = ScriptedAdapter(Channel.PORTAL, send_answer=UpstreamError("portal", Reason.AUTH, "401", 401))
    async with probe(tmp_path, FakeReadback(), portal=adapter) as running:
        running.engine.start(schedule=False)
        canary = running.engine.send_now(PORTAL)
        # The send leaves at once; its answer arrives while the first tick's work settles (START + 1) and is
        # applied by the next tick.
        assert await running.until(lambda: canary.verdict is not None, last=START + 5) == START + 2
        assert (canary.verdict, canary.blamed_owner) == (Verdict.FAILED, Owner.OPS)
        assert running.value("kanari_send_failures_total", **LABELS, reason="auth") == 1


async def test_a_start_after_a_crash_resumes_counters_schedule_and_unanswered_sends(tmp_path: Path) -> None:
    # What the previous run left: a delivered canary (counted), a portal intent and an Altinn intent
    # whose send answers were never recorded.
    earlier = Ledger(tmp_path / "ledger.sqlite3")
    delivered = record(created_at=START - 100, number=1)
    delivered.state, delivered.verdict, delivered.verdict_at = State.RESOLVED, Verdict.DELIVERED, START - 50
    portal_intent = record(created_at=START - 10, state=State.INTENT, upstream_id=None, number=2)
    altinn_intent = record(ALTINN, created_at=START - 10, state=State.INTENT, upstream_id=None, number=3)
    restored = Metrics(CollectorRegistry(), (1.0,))
    previous = OpenCanaries(earlier, restored)
    for canary in (delivered, portal_intent, altinn_intent):
        previous.add(canary)
    previous.flush()
    earlier.close()

    portal = portal_adapter()
    altinn = ScriptedAdapter(Channel.ALTINN, can_find=True, find_answer="altinn-5")
    async with probe(tmp_path, FakeReadback(), (PORTAL, ALTINN), portal=portal, altinn=altinn) as running:
        running.engine.start()
        # Counters rebuilt from the ledger: the delivered canary and the sent one, not zero.
        assert running.value("kanari_canaries_resolved_total", **LABELS, verdict="delivered") == 1
        resumed = {canary.id: canary for canary in running.engine.canaries.records.values()}
        assert resumed[portal_intent.id].state is State.IN_FLIGHT
        assert resumed[portal_intent.id].unconfirmed  # only read-back can show it
        assert not resumed[altinn_intent.id].unconfirmed
        # Each route resumes one interval after its newest canary, not at once.
        assert running.engine.schedule.due_of(PORTAL.key) == START - 10 + PORTAL.interval
        await running.until(lambda: resumed[altinn_intent.id].upstream_id is not None, last=START + 5)
        assert resumed[altinn_intent.id].upstream_id == "altinn-5"
        assert altinn.found == [altinn_intent.id]
        assert portal.sent == []  # nothing sent again
        assert altinn.sent == []


def downtime_ledger(tmp_path: Path, *canaries: CanaryRecord) -> None:
    """What a probe that stopped left: ``canaries`` open in the ledger."""
    earlier = Ledger(tmp_path / "ledger.sqlite3")
    previous = OpenCanaries(earlier, Metrics(CollectorRegistry(), (1.0,)))
    for canary in canaries:
        previous.add(canary)
    previous.flush()
    earlier.close()


async def test_after_downtime_canaries_are_looked_at_before_they_are_judged(tmp_path: Path) -> None:
    # Down from START - 1000 to START: both canaries' deadlines (and the blind grace after them) passed
    # meanwhile. One arrived in time, the other never reached the fagsystem.
    arrived = record(created_at=START - 1000, number=1)
    missing = record(created_at=START - 1000, number=2, upstream_id="upstream-2")
    downtime_ledger(tmp_path, arrived, missing)
    api = FakeReadback()
    adapter = portal_adapter()
    adapter.check_answer = Observation(
        {Hop.FORWARDED: START - 990, Hop.RECEIPTED: START - 980}, None, "LEVERT"
    )
    async with probe(tmp_path, api, portal=adapter) as running:
        running.engine.start(schedule=False)
        resumed = {canary.id: canary for canary in running.engine.canaries.records.values()}
        api.register(resumed[arrived.id], START - 970)
        running.engine.poll_tick()  # the first tick looks; nothing is judged before the looks come back
        assert all(canary.verdict is None for canary in resumed.values())
        await running.engine.settle()
        await running.until(lambda: all(c.verdict is not None for c in resumed.values()), last=START + 5)
        assert resumed[arrived.id].verdict is Verdict.DELIVERED
        assert (resumed[missing.id].verdict, resumed[missing.id].blamed_hop) == (Verdict.LOST, Hop.REGISTERED)
        assert running.value("kanari_canaries_resolved_total", **LABELS, verdict="unknown") == 0


async def test_after_downtime_the_blind_grace_counts_from_the_start(tmp_path: Path) -> None:
    stranded = record(created_at=START - 1000, number=1)
    downtime_ledger(tmp_path, stranded)
    adapter = ScriptedAdapter(
        Channel.PORTAL, check_answer=UpstreamError("portal", Reason.HTTP_5XX, "503", 503)
    )
    api = FakeReadback()
    api.status = 503
    async with probe(tmp_path, api, portal=adapter) as running:
        running.engine.start(schedule=False)
        [canary] = running.engine.canaries.records.values()
        judged = await running.until(lambda: canary.verdict is not None, last=START + 300)
        # Blind since the start: unknown one blind grace after it, not at the first tick.
        assert judged == START + SETTINGS.blind_grace
        assert canary.verdict is Verdict.UNKNOWN


async def test_answers_that_arrive_while_stopping_are_recorded(tmp_path: Path) -> None:
    gate = asyncio.Event()
    adapter = portal_adapter()
    adapter.send_gate = gate
    async with probe(tmp_path, FakeReadback(), portal=adapter) as running:
        running.engine.start(schedule=False)
        canary = running.engine.send_now(PORTAL)
        asyncio.get_running_loop().call_later(0.05, gate.set)  # KS answers after SIGTERM came
        await running.engine.shutdown(grace=5.0)
    [stored] = [row for row in all_records_of(tmp_path) if row.id == canary.id]
    assert (stored.state, stored.upstream_id, stored.unconfirmed) == (State.IN_FLIGHT, "ks-1", False)


async def test_shutdown_is_bounded_and_a_cancelled_send_is_resumed_never_resent(tmp_path: Path) -> None:
    adapter = portal_adapter()
    adapter.send_gate = asyncio.Event()  # KS never answers
    async with probe(tmp_path, FakeReadback(), portal=adapter) as running:
        running.engine.start(schedule=False)
        canary = running.engine.send_now(PORTAL)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await running.engine.shutdown(grace=0.2)
        assert loop.time() - began < 2.0
    [stored] = [row for row in all_records_of(tmp_path) if row.id == canary.id]
    assert stored.state is State.INTENT  # nothing was recorded as answered
    again = portal_adapter()
    async with probe(tmp_path, FakeReadback(), portal=again) as running:
        running.engine.start(schedule=False)
        [resumed] = running.engine.canaries.records.values()
        assert resumed.unconfirmed
        assert again.sent == []


def all_records_of(tmp_path: Path) -> list[CanaryRecord]:
    opened = Ledger(tmp_path / "ledger.sqlite3")
    try:
        return all_records(opened)
    finally:
        opened.close()


async def test_a_vendor_refusing_every_removal_gets_the_canary_closed_and_counted(tmp_path: Path) -> None:
    api = FakeReadback()
    api.delete_status = 405
    adapter = portal_adapter()
    async with probe(tmp_path, api, portal=adapter) as running:
        running.engine.start(schedule=False)
        canary = running.engine.send_now(PORTAL)
        adapter.check_answer = Observation(
            {Hop.FORWARDED: START + 2, Hop.RECEIPTED: START + 5}, None, "LEVERT"
        )
        await running.at(START + 1)
        api.register(canary, START + 10)
        await running.until(lambda: canary.verdict is Verdict.DELIVERED, last=START + 300)
        # Retried with a back-off (60 s read-back period: 1 + 2 + 4 + 8 + 16 minutes), then given up.
        await running.until(lambda: canary.state is State.CLOSED, last=START + 3 * 3600, step=30)
        assert canary.cleanup_failed_at is not None
        assert canary.cleaned_at is None
        assert running.value("kanari_cleanup_failures_total", **LABELS) == 1
        deletes = [request for request in api.requests if request.method == "DELETE"]
        assert len(deletes) == 6
    [stored] = [row for row in all_records_of(tmp_path) if row.id == canary.id]
    assert (stored.state, stored.cleanup_failed_at) == (State.CLOSED, canary.cleanup_failed_at)
