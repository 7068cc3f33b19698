"""The canary ledger: one SQLite row per canary with every hop's time, the verdict and the evidence, and
the canary counters kept beside them.

Durability is the point: the intent to send is committed *before* the send, every transition is
committed before its metric moves, and the database runs in WAL mode with ``synchronous=FULL`` so a
committed row survives a power cut. Writes are grouped into one transaction per engine tick (many rows,
one fsync), which keeps the cost per canary low without weakening that order. The counters a change adds
(:func:`probe.lifecycle.counters.counter_keys`) are written in the same transaction, so the totals a
restart reads are exactly those of the committed rows. Table layout: :mod:`probe.ledger.rows`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from probe.errors import LedgerError
from probe.hops import Channel, Verdict
from probe.ledger.rows import (
    ADD_COUNT,
    COUNTERS,
    SCHEMA,
    SCHEMA_VERSION,
    UPSERT,
    LedgerCount,
    from_row,
    ledger_count,
    to_row,
)
from probe.lifecycle.counters import counter_keys
from probe.lifecycle.record import CanaryRecord, State


def _add_evidence_columns(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE canaries ADD COLUMN api_version TEXT")
    db.execute("ALTER TABLE canaries ADD COLUMN diagnostics TEXT")


def _maintained_counters(db: sqlite3.Connection) -> None:
    """Schema 2 kept totals of deleted rows in ``archived_counts`` and re-derived the rest from the rows
    with SQL of its own; schema 3 keeps every total in ``counters``: the archived ones, plus those of the
    rows there are, counted once here by the same :func:`counter_keys` the engine uses."""
    db.execute(COUNTERS)
    db.execute(
        "INSERT INTO counters (metric, channel, municipality, vendor, label_a, label_b, value) "
        "SELECT metric, channel, municipality, vendor, label_a, label_b, value FROM archived_counts"
    )
    totals: dict[LedgerCount, int] = {}
    for row in db.execute("SELECT * FROM canaries"):
        record = from_row(row)
        for key in counter_keys(record):
            count = ledger_count(record, key)
            totals[count] = totals.get(count, 0) + 1
    db.executemany(ADD_COUNT, [(*count, value) for count, value in totals.items()])
    db.execute("DROP TABLE archived_counts")


# Each schema version's changes, applied in order to a ledger written by an older Kanari.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _add_evidence_columns,
    3: _maintained_counters,
}


class Ledger:
    """The SQLite ledger. One connection, used from the engine's event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writes = 0
        self.commits = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout=5000")
            # Before anything that writes (even switching to WAL rewrites the header): a newer
            # Kanari's ledger must be left exactly as it is.
            self._refuse_newer()
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before it returns, so "intent committed, then send" holds even
            # across a power cut, not only a process crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (sqlite3.Error, OSError) as error:
            raise LedgerError(f"cannot open ledger {path}: {error}") from None

    def _schema_version(self) -> int | None:
        db = self._db
        has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        row = (
            db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if has_meta else None
        )
        return int(row[0]) if row is not None else None

    def _refuse_newer(self) -> None:
        found = self._schema_version()
        if found is not None and found > SCHEMA_VERSION:
            self._db.close()
            raise LedgerError(
                f"ledger {self.path} was written by a newer Kanari (schema {found}, this one knows "
                f"{SCHEMA_VERSION}); refusing to touch it"
            )

    def _migrate(self) -> None:
        """Create the schema, or bring an older ledger up to :data:`SCHEMA_VERSION`, in one transaction."""
        db = self._db
        has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        row = (
            db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if has_meta else None
        )
        found = int(row[0]) if row is not None else None
        if found is not None and found > SCHEMA_VERSION:
            raise LedgerError(
                f"ledger {self.path} was written by a newer Kanari (schema {found}, this one knows "
                f"{SCHEMA_VERSION}); refusing to touch it"
            )
        db.execute("BEGIN IMMEDIATE")
        try:
            if found is None:
                # Statement by statement: ``executescript`` would commit the transaction first.
                for statement in SCHEMA:
                    db.execute(statement)
            else:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    _MIGRATIONS[version](db)
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as error:
            raise LedgerError(f"ledger write failed: {error}") from None

    def save(self, records: Iterable[CanaryRecord], counts: Mapping[LedgerCount, int] | None = None) -> None:
        """Write ``records`` (new or changed) and add ``counts`` to the counters, in one transaction."""
        rows = [to_row(record) for record in records]
        additions = [(*count, value) for count, value in (counts or {}).items() if value]
        if not rows and not additions:
            return
        with self._transaction() as db:
            db.executemany(UPSERT, rows)
            db.executemany(ADD_COUNT, additions)
        self.writes += len(rows)

    def open_records(self) -> list[CanaryRecord]:
        """Every canary that is not closed, oldest first (what a restart resumes)."""
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

    def last_created(self) -> dict[tuple[Channel, str], float]:
        """The newest canary's creation time per route (where the schedule resumes)."""
        query = (
            "SELECT channel, municipality, MAX(created_at) AS newest FROM canaries "
            "GROUP BY channel, municipality"
        )
        return {(Channel(row["channel"]), row["municipality"]): row["newest"] for row in self._rows(query)}

    def latest_versions(self) -> dict[tuple[Channel, str], str]:
        """The API version of each route's newest canary that was sent in one (``kanari_route_info``)."""
        return {
            record.route_key: record.api_version
            for record in self._newest_per_route("api_version IS NOT NULL")
            if record.api_version
        }

    def newest_delivered(self) -> list[CanaryRecord]:
        """The newest delivered canary of each route (to rebuild the last-delivery gauges)."""
        return self._newest_per_route(f"verdict = '{Verdict.DELIVERED}'")

    def latest_per_route(self) -> dict[tuple[Channel, str], list[CanaryRecord]]:
        """Per route: its unresolved canaries and its newest resolved one, newest first (``status``)."""
        records = self._newest_per_route("verdict IS NOT NULL")
        records += self._select("SELECT * FROM canaries WHERE verdict IS NULL")
        result: dict[tuple[Channel, str], list[CanaryRecord]] = {}
        for record in sorted(records, key=lambda r: r.created_at, reverse=True):
            result.setdefault(record.route_key, []).append(record)
        return result

    def _newest_per_route(self, condition: str) -> list[CanaryRecord]:
        return self._select(
            "SELECT * FROM (SELECT *, ROW_NUMBER() OVER "
            "(PARTITION BY channel, municipality ORDER BY created_at DESC) AS newest "
            f"FROM canaries WHERE {condition}) WHERE newest = 1"
        )

    def counts(self) -> dict[LedgerCount, int]:
        """Every counter's total (the engine restores its metrics from them at start)."""
        return {
            (row[0], row[1], row[2], row[3], row[4], row[5]): int(row[6])
            for row in self._rows(
                "SELECT metric, channel, municipality, vendor, label_a, label_b, value FROM counters"
            )
        }

    def prune(self, older_than: float) -> int:
        """Delete closed canaries created before ``older_than``; their counts stay in the counters."""
        with self._transaction() as db:
            deleted: int = db.execute(
                f"DELETE FROM canaries WHERE state = '{State.CLOSED}' AND created_at < ?", (older_than,)
            ).rowcount
        return deleted

    def _rows(self, query: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(query, parameters))
        except sqlite3.Error as error:
            raise LedgerError(f"ledger read failed: {error}") from None
