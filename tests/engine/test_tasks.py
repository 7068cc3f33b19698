"""Network work under way: results kept in arrival order, busy canaries, and a crashing check that
gives no result without stopping the others."""

from __future__ import annotations

import asyncio
import logging

import pytest

from probe.clock import FakeClock
from probe.engine.results import CleanedUp, Result
from probe.engine.tasks import Tasks
from tests.engine.kit import record

pytestmark = pytest.mark.anyio


async def test_results_arrive_in_order_and_busy_lasts_as_long_as_the_work() -> None:
    tasks = Tasks()
    first, second = record(number=1), record(number=2)
    gate = asyncio.Event()
    done: list[str] = []

    async def slow() -> Result:
        await gate.wait()
        return CleanedUp(first)

    async def quick() -> Result:
        return CleanedUp(second)

    quick_done = asyncio.Event()
    tasks.start(slow, about=first.id, done=lambda: done.append("slow"))
    tasks.start(quick, about=second.id, done=quick_done.set)
    assert tasks.busy == {first.id, second.id}
    await asyncio.wait_for(quick_done.wait(), timeout=5)
    assert tasks.busy == {first.id}
    gate.set()
    await tasks.settle()
    assert tasks.take() == [CleanedUp(second), CleanedUp(first)]
    assert tasks.take() == []
    assert tasks.busy == set()
    assert done == ["slow"]


async def test_a_crashing_check_is_logged_and_gives_no_result(caplog: pytest.LogCaptureFixture) -> None:
    tasks = Tasks()
    canary = record()

    async def broken() -> Result:
        raise RuntimeError("a bug in one check")

    async def fine() -> Result:
        return CleanedUp(canary)

    with caplog.at_level(logging.ERROR, logger="kanari.poll"):
        tasks.start(broken, about="bad")
        tasks.start(fine)
        await tasks.settle()
    assert tasks.take() == [CleanedUp(canary)]
    assert tasks.busy == set()
    assert "check crashed: canary=bad" in caplog.text


async def test_a_check_crashing_on_every_poll_is_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    tasks = Tasks(clock.now)

    async def broken() -> Result:
        raise RecursionError("maximum recursion depth exceeded")

    with caplog.at_level(logging.ERROR, logger="kanari.poll"):
        for _ in range(37):  # 37 crashes in 30 s: one line, with its traceback
            tasks.start(broken, about="bad")
            await tasks.settle()
            clock.advance(30 / 37)
        assert len(caplog.records) == 1
        assert caplog.records[0].exc_info is not None
        clock.advance(31)
        tasks.start(broken, about="bad")
        await tasks.settle()
    assert len(caplog.records) == 2
    assert "(36 more like it in the last 61 s)" in caplog.records[1].getMessage()


async def test_shutdown_cancels_what_is_still_running_after_the_grace() -> None:
    tasks = Tasks()
    never = asyncio.Event()
    finished: list[str] = []

    async def stuck() -> Result:
        await never.wait()
        return CleanedUp(record())

    tasks.start(stuck, about="stuck", done=lambda: finished.append("stuck"))
    assert await tasks.settle(within=0.05) == 1
    assert tasks.busy == set()
    assert finished == ["stuck"]
    assert tasks.take() == []
    assert await tasks.settle(within=0.05) == 0
