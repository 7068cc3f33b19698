"""A synthetic ledger with weeks of history on many routes, written fast, for tests and the benchmark.

Production ledgers hold a canary per route every 15 minutes for the whole retention (30 days): 2 M rows
at 714 routes, tens of millions at 20 000. What the probe reads at start and what pruning deletes only
show their cost at that size, so this module writes such a ledger in seconds to minutes, not the days
the probe would take: rows go in with ``executemany`` in large transactions, without ``fsync``
(``synchronous=OFF``: nothing here needs to survive a power cut), in creation order as the probe writes
them.

Every row is a real record: one :class:`~probe.lifecycle.record.CanaryRecord` per route and kind of
outcome (delivered, lost, lost then late, rejected, send failure, unknown, duplicate) is laid out with
:func:`probe.ledger.rows.to_row`, and each canary is a copy of its kind's row with its own id and times.
The ``counters`` are those :func:`probe.lifecycle.counters.counter_keys` gives for exactly those rows, so
a ledger built here is one the probe could have written. The newest canaries of each route are open as
they would be at a restart: the newest in flight, the one before resolved and awaiting cleanup, and
lost ones of the last day still watched for a late arrival.

Use::

    history = build(path, routes=714, days=30)   # a ledger of the current schema, ``route_latest`` filled
    history = build(path, routes=50, days=2, schema=3)  # as Kanari with schema 3 wrote it (to migrate)

The probe's own ledger API then opens ``path`` as usual.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from probe.clock import FakeClock
from probe.hops import HOPS, Channel, Hop, Verdict
from probe.ledger.latest import backfill
from probe.ledger.migrations import migrate
from probe.ledger.rows import COLUMNS, SCHEMA_VERSION, LedgerCount, ledger_count, to_row
from probe.lifecycle.counters import counter_keys
from probe.lifecycle.record import CanaryRecord, State
from tests.ledger.files import SCHEMA_3

DAY = 86_400.0
INTERVAL = 900.0  # one canary per route every 15 minutes, as in production
END = FakeClock().now()
# How often each outcome happens, per thousand canaries (the rest are delivered).
ODDS = {"lost": 20, "late": 5, "rejected": 5, "send_failure": 5, "unknown": 5, "duplicate": 2}
# Hop offsets after sending, in seconds, for a canary that reaches every hop.
HOP_DELAYS = {
    Channel.PORTAL: {Hop.ACCEPTED: 1.2, Hop.FORWARDED: 25.0, Hop.RECEIPTED: 70.0, Hop.REGISTERED: 140.0},
    Channel.ALTINN: {Hop.ACCEPTED: 0.9, Hop.PUBLISHED: 12.0, Hop.FETCHED: 300.0, Hop.READ: 420.0},
}
FINAL = {Channel.PORTAL: Hop.REGISTERED, Channel.ALTINN: Hop.FETCHED}
DEADLINE = 900.0
# A marker of the real one's length (payload of id, channel, kommunenummer, iat, kid; Ed25519 signature).
MARKER = "KANARI1." + "e" * 158 + "." + "s" * 86
_TIMES = (
    "created_at", "deadline_at", *(f"hop_{hop.value}" for hop in Hop), "status_ok_at", "readback_ok_at",
    "verdict_at", "late_at", "cleaned_at",
)  # fmt: skip
_TIME_INDEX = tuple(COLUMNS.index(column) for column in _TIMES)
_ID, _UPSTREAM, _STATE = COLUMNS.index("id"), COLUMNS.index("upstream_id"), COLUMNS.index("state")
# Schema 3 had every column but the last (``cleanup_failed_at``, added by schema 4).
_COLUMNS_3 = COLUMNS[: COLUMNS.index("cleanup_failed_at")]
assert COLUMNS[len(_COLUMNS_3) :] == ("cleanup_failed_at",)


def _insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO canaries ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


@dataclasses.dataclass(frozen=True)
class Route:
    """One synthetic route: (channel, municipality) with its vendor and the report version it is sent in
    (``switch_at``: when it moved from v1 to v2, for routes whose newest version is not their first)."""

    channel: Channel
    municipality: str
    vendor: str
    api_version: str | None
    switch_at: float | None = None

    @property
    def key(self) -> tuple[Channel, str]:
        """(channel, kommunenummer), as the ledger keys routes."""
        return (self.channel, self.municipality)


@dataclasses.dataclass(frozen=True)
class History:
    """What :func:`build` wrote."""

    path: Path
    routes: tuple[Route, ...]
    rows: int
    start: float
    end: float
    interval: float


def routes_of(count: int) -> tuple[Route, ...]:
    """``count`` routes: portal and Altinn alternately on municipalities ``0000``, ``0001``, ... (more
    than the 357 real ones, for scale), vendors of 20 routes each; one portal route in ten still on v1
    and one in ten moving from v1 to v2 half way (set in :func:`build`)."""
    routes = []
    for index in range(count):
        channel = (Channel.PORTAL, Channel.ALTINN)[index % 2]
        version = None if channel is Channel.ALTINN else ("v1" if index % 20 == 0 else "v2")
        routes.append(Route(channel, f"{index // 2:04d}", f"vendor{index // 20:03d}", version))
    return tuple(routes)


def _record(route: Route, kind: str, *, state: State = State.CLOSED) -> CanaryRecord:
    """The record of one kind of outcome on ``route``, sent at time 0 (times are offsets)."""
    delays = HOP_DELAYS[route.channel]
    record = CanaryRecord(
        id="",
        channel=route.channel,
        municipality=route.municipality,
        vendor=route.vendor,
        bydel="00" if route.channel is Channel.PORTAL else None,
        final_hop=FINAL[route.channel],
        created_at=0.0,
        deadline_at=DEADLINE,
        marker=MARKER,
        state=state,
        upstream_id="",
        api_version=route.api_version,
    )
    if state is State.IN_FLIGHT:
        record.hops = {Hop.ACCEPTED: delays[Hop.ACCEPTED]}
        record.status_ok_at = 5.0
        return record
    hops, owners = list(delays), dict(HOPS[route.channel])
    record.status_ok_at = record.readback_ok_at = DEADLINE
    if kind in ("delivered", "duplicate"):
        record.hops = dict(delays)
        record.verdict, record.verdict_at = Verdict.DELIVERED, delays[record.final_hop] + 15.0
        record.duplicate = kind == "duplicate"
        record.last_status = "LEVERT" if route.channel is Channel.PORTAL else "Read"
    elif kind in ("lost", "late"):
        blamed = hops[2]
        record.hops = {hop: delays[hop] for hop in hops[:2]}
        record.verdict, record.verdict_at = Verdict.LOST, DEADLINE
        record.blamed_hop, record.blamed_owner = blamed, owners[blamed]
        if kind == "late":
            record.late_at = DEADLINE + 1800.0
    elif kind == "rejected":
        record.hops = {hop: delays[hop] for hop in hops[:2]}
        record.verdict, record.verdict_at = Verdict.FAILED, 90.0
        record.blamed_hop, record.blamed_owner = hops[2], owners[hops[2]]
        record.diagnostics = "AVVIST_FAGSYSTEM: Fagsystemet kunne ikke lese meldingen"
    elif kind == "send_failure":
        record.upstream_id = None
        record.failure_reason = "http_5xx"
        record.verdict, record.verdict_at = Verdict.FAILED, 2.0
        record.blamed_hop, record.blamed_owner = Hop.ACCEPTED, owners[Hop.ACCEPTED]
    else:  # unknown: every look errored
        record.hops = {Hop.ACCEPTED: delays[Hop.ACCEPTED]}
        record.verdict, record.verdict_at = Verdict.UNKNOWN, DEADLINE
        record.status_ok_at = record.readback_ok_at = None
    if state is State.CLOSED:
        record.cleaned_at = record.verdict_at + 60.0
    return record


class _Kinds:
    """Per route, the template row and counter keys of each kind of outcome."""

    def __init__(self, route: Route) -> None:
        self._kinds: dict[tuple[str, State, str | None], _Kind] = {}
        self._route = route

    def get(self, kind: str, state: State, version: str | None) -> _Kind:
        key = (kind, state, version)
        if key not in self._kinds:
            record = _record(dataclasses.replace(self._route, api_version=version), kind, state=state)
            row = list(to_row(record))
            self._kinds[key] = _Kind(
                row,
                [(index, float(offset)) for index in _TIME_INDEX if isinstance(offset := row[index], float)],
                [ledger_count(record, counter) for counter in counter_keys(record)],
            )
        return self._kinds[key]


@dataclasses.dataclass(frozen=True)
class _Kind:
    """One kind's row with times as offsets from sending, where those offsets are, and its counters."""

    row: list[object]
    times: list[tuple[int, float]]
    counts: list[LedgerCount]


