"""How a canary record is laid out in the ledger's tables, and read back from them.

``canaries`` holds one row per canary (every field of :class:`~probe.lifecycle.record.CanaryRecord`, one
column per hop); ``counters`` holds the totals of :func:`probe.lifecycle.counters.counter_keys` per route,
kept in the same transaction as the rows they count, so a restart reads them instead of scanning history
and deleting old rows never changes them; ``route_latest`` (:mod:`probe.ledger.latest`) keeps each
route's newest canaries the same way. Every question the engine asks at start and per tick is answered
by one of those tables or an index, never by a scan of the history (see the indexes in :data:`SCHEMA`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.incidents_sql import INCIDENTS_SCHEMA
from probe.ledger.latest import ROUTE_LATEST
from probe.lifecycle.counters import CounterKey
from probe.lifecycle.record import CanaryRecord, State

SCHEMA_VERSION = 6
HOP_COLUMNS = {hop: f"hop_{hop.value}" for hop in Hop}
# When each hop was due (its bound for this canary, fixed when it was sent): one column per hop too.
DUE_COLUMNS = {hop: f"due_{hop.value}" for hop in Hop}

LedgerCount = tuple[str, str, str, str, str, str]
"""(counter name, channel, municipality, vendor, label_a, label_b): one counter of one route; label_a and
label_b carry the verdict, the hop and owner, or the reason (empty when the counter has fewer labels)."""

CANARIES = f"""
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
    diagnostics TEXT,
    cleanup_failed_at REAL,
    {", ".join(f"{column} REAL" for column in DUE_COLUMNS.values())},
    history TEXT
)"""
COUNTERS = """
CREATE TABLE IF NOT EXISTS counters (
    metric TEXT NOT NULL,
    channel TEXT NOT NULL,
    municipality TEXT NOT NULL,
    vendor TEXT NOT NULL,
    label_a TEXT NOT NULL DEFAULT '',
    label_b TEXT NOT NULL DEFAULT '',
    value INTEGER NOT NULL,
    PRIMARY KEY (metric, channel, municipality, vendor, label_a, label_b)
)"""
# Closed canaries by age: what pruning deletes, oldest first, found without reading the rest. Partial, so
# a row enters it once, when it closes, and the open ones (which are updated every tick) never do.
CLOSED_BY_AGE = (
    f"CREATE INDEX IF NOT EXISTS canaries_closed ON canaries (created_at) WHERE state = '{State.CLOSED}'"
)
SCHEMA = (
    CANARIES,
    # The open canaries (a restart resumes them): a few per route among millions of rows.
    f"CREATE INDEX IF NOT EXISTS canaries_open ON canaries (state) WHERE state != '{State.CLOSED}'",
    # A route's canaries in creation order: how route_latest is backfilled, and a route's history.
    "CREATE INDEX IF NOT EXISTS canaries_route ON canaries (channel, municipality, created_at)",
    CLOSED_BY_AGE,
    COUNTERS,
    ROUTE_LATEST,
    *INCIDENTS_SCHEMA,
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

COLUMNS = (
    "id", "channel", "municipality", "vendor", "bydel", "final_hop", "created_at", "deadline_at", "state",
    "upstream_id", "unconfirmed", "marker", *HOP_COLUMNS.values(), "last_status", "status_ok_at",
    "readback_ok_at", "verdict", "verdict_at", "blamed_hop", "blamed_owner", "failure_reason", "late_at",
    "duplicate", "cleaned_at", "api_version", "diagnostics", "cleanup_failed_at", *DUE_COLUMNS.values(),
    "history",
)  # fmt: skip
UPSERT = (
    f"INSERT INTO canaries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS[1:])}"
)
ADD_COUNT = (
    "INSERT INTO counters (metric, channel, municipality, vendor, label_a, label_b, value) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = value + excluded.value"
)


def ledger_count(record: CanaryRecord, key: CounterKey) -> LedgerCount:
    """Where one counter key of ``record`` is kept."""
    name, labels = key
    padded = (*labels, "", "")[:2]
    return (name, record.channel.value, record.municipality, record.vendor, padded[0], padded[1])


def to_row(record: CanaryRecord) -> tuple[object, ...]:
    """The ``canaries`` row of ``record``, in :data:`COLUMNS` order."""
    return (
        record.id, record.channel.value, record.municipality, record.vendor, record.bydel,
        record.final_hop.value, record.created_at, record.deadline_at, record.state.value, record.upstream_id,
        int(record.unconfirmed), record.marker, *(record.hops.get(hop) for hop in HOP_COLUMNS),
        record.last_status, record.status_ok_at, record.readback_ok_at,
        record.verdict.value if record.verdict else None, record.verdict_at,
        record.blamed_hop.value if record.blamed_hop else None,
        record.blamed_owner.value if record.blamed_owner else None, record.failure_reason, record.late_at,
        int(record.duplicate), record.cleaned_at, record.api_version, record.diagnostics,
        record.cleanup_failed_at, *(record.due.get(hop) for hop in DUE_COLUMNS), record.history,
    )  # fmt: skip


def from_row(row: sqlite3.Row | Mapping[str, Any]) -> CanaryRecord:
    """The record a ``canaries`` row holds (an SQLite row, or PostgreSQL's as a dict: same columns)."""
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
        state=State(row["state"]),
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
        cleanup_failed_at=row["cleanup_failed_at"],
        due={hop: row[column] for hop, column in DUE_COLUMNS.items() if _has(row, column)},
        history=row["history"] if _has(row, "history") else None,
    )


def _has(row: sqlite3.Row | Mapping[str, Any], column: str) -> bool:
    """Whether ``row`` has a value in ``column`` (rows of older schemas, read while migrating, lack it)."""
    try:
        return row[column] is not None
    except (IndexError, KeyError):
        return False
