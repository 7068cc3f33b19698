"""A synthetic ledger with weeks of history on many routes, written fast, for tests and the benchmark.

Production ledgers hold a canary per route every 15 minutes for the whole retention (30 days): 2 M rows
at 714 routes, tens of millions at 20 000. What the probe reads at start and what pruning deletes only
show their cost at that size, so this module writes such a ledger in seconds, not the days the probe
would take: SQLite writes the rows itself (one ``INSERT ... SELECT`` over the slots and the routes, no
row passes through Python), without a journal and without ``fsync`` (nothing here needs to survive a
power cut), in creation order as the probe writes them; the indexes other than the ids' are built once
at the end, by sorting. About 2 M rows a minute on a busy 2-core machine, and the statement releases
the GIL, so builds in threads of their own run side by side.

Every row is a real record: one :class:`~probe.lifecycle.record.CanaryRecord` per kind of route
(channel, final hop, report version) and kind of outcome (delivered, lost, lost then late, rejected,
send failure, unknown, duplicate, in flight) is laid out as a template (:mod:`bench.outcomes`), and each
canary is its template with the route's name, its own ids and its times. Which outcome a canary has is
drawn from a hash of its slot and route (seeded: the same arguments give the same ledger). The
``counters`` are those :func:`probe.lifecycle.counters.counter_keys` gives for exactly those canaries
and ``route_latest`` says what the rows say, so a ledger built here is one the probe could have
written. The newest canaries of each route are open as they would be at a restart: the newest in
flight, the one before still awaiting its cleanup where the route's final hop is ``registered``, and
the lost and unknown ones of the last day watched for a late arrival (the default ``late_window``).

Use::

    history = build(path, routes=714, days=30)   # a ledger of the current schema, ``route_latest`` filled
    history = build(path, routes=50, days=2, schema=3)  # as Kanari with schema 3 wrote it (to migrate)
    history = build(path, routes=routes_like(config.routes), days=2, end=time.time())  # a probe's routes

The probe's own ledger API then opens ``path`` as usual.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.outcomes import (
    KINDS,
    MARKER,
    ODDS,
    STATES,
    Route,
    insert_sql,
    kind_of_draws,
    routes_like,
    routes_of,
    templates,
)
from probe.clock import FakeClock
from probe.hops import Channel, Hop, Verdict
from probe.ledger.migrations import migrate
from probe.ledger.rows import COLUMNS, SCHEMA_VERSION, LedgerCount
from probe.lifecycle.record import State

__all__ = [
    "DAY",
    "END",
    "INTERVAL",
    "MARKER",
    "SCHEMA_3",
    "History",
    "Route",
    "build",
    "routes_like",
    "routes_of",
]

DAY = 86_400.0
INTERVAL = 900.0  # one canary per route every 15 minutes, as in production
END = FakeClock().now()
# The tables and indexes as schema version 3 wrote them (before ``route_latest`` and the index of closed
# canaries by creation time), without a version row: :func:`build` writes one.
SCHEMA_3 = """
CREATE TABLE canaries (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, municipality TEXT NOT NULL, vendor TEXT NOT NULL, bydel TEXT,
    final_hop TEXT NOT NULL, created_at REAL NOT NULL, deadline_at REAL NOT NULL, state TEXT NOT NULL,
    upstream_id TEXT, unconfirmed INTEGER NOT NULL DEFAULT 0, marker TEXT NOT NULL, hop_accepted REAL,
    hop_forwarded REAL, hop_receipted REAL, hop_published REAL, hop_fetched REAL, hop_read REAL,
    hop_registered REAL, last_status TEXT, status_ok_at REAL, readback_ok_at REAL, verdict TEXT,
    verdict_at REAL, blamed_hop TEXT, blamed_owner TEXT, failure_reason TEXT, late_at REAL,
    duplicate INTEGER NOT NULL DEFAULT 0, cleaned_at REAL, api_version TEXT, diagnostics TEXT
);
CREATE INDEX canaries_open ON canaries (state) WHERE state != 'closed';
CREATE INDEX canaries_route ON canaries (channel, municipality, created_at);
CREATE TABLE counters (
    metric TEXT NOT NULL, channel TEXT NOT NULL, municipality TEXT NOT NULL, vendor TEXT NOT NULL,
    label_a TEXT NOT NULL DEFAULT '', label_b TEXT NOT NULL DEFAULT '', value INTEGER NOT NULL,
    PRIMARY KEY (metric, channel, municipality, vendor, label_a, label_b)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Schema 3 had every column up to ``cleanup_failed_at`` (added by schema 4, before the due columns of 5).
_COLUMNS_3 = COLUMNS[: COLUMNS.index("cleanup_failed_at")]
assert COLUMNS[len(_COLUMNS_3)] == "cleanup_failed_at"


@dataclasses.dataclass(frozen=True)
class History:
    """What :func:`build` wrote."""

    path: Path
    routes: tuple[Route, ...]
    rows: int
    start: float
    end: float
    interval: float


def build(
    path: Path,
    *,
    routes: int | Sequence[Route],
    days: float,
    interval: float = INTERVAL,
    end: float = END,
    seed: int = 0,
    schema: int = SCHEMA_VERSION,
    cache_mb: int = 1000,
    ordered_ids: bool = False,
    counted_days: float | None = None,
) -> History:
    """Write a ledger at ``path`` (which must not exist) with ``days`` of history on ``routes`` (a number
    of :func:`routes_of`, or the routes themselves), one canary per route every ``interval`` seconds up
    to ``end``; ``schema`` 3 writes it as Kanari with schema 3 did (no ``route_latest``: opening it
    migrates), else the current schema. ``cache_mb``: SQLite's page cache while writing.

    The ids are random, as the probe's are, so the id index takes them in random order (a third of the
    time it takes to write) and what pruning deletes from it is scattered over it; ``ordered_ids`` makes
    them ascend in creation order instead, which only a ledger that is never pruned should do (a
    restart reads the open canaries through their own index and the newest ones by id, whatever the
    order).

    ``counted_days`` (at least ``days``) makes the counters those of that many days: the days before
    ``days`` closed as usual (their outcomes at exactly the :data:`ODDS`) and pruned since. The ledger
    then has the open set and maintained tables of the longer history and the rows of the shorter one;
    :func:`excerpt` shortens the rows further."""
    if path.exists():
        raise FileExistsError(path)
    chosen = list(routes_of(routes) if isinstance(routes, int) else routes)
    start = end - days * DAY
    if isinstance(routes, int):  # one portal route in ten moved from v1 to v2 half way
        for index in range(4, len(chosen), 10):
            if chosen[index].channel is Channel.PORTAL:
                chosen[index] = dataclasses.replace(chosen[index], switch_at=start + (end - start) / 2)
    slots = int((end - start) // interval)
    span = _Span(
        slots,
        interval,
        end,
        0 if counted_days is None else max(0, int(counted_days * DAY // interval) - slots),
    )
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(f"PRAGMA cache_size=-{cache_mb * 1000}")
        db.execute("BEGIN")
        if schema == 3:
            for statement in SCHEMA_3.split(";"):
                db.execute(statement)
        else:
            migrate(db, None)
        db.execute("COMMIT")
        columns = _COLUMNS_3 if schema == 3 else COLUMNS
        written, counts = _write(db, tuple(chosen), span, columns, (seed, ordered_ids))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO counters (metric, channel, municipality, vendor, label_a, label_b, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*count, value) for count, value in counts.items()],
        )
        if schema == 3:
            db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3')")
        else:
            _fill_latest(db, chosen)
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode=WAL")  # as the probe keeps it
    finally:
        db.close()
    return History(path, tuple(chosen), written, start, end, interval)


@dataclasses.dataclass(frozen=True)
class _Span:
    """The slots of a history: how many, how far apart, the end, and how many slots before the first
    are counted (and not written)."""

    slots: int
    interval: float
    end: float
    older: int


def _write(
    db: sqlite3.Connection,
    routes: tuple[Route, ...],
    span: _Span,
    columns: tuple[str, ...],
    ids: tuple[int, bool],
) -> tuple[int, Counter[LedgerCount]]:
    """Every canary of ``span`` on ``routes``, ids by ``ids`` (seed, ordered); returns how many rows
    were written and what the canaries count."""
    slots, interval = span.slots, span.interval
    kinds = sorted({(route.channel, route.final, route.api_version) for route in routes}, key=str)
    kinds += sorted({(route.channel, route.final, "v1") for route in routes if route.switch_at} - {*kinds})
    number = {kind: index for index, kind in enumerate(kinds)}
    classes = [Route(channel, "", "", version, final_hop=final) for channel, final, version in kinds]
    rows = templates(classes)
    db.execute(
        "CREATE TEMP TABLE history_routes (idx INTEGER PRIMARY KEY, channel TEXT, municipality TEXT, "
        "vendor TEXT, phase REAL, switch_at REAL, class_before INTEGER, class_after INTEGER, registered)"
    )
    db.executemany(
        "INSERT INTO history_routes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                index,
                route.channel.value,
                route.municipality,
                route.vendor,
                # Routes are spread over the interval as the probe's schedule spreads them.
                interval * index / len(routes),
                route.switch_at,
                number[(route.channel, route.final, "v1" if route.switch_at else route.api_version)],
                number[(route.channel, route.final, route.api_version)],
                route.final is Hop.REGISTERED,
            )
            for index, route in enumerate(routes)
        ],
    )
    # Which outcome a draw of 0 to 999 means: a lookup, so the hash is computed once per canary.
    db.execute("CREATE TEMP TABLE history_draws (draw INTEGER PRIMARY KEY, kind INTEGER)")
    db.executemany("INSERT INTO history_draws VALUES (?, ?)", enumerate(kind_of_draws()))
    db.execute(f"CREATE TEMP TABLE history_kinds (template INTEGER PRIMARY KEY, {', '.join(COLUMNS)})")
    db.executemany(
        f"INSERT INTO history_kinds VALUES (?, {', '.join('?' for _ in COLUMNS)})",
        [(template, *kind.row) for template, kind in rows.items()],
    )
    # The id index is written as the rows go in (in random order, as the probe's ids come); the others
    # are built afterwards by sorting, many times faster than row by row.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = 'canaries' AND sql IS NOT NULL"
    ).fetchall()
    insert, tally = insert_sql(columns, *ids)
    arguments = {
        "first": 0, "last": slots - 1, "end": span.end, "interval": interval, "routes": len(routes)
    }  # fmt: skip
    db.execute("BEGIN")
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    written = db.execute(insert, arguments).rowcount if slots > 0 else 0
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    tallies = list(db.execute(tally, arguments)) if slots > 0 else []
    for table in ("history_routes", "history_kinds", "history_draws"):
        db.execute(f"DROP TABLE {table}")
    # The older slots, all closed, each kind at exactly its odds (what is left over is delivered).
    closed = STATES.index(State.CLOSED)
    for index, route in enumerate(routes):
        before = number[(route.channel, route.final, "v1" if route.switch_at else route.api_version)]
        outcomes = {kind: round(span.older * odds / 1000) for kind, odds in ODDS.items()}
        outcomes["delivered"] = span.older - sum(outcomes.values())
        tallies += [
            (index, (before * len(KINDS) + KINDS.index(kind)) * len(STATES) + closed, count)
            for kind, count in outcomes.items()
            if count
        ]
    counts: Counter[LedgerCount] = Counter()
    for index, template, count in tallies:
        route = routes[index]
        for metric, label_a, label_b in rows[template].counters:
            counts[(metric, route.channel.value, route.municipality, route.vendor, label_a, label_b)] += count
    return written, counts


