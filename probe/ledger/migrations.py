"""Bringing a ledger written by an older Kanari up to :data:`~probe.ledger.rows.SCHEMA_VERSION`.

Each schema version's changes are one function; :func:`migrate` applies those between the ledger's
version and this one on a connection whose transaction the caller holds, so a failure anywhere rolls
every step back and leaves the older ledger exactly as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from probe.ledger.incidents_sql import INCIDENTS_SCHEMA
from probe.ledger.latest import ROUTE_LATEST, backfill
from probe.ledger.rows import (
    ADD_COUNT,
    CLOSED_BY_AGE,
    COUNTERS,
    DUE_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    LedgerCount,
    from_row,
    ledger_count,
)
from probe.lifecycle.counters import counter_keys


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
    # The columns of later schemas are not there yet; from_row reads them as never set.
    for row in db.execute("SELECT *, NULL AS cleanup_failed_at FROM canaries"):
        record = from_row(row)
        for key in counter_keys(record):
            count = ledger_count(record, key)
            totals[count] = totals.get(count, 0) + 1
    db.executemany(ADD_COUNT, [(*count, value) for count, value in totals.items()])
    db.execute("DROP TABLE archived_counts")


def _route_latest(db: sqlite3.Connection) -> None:
    """Schema 4 answers the questions of a restart from ``route_latest`` instead of window queries over
    every row, and prunes through an index of closed canaries by age instead of a scan; both are built
    here from the rows there are (one index seek per route, one pass over the rows for the index). It
    also keeps when a canary's cleanup was given up (``cleanup_failed_at``, counted once)."""
    db.execute("ALTER TABLE canaries ADD COLUMN cleanup_failed_at REAL")
    db.execute(ROUTE_LATEST)
    backfill(db)
    db.execute(CLOSED_BY_AGE)


def _hop_bounds(db: sqlite3.Connection) -> None:
    """Schema 5 keeps, per canary, when each hop was due (the route's learned or configured bound when
    it was sent, office time converted to an instant). Older canaries had one deadline for every hop,
    which is what an empty column reads as (:func:`probe.lifecycle.verdict.due_at`)."""
    for column in DUE_COLUMNS.values():
        db.execute(f"ALTER TABLE canaries ADD COLUMN {column} REAL")


def _incidents(db: sqlite3.Connection) -> None:
    """Schema 6 keeps incidents (:mod:`probe.ledger.incidents_sql`) and each canary's last status
    history as received (``history``). Canaries judged before it have no incident: the table starts
    empty, and the first lost or failed canary after the upgrade opens one."""
    db.execute("ALTER TABLE canaries ADD COLUMN history TEXT")
    for statement in INCIDENTS_SCHEMA:
        db.execute(statement)


# Each schema version's changes, applied in order to a ledger written by an older Kanari.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _add_evidence_columns,
    3: _maintained_counters,
    4: _route_latest,
    5: _hop_bounds,
    6: _incidents,
}
# The oldest schema there is a path from: older ledgers are refused, never guessed at.
OLDEST_SCHEMA = min(MIGRATIONS) - 1


def migrate(db: sqlite3.Connection, found: int | None) -> None:
    """Create the schema (``found`` is ``None``: an empty database) or apply every migration after
    ``found``, then record :data:`SCHEMA_VERSION`. The caller holds the transaction (statement by
    statement: ``executescript`` would commit it first)."""
    if found is None:
        for statement in SCHEMA:
            db.execute(statement)
    else:
        for version in range(found + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](db)
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )
