"""The canary ledger: one SQLite row per canary with every hop's time, the verdict and the evidence, and
the canary counters kept beside them.

Durability is the point: the intent to send is committed *before* the send, every transition is
committed before its metric moves, and the database runs in WAL mode with ``synchronous=FULL`` so a
committed row survives a power cut. Writes are grouped into one transaction per engine tick (many rows,
one fsync), which keeps the cost per canary low without weakening that order. The counters a change adds
(:func:`probe.lifecycle.counters.counter_keys`) are written in the same transaction, so the totals a
restart reads are exactly those of the committed rows, and so are each route's newest canaries in
``route_latest`` (:mod:`probe.ledger.latest`): what the engine reads at start is one row per route or an
index range, never the history. Pruning deletes in short batches (:mod:`probe.ledger.pruning`). Table
layout: :mod:`probe.ledger.rows`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from probe.errors import LedgerError, LedgerUnusableError
from probe.hops import Channel, Verdict
from probe.ledger import history, incidents_sql, latest
from probe.ledger.incident_reads import IncidentReads
from probe.ledger.lock import LedgerLock
from probe.ledger.migrations import migrate
from probe.ledger.opening import check_schema, connect_read_only, prepare, read_schema
from probe.ledger.pruning import PRUNE_ROWS, Pruner
from probe.ledger.rows import ADD_COUNT, SCHEMA_VERSION, UPSERT, LedgerCount, from_row, to_row
from probe.lifecycle.incidents import TrackedIncident
from probe.lifecycle.record import CanaryRecord, State


class Ledger(IncidentReads):
    """The SQLite ledger. One connection, used from the engine's event loop.

    Opening checks the place and the file before anything is written (:mod:`probe.ledger.opening`):
    every problem is a :class:`~probe.errors.LedgerUnusableError` naming the path, what is wrong and what
    to do; a newer Kanari's ledger is refused untouched, an older one is migrated in one transaction.
    ``read_only`` (:meth:`open_read_only`) opens an existing ledger without creating or changing anything.
    A read-write open holds the ledger's lock (:mod:`probe.ledger.lock`) until :meth:`close`: a second
    probe on the same ledger is refused before anything is written.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.writes = 0
        self.commits = 0
        # False only for a read-only look that could not read through the -wal (see connect_read_only).
        self.complete = True
        self._lock: LedgerLock | None = None
        try:
            self._db = self._open_read_only() if read_only else self._open()
        except (sqlite3.Error, OSError) as error:
            raise LedgerError(f"cannot open ledger {path}: {error}") from None

    @classmethod
    def open_read_only(cls, path: Path) -> Ledger:
        """The existing ledger at ``path``, for reading only (``kanari status``): a missing file is an
        error rather than a new ledger, and a read-only file or directory is fine."""
        return cls(path, read_only=True)

    def _open_read_only(self) -> sqlite3.Connection:
        db, self.complete = connect_read_only(self.path)
        try:
            found = read_schema(db, self.path, action="read")
            check_schema(found, self.path, migrating=False, action="read", whole=self.complete)
            db.execute("PRAGMA query_only=ON")
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection:
        # Every check that can be made without writing, before the read-write connection exists.
        prepare(self.path)
        # Then the lock, before the first write (a migration, WAL mode): a ledger in use stays untouched.
        self._lock = LedgerLock.acquire(self.path)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except BaseException:
            self._lock.release()
            raise
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=5000")
            # FULL: a commit is on disk before it returns, so "intent committed, then send" holds even
            # across a power cut, not only a process crash; set first, so the migration's commit is too.
            db.execute("PRAGMA synchronous=FULL")
            self._migrate(db)
            # After the migration, not before: switching to WAL rewrites the header, so an older ledger
            # whose migration fails must keep its own. A no-op on a ledger that is WAL already.
            db.execute("PRAGMA journal_mode=WAL")
        except BaseException:
            db.close()
            self._lock.release()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Create the schema, or bring an older ledger up to :data:`SCHEMA_VERSION`, in one transaction:
        a failure rolls every step back and leaves the ledger as it was."""
        db.execute("BEGIN IMMEDIATE")
        try:
            # Again under the write lock: another process may have changed the file since the look.
            found = read_schema(db, self.path)
            check_schema(found, self.path, migrating=True)
            if found != SCHEMA_VERSION:
                try:
                    migrate(db, found)
                except Exception as error:
                    if found is None:
                        raise
                    raise LedgerUnusableError(
                        str(self.path),
                        f"migrating it from schema {found} to {SCHEMA_VERSION} failed ({error}); "
                        "it is left as it was",
                        "keep a copy of the file and report this; this Kanari cannot use it as it is",
                    ) from None
        except BaseException:
            # SQLite may have rolled back already (a full disk does): do not hide the error behind
            # "no transaction is active".
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close the database, then give up its lock."""
        self._db.close()
        if self._lock is not None:
            self._lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # SQLite has already rolled back after some failures (a full disk): a second ROLLBACK
                # would fail and hide the cause.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as error:
            raise LedgerError(f"ledger write failed: {error}") from None

    def save(
        self,
        records: Iterable[CanaryRecord],
        counts: Mapping[LedgerCount, int] | None = None,
        incidents: Iterable[TrackedIncident] = (),
    ) -> None:
        """Write ``records`` (new or changed), add ``counts`` to the counters, move each route's newest
        canaries forward and write the ``incidents`` their verdicts changed, in one transaction."""
        saved = list(records)
        rows = [to_row(record) for record in saved]
        additions = [(*count, value) for count, value in (counts or {}).items() if value]
        incident_rows = [incidents_sql.to_row(tracked) for tracked in incidents]
        if not rows and not additions and not incident_rows:
            return
        with self._transaction() as db:
            db.executemany(UPSERT, rows)
            db.executemany(ADD_COUNT, additions)
            db.executemany(latest.UPSERT_LATEST, latest.updates(saved))
            db.executemany(incidents_sql.UPSERT_INCIDENT, incident_rows)
        self.writes += len(rows)

    def open_records(self) -> list[CanaryRecord]:
        """Every canary that is not closed, oldest first (what a restart resumes; the partial index
        ``canaries_open`` holds just those)."""
        return self._select(f"SELECT * FROM canaries WHERE state != '{State.CLOSED}' ORDER BY created_at")

    def _select(self, query: str, parameters: tuple[object, ...] = ()) -> list[CanaryRecord]:
        try:
            return [from_row(row) for row in self._db.execute(query, parameters)]
        except sqlite3.Error as error:
            raise LedgerError(f"ledger read failed: {error}") from None

    def writable(self) -> bool:
        """True if a write transaction can be taken now (``/readyz``)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def connected(self) -> bool:
        """True if the ledger takes writes (one probe per SQLite ledger: never a standby)."""
        return self.writable()

    def last_created(self) -> dict[tuple[Channel, str], float]:
        """The newest canary's creation time per route (where the schedule resumes)."""
        query = "SELECT channel, municipality, created_at FROM route_latest"
        return {(Channel(row[0]), row[1]): row[2] for row in self._rows(query)}

    def latest_versions(self) -> dict[tuple[Channel, str], str]:
        """The API version of each route's newest canary that was sent in one (``kanari_route_info``)."""
        query = "SELECT channel, municipality, api_version FROM route_latest WHERE api_version != ''"
        return {(Channel(row[0]), row[1]): row[2] for row in self._rows(query)}

    def newest_delivered(self) -> list[CanaryRecord]:
        """The newest delivered canary of each route (to rebuild the last-delivery gauges)."""
        return self._newest("delivered_id")

    def latest_per_route(self) -> dict[tuple[Channel, str], list[CanaryRecord]]:
        """Per route: its unresolved canaries and its newest resolved one, newest first (``status``)."""
        records = self._newest("resolved_id")
        # Unresolved means not closed too (a canary closes only once resolved): the partial index.
        records += self._select(f"SELECT * FROM canaries WHERE state != '{State.CLOSED}' AND verdict IS NULL")
        result: dict[tuple[Channel, str], list[CanaryRecord]] = {}
        for record in sorted(records, key=lambda r: r.created_at, reverse=True):
            result.setdefault(record.route_key, []).append(record)
        return result

    def _newest(self, column: str) -> list[CanaryRecord]:
        """The canaries ``route_latest`` names in ``column``, one lookup by id each."""
        # CROSS JOIN: SQLite then keeps this order (the small table outside, the id index inside).
        return self._select(
            f"SELECT canaries.* FROM route_latest CROSS JOIN canaries ON canaries.id = route_latest.{column}"
        )

    def latest_verdicts(self) -> dict[tuple[Channel, str], Verdict]:
        """Each route's newest verdict (:mod:`probe.ledger.history`)."""
        rows = self._rows(history.SQLITE_LATEST_VERDICTS)
        return {(Channel(row[0]), row[1]): Verdict(row[2]) for row in rows}

    def recent_canaries(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` canaries, newest first (:mod:`probe.ledger.history`)."""
        return self._select(history.SQLITE_RECENT, (channel.value, municipality, limit))

    def delivered_history(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` delivered canaries, newest first (:mod:`probe.ledger.history`)."""
        return self._select(history.SQLITE_DELIVERED, (channel.value, municipality, limit))

    def verdict_counts(
        self, routes: Iterable[tuple[Channel, str]], since: float
    ) -> dict[tuple[Channel, str], dict[Verdict, int]]:
        """Per route: its canaries created since ``since`` by verdict (:mod:`probe.ledger.history`)."""
        return {
            (channel, municipality): history.tally(
                (row[0], row[1])
                for row in self._rows(history.SQLITE_VERDICTS, (channel.value, municipality, since))
            )
            for channel, municipality in routes
        }

    def counts(self) -> dict[LedgerCount, int]:
        """Every counter's total (the engine restores its metrics from them at start)."""
        return {
            (row[0], row[1], row[2], row[3], row[4], row[5]): int(row[6])
            for row in self._rows(
                "SELECT metric, channel, municipality, vendor, label_a, label_b, value FROM counters"
            )
        }

    def prune(self, older_than: float, *, batch: int = PRUNE_ROWS) -> int:
        """Delete closed canaries created before ``older_than`` (:mod:`probe.ledger.pruning` says which),
        at most ``batch`` per transaction, on this connection; their counts stay in the counters. Returns
        how many. The running probe prunes from a worker thread instead
        (:class:`probe.engine.maintenance.Maintenance`): this waits for every batch."""
        pruner = Pruner(self._db, rows=batch)
        deleted = 0
        while True:
            batch_done = pruner.batch(older_than)
            deleted += batch_done.deleted
            self.commits += 1
            if batch_done.done:
                return deleted

    def _incident_rows(self, query: str, parameters: tuple[object, ...]) -> list[sqlite3.Row]:
        return self._rows(query, parameters)

    def _rows(self, query: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(query, parameters))
        except sqlite3.Error as error:
            raise LedgerError(f"ledger read failed: {error}") from None
