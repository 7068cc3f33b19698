"""Each route's newest canaries, kept in ``route_latest`` so that a restart reads one row per route.

At start the engine asks, per route, where the schedule resumes (the newest canary's creation), which
report version the route is sent in (its newest canary sent in one) and which canary was delivered last
(to rebuild the last-delivery gauges); ``kanari status`` asks for the newest resolved one. Derived from
the ``canaries`` rows, each of those is a scan of the whole history: a minute or more at 20 000 routes
and 30 days. ``route_latest`` keeps the answers instead, updated by :meth:`~probe.ledger.sqlite.Ledger.
save` in the same transaction as the rows, so it always says what the committed rows say.

It keeps ids, not copies: the delivered and resolved canaries it names stay in ``canaries``, and
:mod:`probe.ledger.pruning` never deletes them, so a route broken for longer than the retention still
shows its last delivery after a restart (the gauge an alert on a silent route reads).

"Newest" is by creation time, as it was when these were window queries over the rows (ties: the one
saved last). A record's version and verdict, once set, are never cleared (:mod:`probe.lifecycle.record`),
so a saved record only ever moves a route's answers forward.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable

from probe.hops import Verdict
from probe.lifecycle.record import CanaryRecord

ROUTE_LATEST = """
CREATE TABLE IF NOT EXISTS route_latest (
    channel TEXT NOT NULL,
    municipality TEXT NOT NULL,
    created_at REAL NOT NULL,
    api_version TEXT,
    version_created_at REAL,
    delivered_id TEXT,
    delivered_created_at REAL,
    resolved_id TEXT,
    resolved_created_at REAL,
    PRIMARY KEY (channel, municipality)
) WITHOUT ROWID"""

COLUMNS = (
    "channel", "municipality", "created_at", "api_version", "version_created_at", "delivered_id",
    "delivered_created_at", "resolved_id", "resolved_created_at",
)  # fmt: skip


def _set_if_newer(value: str, created: str) -> str:
    # ``excluded.created >= created`` is NULL (false) when the saved batch has no such canary, and the
    # COALESCE makes it true when the route had none yet. SET expressions read the row as it was.
    return (
        f"{value} = CASE WHEN excluded.{created} >= COALESCE({created}, excluded.{created}) "
        f"THEN excluded.{value} ELSE {value} END"
    )


# Each column that an upsert sets only when the saved canary is newer, and the time that decides it.
NEWER = (
    ("api_version", "version_created_at"),
    ("version_created_at", "version_created_at"),
    ("delivered_id", "delivered_created_at"),
    ("delivered_created_at", "delivered_created_at"),
    ("resolved_id", "resolved_created_at"),
    ("resolved_created_at", "resolved_created_at"),
)
# The newer of what the route_latest row holds and what is inserted wins, column pair by column pair.
UPSERT_LATEST = (
    f"INSERT INTO route_latest ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (channel, municipality) DO UPDATE SET created_at = MAX(created_at, excluded.created_at), "
    + ", ".join(_set_if_newer(value, created) for value, created in NEWER)
)

# What each question was as a query over the rows (the backfill asks them once per route).
_NEWEST = (
    "SELECT {what} FROM canaries WHERE channel = ? AND municipality = ? AND {condition} "
    "ORDER BY created_at DESC LIMIT 1"
)
_VERSIONED = _NEWEST.format(what="api_version, created_at", condition="api_version IS NOT NULL")
_DELIVERED = _NEWEST.format(what="id, created_at", condition=f"verdict = '{Verdict.DELIVERED}'")
_RESOLVED = _NEWEST.format(what="id, created_at", condition="verdict IS NOT NULL")
# The next route in the (channel, municipality, created_at) index after a given one: one seek each, so
# finding every route costs one seek per route instead of a scan of every row.
_FIRST_ROUTE = "SELECT channel, municipality FROM canaries ORDER BY channel, municipality LIMIT 1"
_NEXT_ROUTE = (
    "SELECT channel, municipality FROM canaries WHERE (channel, municipality) > (?, ?) "
    "ORDER BY channel, municipality LIMIT 1"
)
_CREATED = "SELECT MAX(created_at) FROM canaries WHERE channel = ? AND municipality = ?"


@dataclasses.dataclass(slots=True)
class _Newest:
    """One route's newest canaries among those being saved: creation time and what each names."""

    created_at: float
    version: tuple[float, str] | None = None
    delivered: tuple[float, str] | None = None
    resolved: tuple[float, str] | None = None

    def row(self, channel: str, municipality: str) -> tuple[object, ...]:
        version, delivered, resolved = (
            found or (None, None) for found in (self.version, self.delivered, self.resolved)
        )
        return (
            channel, municipality, self.created_at, version[1], version[0], delivered[1], delivered[0],
            resolved[1], resolved[0],
        )  # fmt: skip


def _newer(held: tuple[float, str] | None, created_at: float, value: str) -> tuple[float, str]:
    return (created_at, value) if held is None or created_at >= held[0] else held


def updates(records: Iterable[CanaryRecord]) -> list[tuple[object, ...]]:
    """The ``route_latest`` rows (for :data:`UPSERT_LATEST`) that saving ``records`` brings: per route,
    the newest of them, the newest sent in a version, the newest delivered and the newest resolved."""
    routes: dict[tuple[str, str], _Newest] = {}
    for record in records:
        key = (record.channel.value, record.municipality)
        created = record.created_at
        newest = routes.get(key)
        if newest is None:
            newest = routes[key] = _Newest(created)
        newest.created_at = max(newest.created_at, created)
        if record.api_version is not None:
            newest.version = _newer(newest.version, created, record.api_version)
        if record.verdict is Verdict.DELIVERED:
            newest.delivered = _newer(newest.delivered, created, record.id)
        if record.verdict is not None:
            newest.resolved = _newer(newest.resolved, created, record.id)
    return [newest.row(*key) for key, newest in routes.items()]


def backfill(db: sqlite3.Connection) -> int:
    """Fill ``route_latest`` from the ``canaries`` rows (the migration to schema 4, and a ledger written
    without the probe); returns the number of routes.

    Every question is a seek per route in the route index, reading back from its newest canary until
    one fits: one or two rows for most, every row of a route that has none (no report version on an
    Altinn route). Measured on synthetic 30-day ledgers, cold: 5 s for 714 routes, 43 s for 5 000, most
    of it those full routes; one pass over every row (through a sort, or aggregating in this table) was
    slower (46 s and 57 s for 5 000 routes). It runs once, at the first start of this schema.
    """
    rows = []
    key = db.execute(_FIRST_ROUTE).fetchone()
    while key is not None:
        route = (key[0], key[1])
        (created,) = db.execute(_CREATED, route).fetchone()
        versioned = db.execute(_VERSIONED, route).fetchone() or (None, None)
        delivered = db.execute(_DELIVERED, route).fetchone() or (None, None)
        resolved = db.execute(_RESOLVED, route).fetchone() or (None, None)
        rows.append((*route, created, *versioned, *delivered, *resolved))
        key = db.execute(_NEXT_ROUTE, route).fetchone()
    db.executemany(UPSERT_LATEST, rows)
    return len(rows)