def _fill_latest(db: sqlite3.Connection, routes: Iterable[Route]) -> None:
    """``route_latest`` from the rows: per route a few index seeks back from its newest canary."""
    newest = (
        "SELECT {what} FROM canaries WHERE channel = ? AND municipality = ? AND {condition} "
        "ORDER BY created_at DESC LIMIT 1"
    )
    created = newest.format(what="created_at", condition="1")
    versioned = newest.format(what="api_version, created_at", condition="api_version IS NOT NULL")
    delivered = newest.format(what="id, created_at", condition=f"verdict = '{Verdict.DELIVERED}'")
    resolved = newest.format(what="id, created_at", condition="verdict IS NOT NULL")
    rows = []
    for route in routes:
        key = (route.channel.value, route.municipality)
        found = db.execute(created, key).fetchone()
        if found is None:
            continue
        version = (None, None)
        if route.api_version is not None:  # Altinn routes have none: no reading every row to learn it
            version = db.execute(versioned, key).fetchone() or version
        rows.append(
            (
                *key,
                found[0],
                *version,
                *(db.execute(delivered, key).fetchone() or (None, None)),
                *(db.execute(resolved, key).fetchone() or (None, None)),
            )
        )
    db.executemany("INSERT INTO route_latest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def excerpt(source: History, path: Path, *, closed_days: float) -> History:
    """A ledger at ``path`` (which must not exist) with ``source``'s open canaries, counters and
    ``route_latest``, and of its closed canaries only those of the last ``closed_days`` (and those that
    ``route_latest`` names): what the probe reads at start is the same, the history a fraction."""
    if path.exists():
        raise FileExistsError(path)
    cutoff = source.end - closed_days * DAY
    closed = f"'{State.CLOSED}'"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        migrate(db, None)
        db.execute("COMMIT")
        db.execute("ATTACH DATABASE ? AS source", (str(source.path),))
        indexes = db.execute(
            "SELECT name, sql FROM main.sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'canaries' AND sql IS NOT NULL"
        ).fetchall()
        db.execute("BEGIN")
        for name, _ in indexes:
            db.execute(f"DROP INDEX main.{name}")
        # Each part through its own index: the open ones, the closed ones since the cutoff, and the
        # older ones route_latest names (never pruned either).
        rows = db.execute(
            "INSERT INTO main.canaries SELECT * FROM ("
            f"SELECT * FROM source.canaries WHERE state != {closed} "
            f"UNION ALL SELECT * FROM source.canaries WHERE state = {closed} AND created_at >= :cutoff "
            "UNION ALL SELECT c.* FROM source.route_latest AS r CROSS JOIN source.canaries AS c "
            f"ON c.id IN (r.delivered_id, r.resolved_id) WHERE c.state = {closed} AND c.created_at < :cutoff"
            ") ORDER BY created_at",
            {"cutoff": cutoff},
        ).rowcount
        for _, sql in indexes:
            db.execute(sql)
        db.execute("INSERT INTO main.counters SELECT * FROM source.counters")
        db.execute("INSERT INTO main.route_latest SELECT * FROM source.route_latest")
        db.execute("COMMIT")
        db.execute("DETACH DATABASE source")
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    return History(path, source.routes, rows, source.start, source.end, source.interval)
