"""How incidents are kept in the ledger (``incidents``, one row per incident), and what the engine reads
back at start to go on judging them (:mod:`probe.lifecycle.incidents`).

The SQL is written once, in SQLite's dialect; the PostgreSQL ledger runs the same statements through
:func:`postgres` (placeholders ``%s``, ``DOUBLE PRECISION`` for ``REAL``). An incident row is written in
the same transaction as the canary whose verdict changed it, so the ledger never holds a verdict
without its incident or the other way round.

What a restart needs per route, without a scan of the history: the route's newest incident (an index
seek), the send time of its first canary (the index's first entry) and the delivered canaries' send
times from the newest one before its oldest unresolved canary on (a range of the route index as long as
the canaries in flight); a route with nothing in flight needs only its newest delivered canary, which
``route_latest`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle.incident import Incident
from probe.lifecycle.incidents import RouteIncidents, TrackedIncident

# (column, SQLite type, NOT NULL): the columns of Incident, then what TrackedIncident adds.
_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("id", "TEXT", True),
    ("channel", "TEXT", True),
    ("municipality", "TEXT", True),
    ("vendor", "TEXT", True),
    ("hop", "TEXT", True),
    ("owner", "TEXT", True),
    ("opened_at", "REAL", True),
    ("first_canary", "TEXT", True),
    ("exposure_start", "REAL", True),
    ("exposure_end", "REAL", False),
    ("closed_at", "REAL", False),
    ("canaries", "INTEGER", True),
    ("retained_until", "REAL", True),
    ("failed_from", "REAL", True),
    ("failed_until", "REAL", True),
    ("start_delivered", "INTEGER", True),
)
COLUMNS = tuple(name for name, _, _ in _COLUMNS)


def _table(real: str) -> str:
    columns = ", ".join(
        f"{name} {real if kind == 'REAL' else kind}{' NOT NULL' if required else ''}"
        + (" PRIMARY KEY" if name == "id" else "")
        for name, kind, required in _COLUMNS
    )
    return f"CREATE TABLE IF NOT EXISTS incidents ({columns})"


# A route's incidents by their failures' send times: its newest one is the index's last entry.
_ROUTE_INDEX = "CREATE INDEX IF NOT EXISTS incidents_route ON incidents (channel, municipality, failed_until)"
INCIDENTS_SCHEMA = (_table("REAL"), _ROUTE_INDEX)
POSTGRES_SCHEMA = (_table("DOUBLE PRECISION"), _ROUTE_INDEX)

UPSERT_INCIDENT = (
    f"INSERT INTO incidents ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS[1:])}"
)
_NEWEST_PER_ROUTE = (
    "SELECT i.* FROM incidents AS i WHERE i.id = (SELECT j.id FROM incidents AS j "
    "WHERE j.channel = i.channel AND j.municipality = i.municipality "
    "ORDER BY j.failed_until DESC, j.opened_at DESC LIMIT 1)"
)
_ROUTES = "SELECT channel, municipality, delivered_created_at FROM route_latest"
_FIRST_SENT = "SELECT MIN(created_at) AS first FROM canaries WHERE channel = ? AND municipality = ?"
_DELIVERED_SINCE = (
    "SELECT created_at FROM canaries WHERE channel = ? AND municipality = ? "
    f"AND verdict = '{Verdict.DELIVERED}' AND created_at >= COALESCE((SELECT MAX(created_at) FROM canaries "
    f"WHERE channel = ? AND municipality = ? AND verdict = '{Verdict.DELIVERED}' AND created_at < ?), ?) "
    "ORDER BY created_at"
)
CANARY = "SELECT * FROM canaries WHERE id = ?"

Query = Callable[[str, tuple[object, ...]], Sequence[Any]]
"""Runs one statement of this module with its parameters and returns its rows (by column name)."""


def postgres(statement: str) -> str:
    """``statement`` in PostgreSQL's placeholders (none of these statements has a literal ``?``)."""
    return statement.replace("?", "%s")


def to_row(tracked: TrackedIncident) -> tuple[object, ...]:
    """The ``incidents`` row of ``tracked``, in :data:`COLUMNS` order."""
    incident = tracked.incident
    return (
        incident.id, incident.channel.value, incident.municipality, incident.vendor, incident.hop.value,
        incident.owner.value, incident.opened_at, incident.first_canary, incident.exposure_start,
        incident.exposure_end, incident.closed_at, incident.canaries, incident.retained_until,
        tracked.failed_from, tracked.failed_until, int(tracked.start_delivered),
    )  # fmt: skip


def from_row(row: Any) -> TrackedIncident:
    """The incident an ``incidents`` row holds."""
    incident = Incident(
        id=row["id"],
        channel=Channel(row["channel"]),
        municipality=row["municipality"],
        vendor=row["vendor"],
        hop=Hop(row["hop"]),
        owner=Owner(row["owner"]),
        opened_at=row["opened_at"],
        first_canary=row["first_canary"],
        exposure_start=row["exposure_start"],
        exposure_end=row["exposure_end"],
        closed_at=row["closed_at"],
        canaries=int(row["canaries"]),
        retained_until=row["retained_until"],
    )
    return TrackedIncident(incident, row["failed_from"], row["failed_until"], bool(row["start_delivered"]))


def select(
    *, open_only: bool = False, channel: Channel | None = None, municipality: str | None = None
) -> tuple[str, tuple[object, ...]]:
    """The statement and parameters of :meth:`~probe.ledger.store.LedgerStore.incidents`: newest
    (by detection) first."""
    conditions: list[str] = []
    parameters: list[object] = []
    if open_only:
        conditions.append("closed_at IS NULL")
    if channel is not None:
        conditions.append("channel = ?")
        parameters.append(channel.value)
    if municipality is not None:
        conditions.append("municipality = ?")
        parameters.append(municipality)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM incidents{where} ORDER BY opened_at DESC, id", tuple(parameters)


def restore(
    query: Query, unresolved_since: Mapping[tuple[Channel, str], float]
) -> dict[tuple[Channel, str], RouteIncidents]:
    """Every route's incident state as the ledger holds it; ``unresolved_since`` is the send time of
    each route's oldest unresolved canary (routes without one have none in flight)."""
    newest = {
        (tracked.incident.channel, tracked.incident.municipality): tracked
        for tracked in (from_row(row) for row in query(_NEWEST_PER_ROUTE, ()))
    }
    states: dict[tuple[Channel, str], RouteIncidents] = {}
    for row in query(_ROUTES, ()):
        key = (Channel(row["channel"]), row["municipality"])
        route = (key[0].value, key[1])
        first = query(_FIRST_SENT, route)
        since = unresolved_since.get(key)
        delivered: tuple[float, ...]
        if since is None:
            newest_delivered = row["delivered_created_at"]
            delivered = () if newest_delivered is None else (float(newest_delivered),)
        else:
            rows = query(_DELIVERED_SINCE, (*route, *route, since, since))
            delivered = tuple(float(found["created_at"]) for found in rows)
        states[key] = RouteIncidents(
            delivered=delivered,
            first_sent=first[0]["first"] if first else None,
            last=newest.get(key),
        )
    return states