def _kind(draw: int) -> str:
    for kind, odds in ODDS.items():
        if draw < odds:
            return kind
        draw -= odds
    return "delivered"


def _rows(
    routes: tuple[Route, ...],
    span: tuple[float, float, float],
    seed: int,
    width: int,
    counts: Counter[LedgerCount],
) -> Iterator[tuple[object, ...]]:
    """Every canary of every route from ``span`` (start, end, interval), in creation order, as its first
    ``width`` columns, counting what each adds to ``counts``."""
    start, end, interval = span
    rng = random.Random(seed)
    kinds = [_Kinds(route) for route in routes]
    # Routes are spread over the interval as the probe's schedule spreads them.
    offsets = [interval * index / len(routes) for index in range(len(routes))]
    slots = int((end - start) // interval)
    for slot in range(slots):
        base = start + slot * interval
        age_slots = slots - 1 - slot
        for index, route in enumerate(routes):
            created = base + offsets[index]
            kind = _kind(rng.randrange(1000))
            if age_slots == 0:
                state, kind = State.IN_FLIGHT, "in_flight"
            elif age_slots == 1 or (kind in ("lost", "unknown") and end - created < DAY):
                state = State.RESOLVED  # awaiting cleanup, or watched for a late arrival
            else:
                state = State.CLOSED
            version = route.api_version
            if route.switch_at is not None and created < route.switch_at:
                version = "v1"
            template = kinds[index].get(kind, state, version)
            row = template.row.copy()
            for column, offset in template.times:
                row[column] = created + offset
            row[_ID] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if row[_UPSTREAM] is not None:
                row[_UPSTREAM] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            counts.update(template.counts)
            yield tuple(row[:width])


def build(
    path: Path,
    *,
    routes: int,
    days: float,
    interval: float = INTERVAL,
    end: float = END,
    seed: int = 0,
    schema: int = SCHEMA_VERSION,
    transaction_rows: int = 200_000,
) -> History:
    """Write a ledger at ``path`` (which must not exist) with ``days`` of history on ``routes`` routes,
    one canary per route every ``interval`` seconds up to ``end``; ``schema`` 3 writes it as Kanari
    with schema 3 did (no ``route_latest``: opening it migrates), else the current schema."""
    if path.exists():
        raise FileExistsError(path)
    chosen = list(routes_of(routes))
    start = end - days * DAY
    for index in range(4, len(chosen), 10):  # one portal route in ten moved from v1 to v2 half way
        if chosen[index].channel is Channel.PORTAL:
            chosen[index] = dataclasses.replace(chosen[index], switch_at=start + (end - start) / 2)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1000000")  # 1 GB: the id index is written in random order
        db.execute("BEGIN")
        if schema == 3:
            for statement in SCHEMA_3.split(";"):
                db.execute(statement)
        else:
            migrate(db, None)
        db.execute("COMMIT")
        counts: Counter[LedgerCount] = Counter()
        written = 0
        batch: list[tuple[object, ...]] = []
        columns = _COLUMNS_3 if schema == 3 else COLUMNS
        insert = _insert_sql(columns)
        for row in _rows(tuple(chosen), (start, end, interval), seed, len(columns), counts):
            batch.append(row)
            if len(batch) == transaction_rows:
                written += _insert(db, insert, batch)
                batch = []
        written += _insert(db, insert, batch)
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO counters (metric, channel, municipality, vendor, label_a, label_b, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(*count, value) for count, value in counts.items()],
        )
        if schema == 3:
            db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3')")
        else:
            backfill(db)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return History(path, tuple(chosen), written, start, end, interval)


def _insert(db: sqlite3.Connection, insert: str, rows: list[tuple[object, ...]]) -> int:
    db.execute("BEGIN")
    db.executemany(insert, rows)
    db.execute("COMMIT")
    return len(rows)
