"""Maintenance: pruning runs in the background on its own thread and connection, reports what it did,
never delays the start, lets the engine's connection commit meanwhile, and survives its failures."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.history import DAY, History, build
from probe.clock import FakeClock
from probe.engine.maintenance import BATCH_BUDGET, Maintenance
from probe.errors import LedgerError, LedgerUnusableError
from probe.ledger.pruning import CHUNK, PRUNE_ROWS
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import State
from tests.engine.kit import record
from tests.ledger.reference import answers
from tests.ledger_view import all_records

pytestmark = pytest.mark.anyio


@pytest.fixture
def history(tmp_path: Path) -> History:
    # Two days on six routes; with a retention of one day, the older half is a backlog.
    return build(tmp_path / "ledger.sqlite3", routes=6, days=2)


def maintenance(
    history: History,
    *,
    rows: int = PRUNE_ROWS,
    budget: float = BATCH_BUDGET,
    busy_timeout: float = 5.0,
    timer: Callable[[], float] = time.perf_counter,
) -> Maintenance:
    """Maintenance of ``history`` with a retention of one day at its end, without pauses (a test waits
    for nothing)."""
    return Maintenance(
        history.path,
        FakeClock(history.end),
        DAY,
        rows=rows,
        budget=budget,
        pause=0.0,
        busy_timeout=busy_timeout,
        timer=timer,
    )


def prunable(history: History) -> int:
    cutoff = history.end - DAY
    return sum(1 for r in all_records(history.path) if r.state is State.CLOSED and r.created_at < cutoff)


async def test_a_tick_starts_pruning_in_the_background_and_returns_at_once(history: History) -> None:
    expected = prunable(history)
    ledger = Ledger(history.path)
    asked = answers(ledger)
    work = maintenance(history, rows=CHUNK)
    try:
        task = work.tick()
        assert task is not None
        # Nothing has been deleted yet when tick returns: the engine's start goes on meanwhile.
        assert (work.last, work.running) == (None, True)
        assert len(all_records(history.path)) == history.rows
        assert work.tick() is None  # a run under way goes on; no second one
        report = await task
    finally:
        await work.close()
    try:
        assert (report.pruned, report.complete, report.error) == (expected, True, None)
        assert report.batches == expected // CHUNK + 1
        assert report.cutoff == history.end - DAY
        assert 0 < report.longest_hold <= report.seconds
        assert work.last == report
        assert len(all_records(history.path)) == history.rows - expected
        assert answers(ledger) == asked  # counters and what a restart reads are unchanged
    finally:
        ledger.close()


async def test_the_engine_keeps_committing_while_a_backlog_is_pruned(history: History) -> None:
    # The engine's connection commits on the event loop between (and during) batches on the worker
    # thread: SQLITE_BUSY is waited out by the busy timeout, and every commit gets through.
    expected = prunable(history)
    ledger = Ledger(history.path)
    work = maintenance(history, rows=CHUNK, budget=0.002)
    saved = []
    try:
        task = work.tick()
        assert task is not None
        number = 0
        while not task.done():
            number += 1
            canary = record(number=number, created_at=history.end + number)
            ledger.save([canary], {("sent", "portal", "4601", "fjordsys", "", ""): 1})
            saved.append(canary.id)
            await asyncio.sleep(0)
        report = await task
        assert (report.pruned, report.error, report.complete) == (expected, None, True)
        assert report.batches > 3
        assert saved
        assert set(saved) <= {r.id for r in all_records(ledger)}
        assert ledger.counts()[("sent", "portal", "4601", "fjordsys", "", "")] == len(saved)
    finally:
        await work.close()
        ledger.close()


async def test_lock_holds_and_durations_are_measured_with_the_given_timer(history: History) -> None:
    expected = prunable(history)
    ticks = itertools.count()
    work = maintenance(history, rows=10 * CHUNK, budget=1.0, timer=lambda: float(next(ticks)))
    try:
        report = await work.prune()
    finally:
        await work.close()
    # Each batch: taken at t, over budget after its first statement (t+1), committed (t+2).
    assert report.longest_hold == 2.0
    assert report.pruned == expected
    assert report.batches == expected // CHUNK + 1  # one statement each, then the one that found the end


async def test_a_run_stopped_by_the_engines_lock_is_logged_and_the_next_tick_finishes_it(
    history: History, caplog: pytest.LogCaptureFixture
) -> None:
    expected = prunable(history)
    engine = sqlite3.connect(history.path, isolation_level=None)
    work = maintenance(history, busy_timeout=0.05)
    try:
        engine.execute("BEGIN IMMEDIATE")  # an engine transaction that outlasts the busy timeout
        with caplog.at_level(logging.ERROR, logger="kanari.maintenance"):
            task = work.tick()
            assert task is not None
            failed = await task
        engine.execute("ROLLBACK")
        assert (failed.pruned, failed.complete) == (0, False)
        assert isinstance(failed.error, LedgerError)
        assert "database is locked" in str(failed.error)
        assert "ledger prune stopped after 0 rows in 0 batches: ledger prune failed: database is locked" in (
            caplog.text
        )
        task = work.tick()
        assert task is not None
        report = await task
        assert (report.pruned, report.complete, report.error) == (expected, True, None)
    finally:
        await work.close()
        engine.close()


async def test_a_ledger_it_cannot_open_is_an_error_in_the_report(tmp_path: Path) -> None:
    older = build(tmp_path / "older.sqlite3", routes=1, days=1, schema=3)
    work = Maintenance(older.path, FakeClock(older.end), DAY, pause=0.0)
    try:
        report = await work.prune()
        assert isinstance(report.error, LedgerUnusableError)
        assert (report.pruned, report.batches, report.complete) == (0, 0, False)
        # The next run tries to open it again.
        assert isinstance((await work.prune()).error, LedgerUnusableError)
    finally:
        await work.close()


async def test_close_stops_after_the_batch_under_way_and_later_ticks_start_nothing(history: History) -> None:
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []
    looks = itertools.count()

    def timer() -> float:
        look = next(looks)
        if look == 1:
            # The first look inside the first batch, on the worker thread: the close is asked for while
            # the batch runs, and reaches the loop before the batch's result does.
            loop.call_soon_threadsafe(lambda: closing.append(loop.create_task(work.close())))
        return float(look)

    work = maintenance(history, rows=CHUNK, timer=timer)
    task = work.tick()
    assert task is not None
    report = await task
    await closing[0]
    assert (report.batches, report.pruned, report.complete, report.error) == (1, CHUNK, False, None)
    assert len(all_records(history.path)) == history.rows - CHUNK
    assert not work.running
    assert work.tick() is None
    assert (await work.prune()).batches == 0  # nor does a run asked for directly
    await work.close()  # twice is fine


async def test_close_without_a_run_closes_nothing_it_did_not_open(history: History) -> None:
    work = maintenance(history)
    await work.close()
    assert work.tick() is None


class BrokenClock:
    """A clock that fails: a bug, not a ledger problem."""

    def now(self) -> float:
        raise RuntimeError("clock broke")


async def test_an_unexpected_failure_is_logged_not_lost(
    history: History, caplog: pytest.LogCaptureFixture
) -> None:
    work = Maintenance(history.path, BrokenClock(), DAY)
    with caplog.at_level(logging.ERROR, logger="kanari.maintenance"):
        task = work.tick()
        assert task is not None
        with pytest.raises(RuntimeError, match="clock broke"):
            await task
        await asyncio.sleep(0)  # the task's done callbacks run on the next turn of the loop
    assert "ledger prune failed unexpectedly: RuntimeError('clock broke')" in caplog.text
    await work.close()


async def test_a_cancelled_run_is_not_reported_as_a_failure(
    history: History, caplog: pytest.LogCaptureFixture
) -> None:
    work = maintenance(history, rows=CHUNK)
    with caplog.at_level(logging.ERROR, logger="kanari.maintenance"):
        task = work.tick()
        assert task is not None
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        # Closing waits for the batch the worker thread may still run, then closes its connection.
        await work.close()
    assert caplog.text == ""
    assert len(all_records(history.path)) <= history.rows
