"""The canary ledger: one SQLite row per canary with every hop's time, the verdict and the evidence.

Durability is the point: the intent to send is committed *before* the send, every transition is
committed before its metric moves, and the database runs in WAL mode with ``synchronous=FULL`` so a
committed row survives a power cut. Writes are grouped into one transaction per engine tick (many rows,
one fsync), which keeps the cost per canary low without weakening that order.

States of a row::

    intent     committed before sending; the send's answer is not recorded yet
    in_flight  sent (``upstream_id`` known), or ``unconfirmed``: a portal send whose answer was lost
    resolved   has a verdict; still watched for a late arrival (lost/unknown) or awaiting cleanup
    closed     nothing left to do
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from probe.errors import LedgerError
from probe.hops import Channel, Hop, Owner, Verdict

SCHEMA_VERSION = 2
HOP_COLUMNS = {hop: f"hop_{hop.value}" for hop in Hop}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS canaries (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    municipality TEXT NOT NULL,
    vendor TEXT NOT NULL,
    bydel TEXT,
    final_hop TEXT NOT NULL,
    created_at REAL NOT NULL,
    deadline_at REAL NOT NULL,
    state TEXT NOT NULL,
    upstream_id TEXT,
    unconfirmed INTEGER NOT NULL DEFAULT 0,
    marker TEXT NOT NULL,
    {", ".join(f"{column} REAL" for column in HOP_COLUMNS.values())},
    last_status TEXT,
    status_ok_at REAL,
    readback_ok_at REAL,
    verdict TEXT,
    verdict_at REAL,
    blamed_hop TEXT,
    blamed_owner TEXT,
    failure_reason TEXT,
    late_at REAL,
    duplicate INTEGER NOT NULL DEFAULT 0,
    cleaned_at REAL,
    api_version TEXT,
    diagnostics TEXT
);
CREATE INDEX IF NOT EXISTS canaries_open ON canaries (state) WHERE state != 'closed';
CREATE INDEX IF NOT EXISTS canaries_route ON canaries (channel, municipality, created_at);
CREATE TABLE IF NOT EXISTS archived_counts (
    metric TEXT NOT NULL,
    channel TEXT NOT NULL,
    municipality TEXT NOT NULL,
    vendor TEXT NOT NULL,
    label_a TEXT NOT NULL DEFAULT '',
    label_b TEXT NOT NULL DEFAULT '',
    value INTEGER NOT NULL,
    PRIMARY KEY (metric, channel, municipality, vendor, label_a, label_b)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Each schema version's changes, applied in order to a ledger written by an older Kanari.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE canaries ADD COLUMN api_version TEXT",
        "ALTER TABLE canaries ADD COLUMN diagnostics TEXT",
    ),
}


@dataclasses.dataclass(slots=True)
class CanaryRecord:
    """A canary's ledger row, held in memory by the engine while it is not closed."""

    id: str
    channel: Channel
    municipality: str
    vendor: str
    bydel: str | None
    final_hop: Hop
    created_at: float
    deadline_at: float
    marker: str
    state: str = "intent"
    upstream_id: str | None = None
    unconfirmed: bool = False
    hops: dict[Hop, float] = dataclasses.field(default_factory=dict)
    last_status: str | None = None
    status_ok_at: float | None = None
    readback_ok_at: float | None = None
    verdict: Verdict | None = None
    verdict_at: float | None = None
    blamed_hop: Hop | None = None
    blamed_owner: Owner | None = None
    failure_reason: str | None = None
    late_at: float | None = None
    duplicate: bool = False
    cleaned_at: float | None = None
    # The portal's report version the canary was sent in (asked again in it when following).
    api_version: str | None = None
    # What upstreams said about a failure (bounded, never a secret; see probe.diagnostics).
    diagnostics: str | None = None

    @property
    def route_key(self) -> tuple[Channel, str]:
        """(channel, kommunenummer)."""
        return (self.channel, self.municipality)


_COLUMNS = (
    "id", "channel", "municipality", "vendor", "bydel", "final_hop", "created_at", "deadline_at", "state",
    "upstream_id", "unconfirmed", "marker", *HOP_COLUMNS.values(), "last_status", "status_ok_at",
    "readback_ok_at", "verdict", "verdict_at", "blamed_hop", "blamed_owner", "failure_reason", "late_at",
    "duplicate", "cleaned_at", "api_version", "diagnostics",
)  # fmt: skip
_UPSERT = (
    f"INSERT INTO canaries ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COLUMNS[1:])}"
)


def _to_row(record: CanaryRecord) -> tuple[object, ...]:
    return (
        record.id, record.channel.value, record.municipality, record.vendor, record.bydel,
        record.final_hop.value, record.created_at, record.deadline_at, record.state, record.upstream_id,
        int(record.unconfirmed), record.marker, *(record.hops.get(hop) for hop in HOP_COLUMNS),
        record.last_status, record.status_ok_at, record.readback_ok_at,
        record.verdict.value if record.verdict else None, record.verdict_at,
        record.blamed_hop.value if record.blamed_hop else None,
        record.blamed_owner.value if record.blamed_owner else None, record.failure_reason, record.late_at,
        int(record.duplicate), record.cleaned_at, record.api_version, record.diagnostics,
    )  # fmt: skip


