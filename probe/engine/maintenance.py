"""Ledger housekeeping off the event loop: deleting canaries older than the retention.

Pruning used to run on the event loop in one transaction: 0.2-1.9 s per hour with nothing to delete,
33 s with a backlog, during which nothing was sent, polled or scraped. :class:`Maintenance` prunes in
batches (:class:`probe.ledger.pruning.Pruner`) on a thread of its own with a connection of its own, so
the event loop only starts each batch and goes on.

SQLite still has one writer at a time: while a batch holds the write lock, the engine's next commit
waits for it, on the event loop. That wait is bounded by the batch's time budget (``budget``): a batch
ends its transaction once it has held the lock that long. Batches are started one at a time *from the
event loop*, with a pause between them, so the engine always gets the lock between two batches: while
the loop waits for the lock it cannot start the next batch. The longest a batch held the lock is
reported with each run (:class:`PruneReport`), as is how many rows it pruned.

A run never delays the start: :meth:`Maintenance.tick` only starts it as a task (a backlog of a million
rows is then worked off in the background while the probe already sends). A run still going at the next
tick goes on; a failed one is logged and tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar

from probe.clock import Clock
from probe.errors import LedgerError
from probe.ledger.pruning import PRUNE_ROWS, Batch, Pruner

log = logging.getLogger("kanari.maintenance")

_T = TypeVar("_T")


class BatchPruner(Protocol):
    """What a run prunes with: :class:`~probe.ledger.pruning.Pruner` (SQLite) or
    :class:`~probe.ledger.postgres.PostgresPruner`."""

    def batch(self, older_than: float) -> Batch:
        """One transaction of deletions."""

    def checkpoint(self) -> None:
        """Copy what was written into the database file, if the database needs that."""

    def close(self) -> None:
        """Close its connection."""


# The longest a batch holds the write lock, and the pause the event loop gets after each batch. The
# engine's commit that meets a batch waits for the rest of it plus SQLite's retry step (1, 2, 5, 10 ms
# ...). The pause lets every tick through (they take milliseconds) and leaves the disk to the engine's
# fsyncs half the time. Measured on a busy 2-core machine with synthetic 30-day ledgers (714 and 5 000
# routes): a few hundred rows per batch, a backlog of a million rows gone in 2.5 minutes (6 400 rows/s),
# the longest lock 50 ms, the engine's slowest commit meanwhile 43 ms (24 ms without pruning).
BATCH_BUDGET = 0.010
PAUSE = 0.010


@dataclasses.dataclass(frozen=True)
class PruneReport:
    """One run of :meth:`Maintenance.prune`: the cutoff (Unix seconds), rows deleted, transactions, the
    longest any of them held the write lock and the run's duration (seconds), whether it went on until
    nothing older was left, and the error that stopped it, if one did."""

    cutoff: float
    pruned: int
    batches: int
    longest_hold: float
    seconds: float
    complete: bool
    error: LedgerError | None = None


class Maintenance:
    """Prunes the ledger at ``path`` in the background: closed canaries older than ``retention``
    seconds by ``clock``, in transactions of at most ``rows`` rows and ``budget`` seconds.

    ``timer`` measures lock holds and run durations (a monotonic clock); ``busy_timeout`` is how long
    a batch waits for the engine's write lock before that batch fails (and the run with it).
    """

    def __init__(
        self,
        path: Path,
        clock: Clock,
        retention: float,
        *,
        rows: int = PRUNE_ROWS,
        budget: float = BATCH_BUDGET,
        pause: float = PAUSE,
        busy_timeout: float = 5.0,
        timer: Callable[[], float] = time.perf_counter,
        opener: Callable[[], BatchPruner] | None = None,
    ) -> None:
        self.path = path
        # How the worker opens its pruner: SQLite's on ``path`` unless another backend gives its own.
        self._opener = opener
        self.last: PruneReport | None = None
        self._clock = clock
        self._retention = retention
        self._rows = rows
        self._budget = budget
        self._pause = pause
        self._busy_timeout = busy_timeout
        self._timer = timer
        # One thread, always the same: every use of the pruner's connection is in order (closing it
        # waits for a batch under way), and the default executor stays free for DNS lookups.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kanari-maintenance")
        self._pruner: BatchPruner | None = None
        self._task: asyncio.Task[PruneReport] | None = None
        self._stopping = False
        self._closed = False

    @property
    def running(self) -> bool:
        """True while a run is under way."""
        return self._task is not None and not self._task.done()

    def tick(self) -> asyncio.Task[PruneReport] | None:
        """Start a run in the background, unless one is under way or the maintenance is closed; returns
        at once, with the run's task (``None`` if none was started). Needs the running event loop."""
        if self._stopping or self.running:
            return None
        self._task = asyncio.get_running_loop().create_task(self.prune(), name="kanari-prune")
        self._task.add_done_callback(_log_unexpected)
        return self._task

    async def prune(self) -> PruneReport:
        """Delete every prunable canary older than the retention, batch by batch (what :meth:`tick`
        runs; awaited directly, e.g. by a command, it runs now). After :meth:`close` it deletes nothing."""
        cutoff = self._clock.now() - self._retention
        started = self._timer()
        pruned = batches = 0
        longest = 0.0
        complete = False
        error: LedgerError | None = None
        try:
            while not self._stopping:
                batch = await self._run(self._step, cutoff)
                batches += 1
                pruned += batch.deleted
                longest = max(longest, batch.held)
                if batch.done:
                    complete = True
                    break
                await asyncio.sleep(self._pause)
        except LedgerError as failure:
            error = failure
        report = PruneReport(cutoff, pruned, batches, longest, self._timer() - started, complete, error)
        self.last = report
        _log_report(report)
        return report

    async def close(self) -> None:
        """Stop after the batch under way (at most ``budget`` and one statement away) and close the
        connection; later ticks start nothing. Closing again does nothing."""
        self._stopping = True
        if self._task is not None:
            await asyncio.wait([self._task])
        if self._closed:
            return
        self._closed = True
        await self._run(self._close)
        self._worker.shutdown(wait=False)

    def _close(self) -> None:
        # On the worker thread, after whatever it still had to do.
        pruner, self._pruner = self._pruner, None
        if pruner is not None:
            pruner.close()

    def _step(self, cutoff: float) -> Batch:
        """On the worker thread: one batch (the connection opened first if it is not yet) and the
        checkpoint of what it wrote, in one job, so that no turn of the event loop comes in between in
        which the engine's commit could find the WAL long and checkpoint it on the loop. The pruner is
        kept here, not by the awaiting run: a run cancelled meanwhile leaves it where close() finds it."""
        if self._pruner is None and self._opener is not None:
            self._pruner = self._opener()
        if self._pruner is None:
            self._pruner = Pruner.open(
                self.path,
                busy_timeout=self._busy_timeout,
                rows=self._rows,
                budget=self._budget,
                timer=self._timer,
            )
        batch = self._pruner.batch(cutoff)
        if batch.deleted:
            self._pruner.checkpoint()
        return batch

    async def _run(self, work: Callable[..., _T], *arguments: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, *arguments)


def _log_report(report: PruneReport) -> None:
    held = report.longest_hold * 1000
    if report.error is not None:
        log.error(
            "ledger prune stopped after %d rows in %d batches: %s; the next maintenance tick tries again",
            report.pruned, report.batches, report.error,
        )  # fmt: skip
    elif report.pruned:
        log.info(
            "pruned %d closed canaries older than the retention in %d batches (%.1f s, longest lock %.1f ms)",
            report.pruned, report.batches, report.seconds, held,
        )  # fmt: skip


def _log_unexpected(task: asyncio.Task[PruneReport]) -> None:
    # A run that failed otherwise than with a LedgerError is a bug: shown, never lost in the task.
    if not task.cancelled() and (failure := task.exception()) is not None:
        log.error("ledger prune failed unexpectedly: %r", failure, exc_info=failure)
