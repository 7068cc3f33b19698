"""Deleting closed canaries older than the retention, in transactions short enough to go unnoticed.

SQLite has one writer at a time, also in WAL mode: while a prune holds the write lock, the engine's
next commit waits for it (``busy_timeout``), on the event loop. One ``DELETE`` of everything old held
the lock for seconds with a backlog, and scanned the whole table even with nothing to delete. Here a
:class:`Pruner` deletes at most ``rows`` canaries per transaction, a ``CHUNK`` per statement, and stops
early once the transaction has held the lock for its ``budget``: the engine waits at most about that
long. The oldest closed canaries are found through the partial index ``canaries_closed`` (closed rows by
creation time), so a batch reads only what it deletes, and nothing when there is nothing to delete.

What is deleted: closed canaries created before the cutoff, except each route's newest delivered and
newest resolved canary, which ``route_latest`` names (:mod:`probe.ledger.latest`): the last-delivery
gauges and ``kanari status`` are rebuilt from them after a restart, however long the route has been
silent. Counters are never touched: they are totals kept apart from the rows.

A :class:`Pruner` works on any connection: the engine's own (:meth:`probe.ledger.sqlite.Ledger.prune`)
or one of its own (:meth:`Pruner.open`), which :class:`probe.engine.maintenance.Maintenance` uses from a
worker thread so that the deleting never runs on the event loop.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from probe.errors import LedgerError
from probe.ledger.opening import check_schema, read_schema
from probe.lifecycle.record import State

# The most rows one transaction deletes, and how many each statement asks for: between statements the
# time budget is looked at, so a transaction overruns its budget by at most one statement. A deleted
# row costs about two page writes whatever the batch (its entry in the id index is on a random page,
# and its route's entry on one of as many pages as there are routes): 50 rows are 2-5 ms.
PRUNE_ROWS = 2_000
CHUNK = 50

_DELETE_CHUNK = (
    "DELETE FROM canaries WHERE rowid IN ("
    f"SELECT rowid FROM canaries WHERE state = '{State.CLOSED}' AND created_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM route_latest AS r WHERE r.channel = canaries.channel "
    "AND r.municipality = canaries.municipality AND canaries.id IN (r.delivered_id, r.resolved_id)) "
    "ORDER BY created_at LIMIT ?)"
)


@dataclasses.dataclass(frozen=True)
class Batch:
    """What one prune transaction did: rows deleted, seconds it held the write lock (from taking it to
    the end of the commit), and whether nothing older than the cutoff is left to delete."""

    deleted: int
    held: float
    done: bool


class Pruner:
    """Deletes closed canaries older than a cutoff, one short transaction per :meth:`batch`.

    ``db`` must be in autocommit mode (``isolation_level=None``): the pruner takes and ends its own
    transactions. Calls must not overlap (one thread at a time).
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        rows: int = PRUNE_ROWS,
        budget: float = math.inf,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if rows < 1:
            raise ValueError("a prune batch deletes at least one row")
        self._db = db
        # Only a connection :meth:`open` made is the pruner's to close.
        self._owned = False
        self._rows = rows
        self._budget = budget
        self._timer = timer

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        busy_timeout: float = 5.0,
        rows: int = PRUNE_ROWS,
        budget: float = math.inf,
        timer: Callable[[], float] = time.perf_counter,
    ) -> Pruner:
        """A pruner with a connection of its own to the ledger at ``path``, which the probe has opened
        (and migrated) already: a ledger of any other schema is refused as unusable, untouched."""
        try:
            # mode=rw: a missing file is an error here, never a new empty database.
            db = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=rw", uri=True, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise LedgerError(f"cannot open ledger {path} for pruning: {error}") from None
        try:
            db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            # NORMAL, not the engine's FULL: a deletion lost in a power cut is made again at the next
            # prune, and the fsync FULL adds to every commit would be taken while holding the lock.
            # Checkpoints still sync (NORMAL does), so the engine's committed rows they copy stay safe.
            db.execute("PRAGMA synchronous=NORMAL")
            # Successive batches touch neighbouring pages of the indexes: keep them (32 MB).
            db.execute("PRAGMA cache_size=-32768")
            # No checkpoint inside a commit (that time would count as holding the lock): whoever prunes
            # through this connection calls :meth:`checkpoint` after its batches.
            db.execute("PRAGMA wal_autocheckpoint=0")
            check_schema(read_schema(db, path, action="prune"), path, migrating=False, action="prune")
        except sqlite3.Error as error:
            db.close()
            raise LedgerError(f"cannot open ledger {path} for pruning: {error}") from None
        except BaseException:
            db.close()
            raise
        pruner = cls(db, rows=rows, budget=budget, timer=timer)
        pruner._owned = True
        return pruner

    def batch(self, older_than: float) -> Batch:
        """Delete up to ``rows`` prunable canaries created before ``older_than`` in one transaction,
        oldest first, ending it early once it has held the lock for the budget."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            started = self._timer()
            deleted, done = 0, False
            try:
                while not done and deleted < self._rows:
                    wanted = min(CHUNK, self._rows - deleted)
                    got: int = db.execute(_DELETE_CHUNK, (older_than, wanted)).rowcount
                    deleted += got
                    done = got < wanted
                    if self._timer() - started >= self._budget:
                        break
            except BaseException:
                # SQLite may have rolled back already (a full disk): a second ROLLBACK would hide why.
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return Batch(deleted, self._timer() - started, done)
        except sqlite3.Error as error:
            raise LedgerError(f"ledger prune failed: {error}") from None

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, without waiting for or blocking writers
        (``PASSIVE``). Done right after each batch, the WAL is copied before the engine's next commit
        would cross SQLite's automatic threshold (1 000 pages) and do it, on the event loop; the next
        writer then starts the WAL from its beginning again, so it stays a few MB."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            raise LedgerError(f"ledger checkpoint failed: {error}") from None

    def close(self) -> None:
        """Close the connection :meth:`open` made (a connection given to the pruner stays open)."""
        if self._owned:
            self._db.close()