def _from_row(row: sqlite3.Row) -> CanaryRecord:
    return CanaryRecord(
        id=row["id"],
        channel=Channel(row["channel"]),
        municipality=row["municipality"],
        vendor=row["vendor"],
        bydel=row["bydel"],
        final_hop=Hop(row["final_hop"]),
        created_at=row["created_at"],
        deadline_at=row["deadline_at"],
        marker=row["marker"],
        state=row["state"],
        upstream_id=row["upstream_id"],
        unconfirmed=bool(row["unconfirmed"]),
        hops={hop: row[column] for hop, column in HOP_COLUMNS.items() if row[column] is not None},
        last_status=row["last_status"],
        status_ok_at=row["status_ok_at"],
        readback_ok_at=row["readback_ok_at"],
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        verdict_at=row["verdict_at"],
        blamed_hop=Hop(row["blamed_hop"]) if row["blamed_hop"] else None,
        blamed_owner=Owner(row["blamed_owner"]) if row["blamed_owner"] else None,
        failure_reason=row["failure_reason"],
        late_at=row["late_at"],
        duplicate=bool(row["duplicate"]),
        cleaned_at=row["cleaned_at"],
        api_version=row["api_version"],
        diagnostics=row["diagnostics"],
    )


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
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
            else:
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS.get(version, ()):
                        db.execute(statement)
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

    def save(self, records: Iterable[CanaryRecord]) -> None:
        """Write ``records`` (new or changed) in one transaction."""
        rows = [_to_row(record) for record in records]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(_UPSERT, rows)
        self.writes += len(rows)

    def open_records(self) -> list[CanaryRecord]:
        """Every canary that is not closed, oldest first (what a restart resumes)."""
        return self._select("SELECT * FROM canaries WHERE state != 'closed' ORDER BY created_at")

    def get(self, canary_id: str) -> CanaryRecord | None:
        """One canary by id."""
        records = self._select("SELECT * FROM canaries WHERE id = ?", (canary_id,))
        return records[0] if records else None

    def all_records(self) -> list[CanaryRecord]:
        """Every row (tests and ``kanari status`` on small ledgers)."""
        return self._select("SELECT * FROM canaries ORDER BY created_at")

    def _select(self, query: str, parameters: tuple[object, ...] = ()) -> list[CanaryRecord]:
        try:
            return [_from_row(row) for row in self._db.execute(query, parameters)]
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
        return self._newest_per_route("verdict = 'delivered'")

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

    def counts(self) -> dict[tuple[str, str, str, str, str, str], int]:
        """Counter totals rebuilt from the ledger (live rows plus archived totals), keyed by
        (metric, channel, municipality, vendor, label_a, label_b). Metric names are the counter names
        of :mod:`probe.metrics` without prefix; label_a/label_b carry verdict, hop/owner or reason."""
        totals: dict[tuple[str, str, str, str, str, str], int] = {}
        for row in self._rows(
            "SELECT metric, channel, municipality, vendor, label_a, label_b, value FROM archived_counts"
        ):
            key = (
                row["metric"],
                row["channel"],
                row["municipality"],
                row["vendor"],
                row["label_a"],
                row["label_b"],
            )
            totals[key] = totals.get(key, 0) + row["value"]
        for key, value in self._live_counts():
            totals[key] = totals.get(key, 0) + value
        return totals

    def _live_counts(
        self, scope: str = "1", parameters: tuple[object, ...] = ()
    ) -> list[tuple[tuple[str, str, str, str, str, str], int]]:
        # These conditions are the ledger side of ``probe.metrics.counter_keys``; a test holds them equal.
        route = "channel, municipality, vendor"
        queries = {
            "sent": ("'', ''", "state != 'intent'", ""),
            "send_failures": ("failure_reason, ''", "failure_reason IS NOT NULL", ", failure_reason"),
            "resolved": ("verdict, ''", "verdict IS NOT NULL", ", verdict"),
            "undelivered": (
                "blamed_hop, blamed_owner",
                "verdict IN ('lost', 'failed')",
                ", blamed_hop, blamed_owner",
            ),
            "late_arrivals": ("'', ''", "late_at IS NOT NULL", ""),
            "duplicates": ("'', ''", "duplicate = 1", ""),
            "rejections": ("'', ''", "verdict = 'failed' AND failure_reason IS NULL", ""),
        }
        counts = []
        for metric, (labels, condition, group) in queries.items():
            query = (
                f"SELECT {route}, {labels}, COUNT(*) FROM canaries "
                f"WHERE ({scope}) AND {condition} GROUP BY {route}{group}"
            )
            for channel, municipality, vendor, label_a, label_b, count in self._rows(query, parameters):
                counts.append(((metric, channel, municipality, vendor, label_a, label_b), count))
        return counts

    def prune(self, older_than: float) -> int:
        """Fold closed canaries created before ``older_than`` into ``archived_counts`` and delete them,
        in one transaction, so rebuilt counters never go backwards."""
        scope = "state = 'closed' AND created_at < ?"
        with self._transaction() as db:
            for key, value in self._live_counts(scope, (older_than,)):
                db.execute(
                    "INSERT INTO archived_counts "
                    "(metric, channel, municipality, vendor, label_a, label_b, value) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET value = value + excluded.value",
                    (*key, value),
                )
            deleted: int = db.execute(f"DELETE FROM canaries WHERE {scope}", (older_than,)).rowcount
        return deleted

    def _rows(self, query: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(query, parameters))
        except sqlite3.Error as error:
            raise LedgerError(f"ledger read failed: {error}") from None
