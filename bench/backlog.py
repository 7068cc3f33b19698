"""Pruning a backlog while the engine keeps writing: the event loop's longest stall meanwhile.

What it measures: a ledger holding more history than the retention at start (a synthetic one of
:mod:`bench.history`, the retention shortened so that its oldest ``backlog`` seconds are due), opened by
the engine's :class:`~probe.ledger.sqlite.Ledger` as at a start, and the probe's own
:class:`~probe.engine.maintenance.Maintenance` started at once (as the first maintenance tick starts it)
on a fake clock at the ledger's end. The maintenance prunes in batches on its worker thread; meanwhile
the event loop does what the engine does to the ledger: every 50 ms it commits a few new canaries
through the same ``Ledger`` (``synchronous=FULL``), so the engine's commits meet the prune's write lock
as they would. A coroutine that sleeps 5 ms at a time records how late each wake-up is: the longest
lateness is ``prune_max_block_ms`` (a stall of the loop, whoever caused it: a commit waiting for the
prune's lock, the commit's own fsync, the loop starting a batch). ``prune_baseline_max_block_ms`` is the
same for a second of the same commits with no prune, so the prune's own share can be read off;
``prune_commit_max_ms`` is the slowest of the engine's commits during the prune; ``prune_rows``,
``prune_seconds``, ``prune_batches`` and ``prune_longest_lock_ms`` are from the run's own report.

What it does not measure: the rest of the engine's work on the loop (ticks, HTTP), which adds its own
stalls whatever the prune does; the prune's effect on the disk seen by other processes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from bench.history import MARKER, History
from probe.clock import FakeClock
from probe.engine.maintenance import Maintenance
from probe.errors import LedgerError
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State

WAKE = 0.005
COMMIT_EVERY = 0.05
RECORDS_PER_COMMIT = 4
BASELINE_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class PruneFigures:
    """The longest loop stall with and without the prune (ms), and the prune's own report."""

    max_block_ms: float
    baseline_max_block_ms: float
    commit_max_ms: float
    rows: int
    seconds: float
    batches: int
    longest_lock_ms: float


class _Load:
    """The loop's work while something else runs: a 5 ms waker that keeps the longest lateness, and the
    engine's commits of a few new canaries every 50 ms, timed."""

    def __init__(self, ledger: Ledger, history: History, clock: FakeClock) -> None:
        self.longest = 0.0
        self.slowest_commit = 0.0
        self._ledger = ledger
        self._routes = history.routes
        self._clock = clock
        self._made = 0

    async def wake(self, until: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not until.is_set():
            asked = loop.time()
            await asyncio.sleep(WAKE)
            self.longest = max(self.longest, loop.time() - asked - WAKE)

    async def commit(self, until: asyncio.Event) -> None:
        while not until.is_set():
            records = [self._record() for _ in range(RECORDS_PER_COMMIT)]
            counts = Counter(("sent", r.channel.value, r.municipality, r.vendor, "", "") for r in records)
            began = time.perf_counter()
            self._ledger.save(records, counts)
            self.slowest_commit = max(self.slowest_commit, time.perf_counter() - began)
            await asyncio.sleep(COMMIT_EVERY)

    def _record(self) -> CanaryRecord:
        route = self._routes[self._made % len(self._routes)]
        self._made += 1
        created = self._clock.now() + self._made * 0.001
        return CanaryRecord(
            id=str(uuid.uuid4()),
            channel=route.channel,
            municipality=route.municipality,
            vendor=route.vendor,
            bydel=None,
            final_hop=route.final,
            created_at=created,
            deadline_at=created + 900.0,
            marker=MARKER,
            state=State.IN_FLIGHT,
        )

    async def during(self, work: Callable[[], Awaitable[object]]) -> object:
        """Run the load while ``work`` runs; the longest stall and commit are kept."""
        self.longest = self.slowest_commit = 0.0
        until = asyncio.Event()
        load = [asyncio.create_task(self.wake(until)), asyncio.create_task(self.commit(until))]
        try:
            return await work()
        finally:
            until.set()
            await asyncio.gather(*load)


async def prune_backlog(history: History, backlog: float) -> PruneFigures:
    """Prune the oldest ``backlog`` seconds of ``history`` while the loop commits, as described above."""
    clock = FakeClock(history.end)
    ledger = Ledger(history.path)
    maintenance = Maintenance(history.path, clock, history.end - history.start - backlog)
    load = _Load(ledger, history, clock)
    try:
        await load.during(lambda: asyncio.sleep(BASELINE_SECONDS))
        baseline = load.longest

        async def prune() -> object:
            task = maintenance.tick()
            if task is None:
                raise LedgerError("the maintenance did not start a prune")
            return await task

        await load.during(prune)
    finally:
        await maintenance.close()
        ledger.close()
    report = maintenance.last
    if report is None or report.error is not None or not report.complete:
        raise LedgerError(f"the prune did not finish: {report}")
    return PruneFigures(
        max_block_ms=load.longest * 1000.0,
        baseline_max_block_ms=baseline * 1000.0,
        commit_max_ms=load.slowest_commit * 1000.0,
        rows=report.pruned,
        seconds=report.seconds,
        batches=report.batches,
        longest_lock_ms=report.longest_hold * 1000.0,
    )
