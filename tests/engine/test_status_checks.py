"""Status checks: which canaries are asked, when the next ask is due, and what the asks return."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from probe.channels.base import Observation
from probe.engine.results import CheckFailed, LookupDone, StatusSeen
from probe.engine.status_checks import DEFAULT_POLL_INTERVAL, StatusChecks
from probe.engine.tasks import Tasks
from probe.engine.watch import MIN_WATCH_INTERVAL, Watch
from probe.errors import Reason, UpstreamError
from probe.hops import Channel, Hop, Verdict
from probe.lifecycle.record import CanaryRecord, State
from tests.engine.kit import START, ScriptedAdapter, record, route

pytestmark = pytest.mark.anyio

PORTAL = route()
ALTINN = route(Channel.ALTINN, final_hop=Hop.READ)


def checks(*adapters: ScriptedAdapter) -> tuple[StatusChecks, Tasks]:
    tasks = Tasks()
    by_channel = {adapter.channel: adapter for adapter in adapters}
    routes = {PORTAL.key: PORTAL, ALTINN.key: ALTINN}
    return StatusChecks(tasks, by_channel, routes, Watch(late_window=3600.0)), tasks


async def run(status: StatusChecks, tasks: Tasks, records: list[CanaryRecord], now: float) -> list[object]:
    started = status.start_due(records, now)
    await tasks.settle()
    results = tasks.take()
    assert len(results) == started
    return list(results)


async def test_an_accepted_canary_is_asked_in_the_version_it_was_sent_in() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL, check_answer=Observation({Hop.FORWARDED: START + 3}, None, "X"))
    status, tasks = checks(adapter)
    canary = record()
    canary.api_version = "v2"
    [result] = await run(status, tasks, [canary], START + 15)
    assert adapter.checked == [("upstream-1", "v2")]
    assert isinstance(result, StatusSeen)
    assert (result.record, result.asked_at) == (canary, START + 15)
    assert result.observation.reached == {Hop.FORWARDED: START + 3}


async def test_a_canary_is_asked_when_its_hop_is_expected_halfway_and_at_the_deadline() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    status, tasks = checks(adapter)
    canary = record()  # sent at START, deadline START + 300; the route has no history and no normal latency
    asked: list[float] = []
    for second in range(0, 400):
        if await run(status, tasks, [canary] if second == 0 else [], START + second):
            asked.append(second)
    # One poll period after sending (nothing better known), halfway to the deadline, exactly at the
    # deadline, then every poll period while no verdict came (the judge is not part of this test).
    assert asked[:4] == [15, 157.5 // 1 + 1, 300, 315]


async def test_a_route_with_a_normal_latency_is_first_asked_then_and_learns_from_deliveries() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    slow = dataclasses.replace(route(deadline=1800.0), normal_latency=600.0)
    status = StatusChecks(Tasks(), {Channel.PORTAL: adapter}, {slow.key: slow}, Watch(late_window=3600.0))
    assert status.expected_latency(slow) == 600.0
    first = record(slow, number=1)
    status.reconsider(first, START)
    assert status.start_due([], START + 599) == 0
    assert status.start_due([], START + 600) == 1
    # It was all there after 100 s: the route learns, and the next canary is asked sooner.
    first.hops.update({Hop.FORWARDED: START + 50, Hop.RECEIPTED: START + 100})
    status.reconsider(first, START + 601)
    assert status.expected_latency(slow) == 150.0  # 1.5 times what was seen, within the normal latency


async def test_a_judged_canary_is_watched_at_a_backing_off_pace() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    status, tasks = checks(adapter)
    canary = record()
    canary.state, canary.verdict, canary.verdict_at = State.RESOLVED, Verdict.LOST, START + 300
    asked: list[float] = []
    for second in range(300, 300 + 4000):
        if await run(status, tasks, [canary] if second == 300 else [], START + second):
            asked.append(second - 300)
    gaps = [later - earlier for earlier, later in itertools.pairwise([0.0, *asked])]
    assert gaps[:4] == [
        MIN_WATCH_INTERVAL,
        2 * MIN_WATCH_INTERVAL,
        4 * MIN_WATCH_INTERVAL,
        8 * MIN_WATCH_INTERVAL,
    ]


async def test_watch_looks_of_a_channel_stay_within_its_budget() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    tasks = Tasks()
    # One look a minute for the whole channel, however many canaries are watched.
    watch = Watch(late_window=86400.0, budget={Channel.PORTAL: 1 / 60})
    status = StatusChecks(tasks, {Channel.PORTAL: adapter}, {PORTAL.key: PORTAL}, watch)
    watched = []
    for number in range(1, 201):
        canary = record(number=number)
        canary.state, canary.verdict, canary.verdict_at = State.RESOLVED, Verdict.LOST, START
        watched.append(canary)
    looks = 0
    for second in range(0, 3600, 5):
        looks += status.start_due(watched if second == 0 else [], START + second)
        await tasks.settle()
        tasks.take()
    assert looks <= 60 + 60  # a minute's burst, then one a minute


async def test_nothing_is_asked_of_what_cannot_or_need_not_be_asked() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    status, tasks = checks(adapter)
    intent = record(state=State.INTENT, upstream_id=None, number=1)
    unconfirmed = record(upstream_id=None, number=2)
    unconfirmed.unconfirmed = True  # read-back alone can see it
    all_status_hops = record(
        number=3, hops={Hop.ACCEPTED: START, Hop.FORWARDED: START + 1, Hop.RECEIPTED: START + 2}
    )
    delivered = record(number=4)
    delivered.state, delivered.verdict, delivered.verdict_at = State.RESOLVED, Verdict.DELIVERED, START + 9
    closed = record(number=5, state=State.CLOSED)
    unknown_route = record(route(kommunenummer="0301"), number=6)
    records = [intent, unconfirmed, all_status_hops, delivered, closed, unknown_route]
    assert await run(status, tasks, records, START + 15) == []
    assert adapter.checked == []


async def test_a_canary_under_way_is_not_asked_twice() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    status, tasks = checks(adapter)
    canary = record()
    tasks.busy.add(canary.id)
    assert status.start_due([canary], START + 15) == 0


async def test_an_unanswered_altinn_send_is_looked_up_not_checked() -> None:
    adapter = ScriptedAdapter(Channel.ALTINN, can_find=True, find_answer="altinn-9")
    status, tasks = checks(adapter)
    canary = record(ALTINN, upstream_id=None, hops={})
    [result] = await run(status, tasks, [canary], START + 15)
    assert adapter.found == [canary.id]
    assert adapter.checked == []
    assert result == LookupDone(canary, "altinn-9")


async def test_a_failed_check_or_lookup_is_a_check_failure_of_the_channel() -> None:
    error = UpstreamError("portal", Reason.HTTP_5XX, "503", 503)
    adapter = ScriptedAdapter(Channel.PORTAL, check_answer=error)
    altinn = ScriptedAdapter(
        Channel.ALTINN, can_find=True, find_answer=UpstreamError("altinn", Reason.TIMEOUT, "t")
    )
    status, tasks = checks(adapter, altinn)
    checked, looked_up = record(number=1), record(ALTINN, upstream_id=None, hops={}, number=2)
    results = await run(status, tasks, [checked, looked_up], START + 15)
    assert sorted((r.target, r.error.reason) for r in results if isinstance(r, CheckFailed)) == [
        ("altinn", Reason.TIMEOUT),
        ("portal", Reason.HTTP_5XX),
    ]
    failed_records = [r.record.id for r in results if isinstance(r, CheckFailed) and r.record is not None]
    assert sorted(failed_records) == sorted([checked.id, looked_up.id])


async def test_a_route_gone_from_the_configuration_is_not_asked_and_forget_resets_the_pace() -> None:
    adapter = ScriptedAdapter(Channel.PORTAL)
    status, tasks = checks(adapter)
    canary = record()
    assert await run(status, tasks, [canary], START + 15)
    status.forget(canary)
    assert await run(status, tasks, [canary], START + 16)  # forgotten: due again at once
    assert DEFAULT_POLL_INTERVAL > 0
