"""Cleanup: a registered, judged canary is removed at its vendor, retried with a back-off, given up on
after a bounded number of tries, and a canary the vendor no longer has counts as removed."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from probe.clock import FakeClock
from probe.engine.cleanup import MAX_ATTEMPTS, Cleanup
from probe.engine.results import CheckFailed, CleanedUp, CleanupAbandoned, Result
from probe.engine.tasks import Tasks
from probe.errors import Reason
from probe.hops import Hop, Verdict
from probe.lifecycle.record import CanaryRecord, State
from tests.engine.kit import START, VENDOR, FakeReadback, readback_client, record

pytestmark = pytest.mark.anyio

INTERVAL = 60.0


def registered(number: int = 1) -> CanaryRecord:
    canary = record(number=number, hops={Hop.ACCEPTED: START + 1, Hop.REGISTERED: START + 20})
    canary.state, canary.verdict, canary.verdict_at = State.RESOLVED, Verdict.DELIVERED, START + 30
    return canary


@pytest.fixture
def api() -> FakeReadback:
    return FakeReadback()


@pytest.fixture
async def cleanup(api: FakeReadback) -> AsyncIterator[tuple[Cleanup, Tasks]]:
    client, http = readback_client(api, FakeClock(START))
    tasks = Tasks()
    try:
        yield Cleanup(tasks, {VENDOR: client}, INTERVAL, enabled=True), tasks
    finally:
        await http.aclose()


async def run(cleanup: Cleanup, tasks: Tasks, records: list[CanaryRecord], now: float) -> list[Result]:
    cleanup.start_due(records, now)
    await tasks.settle()
    return tasks.take()


async def test_a_judged_registered_canary_is_removed_at_its_vendor(
    api: FakeReadback, cleanup: tuple[Cleanup, Tasks]
) -> None:
    removal, tasks = cleanup
    canary = registered()
    api.register(canary, START + 20)
    assert removal.pending(canary)
    assert await run(removal, tasks, [canary], START + 31) == [CleanedUp(canary)]
    assert api.deleted == [canary.id]
    assert api.requests[0].url.path == f"/kanari/v1/municipalities/4601/canaries/{canary.id}"


async def test_one_the_vendor_no_longer_has_counts_as_removed(
    api: FakeReadback, cleanup: tuple[Cleanup, Tasks]
) -> None:
    removal, tasks = cleanup
    canary = registered()  # never registered at the fake: it answers 404
    assert await run(removal, tasks, [canary], START + 31) == [CleanedUp(canary)]


async def test_a_refused_removal_is_retried_one_period_later(
    api: FakeReadback, cleanup: tuple[Cleanup, Tasks]
) -> None:
    removal, tasks = cleanup
    canary = registered()
    api.register(canary, START + 20)
    api.status = 503
    [failure] = await run(removal, tasks, [canary], START + 31)
    assert isinstance(failure, CheckFailed)
    assert (failure.target, failure.error.reason, failure.record) == ("readback", Reason.HTTP_5XX, canary)
    api.status = 200
    assert await run(removal, tasks, [canary], START + 31 + INTERVAL - 1) == []
    assert await run(removal, tasks, [canary], START + 31 + INTERVAL) == [CleanedUp(canary)]


async def test_nothing_is_removed_before_the_verdict_twice_or_when_disabled(
    api: FakeReadback, cleanup: tuple[Cleanup, Tasks]
) -> None:
    removal, tasks = cleanup
    open_canary = record(hops={Hop.ACCEPTED: START + 1, Hop.REGISTERED: START + 20}, number=1)
    not_registered = record(number=2)
    not_registered.state, not_registered.verdict = State.RESOLVED, Verdict.LOST
    cleaned = registered(3)
    cleaned.cleaned_at = START + 40
    busy = registered(4)
    tasks.busy.add(busy.id)
    assert await run(removal, tasks, [open_canary, not_registered, cleaned, busy], START + 50) == []
    assert not removal.pending(cleaned)
    disabled = Cleanup(tasks, {}, INTERVAL, enabled=False)
    assert not disabled.pending(registered(5))
    assert api.requests == []


async def test_a_vendor_that_keeps_refusing_is_given_up_on_after_backing_off(
    api: FakeReadback, cleanup: tuple[Cleanup, Tasks]
) -> None:
    removal, tasks = cleanup
    canary = registered()
    api.register(canary, START + 20)
    api.status = 405  # the vendor's API does not allow DELETE at all
    attempts: list[float] = []
    results: list[Result] = []
    for second in range(0, 6 * 3600, 10):
        found = await run(removal, tasks, [canary] if second == 0 else [], START + 31 + second)
        if found:
            attempts.append(float(second))
            results += found
    # Six tries, each gap twice the one before (1, 2, 4, 8, 16 minutes at a 60 s period), then no more.
    assert len(attempts) == MAX_ATTEMPTS
    assert [later - earlier for earlier, later in itertools.pairwise(attempts)] == [60, 120, 240, 480, 960]
    assert all(isinstance(result, CheckFailed) for result in results[:-1])
    last = results[-1]
    assert isinstance(last, CleanupAbandoned)
    assert (last.record, last.error.status_code) == (canary, 405)
