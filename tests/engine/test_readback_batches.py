"""Read-back batches: one call per (vendor, municipality) and period for every canary ready for it,
brought forward to a deadline, over a read-back client answering through ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from probe.clock import FakeClock, parse_rfc3339
from probe.engine.readback_batches import SINCE_MARGIN, ReadbackBatches
from probe.engine.results import CheckFailed, RegistrationsSeen, Result
from probe.engine.tasks import Tasks
from probe.engine.watch import Watch
from probe.errors import Reason
from probe.hops import Channel, Hop, Verdict
from probe.lifecycle.record import CanaryRecord, State
from tests.engine.kit import START, VENDOR, FakeReadback, readback_client, record, route

pytestmark = pytest.mark.anyio

READBACK_INTERVAL = 60.0
RECEIPTED = {Hop.ACCEPTED: START + 1, Hop.FORWARDED: START + 2, Hop.RECEIPTED: START + 3}


@pytest.fixture
def api() -> FakeReadback:
    return FakeReadback()


@pytest.fixture
async def batches(api: FakeReadback) -> AsyncIterator[tuple[ReadbackBatches, Tasks]]:
    client, http = readback_client(api, FakeClock(START))
    tasks = Tasks()
    try:
        yield ReadbackBatches(tasks, {VENDOR: client}, Watch(3600.0), READBACK_INTERVAL), tasks
    finally:
        await http.aclose()


async def run(
    batches: ReadbackBatches, tasks: Tasks, records: list[CanaryRecord], now: float
) -> list[Result]:
    batches.start_due(records, now)
    await tasks.settle()
    return tasks.take()


def test_a_vendor_without_a_read_back_client_is_never_asked() -> None:
    client_free = ReadbackBatches(Tasks(), {}, Watch(3600.0), READBACK_INTERVAL)
    assert not client_free.wants(record(hops=RECEIPTED))  # the vendor has no read-back client


async def test_one_call_covers_every_ready_canary_of_a_municipality(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    first = record(hops=RECEIPTED, number=1)
    second = record(hops=RECEIPTED, number=2, created_at=START + 30)
    altinn = record(route(Channel.ALTINN), number=3, hops={Hop.ACCEPTED: START, Hop.PUBLISHED: START + 1})
    not_yet = record(hops={Hop.ACCEPTED: START + 1}, number=4)  # not receipted: read-back would not see it
    unconfirmed = record(upstream_id=None, hops={}, number=5)
    unconfirmed.unconfirmed = True  # only read-back can see it
    other_town = record(route(kommunenummer="4602"), hops=RECEIPTED, number=6)
    api.register(first, START + 20)
    assert readback.wants(first)
    assert not readback.wants(not_yet)
    assert readback.wants(unconfirmed)

    results = await run(
        readback, tasks, [first, second, altinn, not_yet, unconfirmed, other_town], START + 40
    )

    assert sorted(request.url.path for request in api.requests) == [
        "/kanari/v1/municipalities/4601/canaries",
        "/kanari/v1/municipalities/4602/canaries",
    ]
    [bergen] = [r for r in results if isinstance(r, RegistrationsSeen) and r.municipality == "4601"]
    assert bergen.vendor == VENDOR
    assert bergen.asked_at == START + 40
    assert [member.id for member in bergen.records] == [first.id, second.id, altinn.id, unconfirmed.id]
    [registration] = bergen.registrations
    assert (registration.canary_id, registration.marker) == (first.id, first.marker)
    assert registration.registered_at == START + 20
    # Asked from the oldest canary's creation, with a margin for the vendor's clock.
    since = api.requests[0].url.params["since"]
    assert parse_rfc3339(since) == START - SINCE_MARGIN


async def test_the_next_call_waits_a_period_unless_a_deadline_comes_first(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    canary = record(hops=RECEIPTED)  # deadline START + 300
    await run(readback, tasks, [canary], START + 200)
    await run(readback, tasks, [canary], START + 259)
    assert len(api.requests) == 1
    await run(readback, tasks, [canary], START + 260)  # one period on
    await run(readback, tasks, [canary], START + 299)
    assert len(api.requests) == 2
    await run(readback, tasks, [canary], START + 300)  # the deadline, before the next period
    assert len(api.requests) == 3


async def test_a_judged_canary_is_only_looked_for_while_watched(
    batches: tuple[ReadbackBatches, Tasks],
) -> None:
    readback, _ = batches
    lost = record(hops=RECEIPTED)
    lost.state, lost.verdict, lost.verdict_at = State.RESOLVED, Verdict.LOST, START + 300
    assert readback.wants(lost)
    failed = record(hops=RECEIPTED, number=2)
    failed.state, failed.verdict, failed.verdict_at = State.RESOLVED, Verdict.FAILED, START + 300
    assert not readback.wants(failed)
    registered = record(hops={**RECEIPTED, Hop.REGISTERED: START + 9}, number=3)
    assert not readback.wants(registered)


async def test_a_refused_call_is_a_read_back_check_failure(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    api.status = 503
    [result] = await run(readback, tasks, [record(hops=RECEIPTED)], START + 40)
    assert isinstance(result, CheckFailed)
    assert (result.channel, result.target, result.error.reason) == (
        Channel.PORTAL,
        "readback",
        Reason.HTTP_5XX,
    )
    assert result.record is None  # a batch failure is about the vendor, not one canary


async def test_a_group_under_way_or_a_busy_canary_is_not_asked_again(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    canary = record(hops=RECEIPTED)
    tasks.busy.add(canary.id)
    assert readback.start_due([canary], START + 40) == 0
    tasks.busy.clear()
    assert readback.start_due([canary], START + 40) == 1
    assert readback.start_due([canary], START + 500) == 0  # the first call has not ended
    await tasks.settle()
    assert readback.start_due([canary], START + 500) == 1
    await tasks.settle()
    assert len(api.requests) == 2


async def test_a_failing_group_is_asked_after_doubling_pauses_and_at_once_again_when_it_answers(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    canary = record(hops=RECEIPTED)
    canary.deadline_at = START + 100_000  # no deadline in the way
    api.status = 503
    asked = []
    changed = [canary]
    for now in range(int(START) + 40, int(START) + 1_200, 10):
        if now >= START + 900:
            api.status = 200  # the vendor's API is back
        if readback.start_due(changed, float(now)):
            asked.append(now - START)
        changed = []
        await tasks.settle()
        tasks.take()
    # One period, then two, four, eight; the first answer after the outage brings back the period.
    assert asked == [40, 100, 220, 460, 940, 1000, 1060, 1120, 1180]


async def test_a_failing_group_is_still_asked_at_its_canaries_deadline(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    canary = record(hops=RECEIPTED)
    canary.deadline_at = START + 300
    api.status = 503
    asked = []
    changed = [canary]
    for now in range(int(START) + 40, int(START) + 400, 10):
        if readback.start_due(changed, float(now)):
            asked.append(now - START)
        changed = []
        await tasks.settle()
        tasks.take()
    assert asked == [40, 100, 220, 300]


async def test_a_canary_joining_a_failing_group_is_asked_by_its_deadline(
    api: FakeReadback, batches: tuple[ReadbackBatches, Tasks]
) -> None:
    readback, tasks = batches
    first = record(hops=RECEIPTED, number=1)
    first.deadline_at = START + 100_000
    api.status = 503
    asked = []
    for now in range(int(START) + 40, int(START) + 600, 10):
        joining = []
        if now == START + 300:
            joining = [record(hops=RECEIPTED, number=2, created_at=START + 290)]
            joining[0].deadline_at = START + 400  # the group's pause would end at 460
        if readback.start_due([first] if now == START + 40 else joining, float(now)):
            asked.append(now - START)
        await tasks.settle()
        tasks.take()
    assert asked == [40, 100, 220, 400]
