"""The PostgreSQL ledger's SQL: the same tables as SQLite's (:mod:`probe.ledger.rows`,
:mod:`probe.ledger.latest`), plus the leader lease, in PostgreSQL's dialect.

The column lists come from the SQLite modules (one source of truth for what a canary row holds, read
back by the same :func:`probe.ledger.rows.from_row`); only types and statements differ: ``REAL`` is
``DOUBLE PRECISION``, placeholders are ``%s``, an upsert names its conflict target and qualifies the
existing row's columns (PostgreSQL calls a bare ``value`` ambiguous beside ``excluded.value``), and
``MAX(a, b)`` is ``GREATEST``.

The lease row (``kanari_lease``) is the one leader's: who holds it, the fencing ``epoch`` (raised by
every takeover) and ``expires_at`` by the *database's* clock, so no replica's clock decides for another.
"""

from __future__ import annotations

from probe.ledger import incidents_sql, latest, rows
from probe.lifecycle.record import State

# The schema this backend writes, kept in meta like SQLite's; it starts at SQLite's current one.
SCHEMA_VERSION = rows.SCHEMA_VERSION
LEASE_NAME = "leader"
# Serialises the creation of the schema by replicas starting together (any fixed 64-bit key).
SCHEMA_LOCK = 0x4B414E415249  # "KANARI"

_TEXT = {"id", "channel", "municipality", "vendor", "bydel", "final_hop", "state", "upstream_id", "marker",
         "last_status", "verdict", "blamed_hop", "blamed_owner", "failure_reason", "api_version",
         "diagnostics", "history"}  # fmt: skip
_INTEGER = {"unconfirmed", "duplicate"}
_REQUIRED = {"channel", "municipality", "vendor", "final_hop", "created_at", "deadline_at", "state", "marker"}


def _column(name: str) -> str:
    kind = "TEXT" if name in _TEXT else "INTEGER" if name in _INTEGER else "DOUBLE PRECISION"
    if name == "id":
        return "id TEXT PRIMARY KEY"
    if name in _INTEGER:
        return f"{name} INTEGER NOT NULL DEFAULT 0"
    return f"{name} {kind}{' NOT NULL' if name in _REQUIRED else ''}"


SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS canaries ({', '.join(_column(name) for name in rows.COLUMNS)})",
    f"CREATE INDEX IF NOT EXISTS canaries_open ON canaries (state) WHERE state != '{State.CLOSED}'",
    "CREATE INDEX IF NOT EXISTS canaries_route ON canaries (channel, municipality, created_at)",
    f"CREATE INDEX IF NOT EXISTS canaries_closed ON canaries (created_at) WHERE state = '{State.CLOSED}'",
    """CREATE TABLE IF NOT EXISTS counters (
        metric TEXT NOT NULL, channel TEXT NOT NULL, municipality TEXT NOT NULL, vendor TEXT NOT NULL,
        label_a TEXT NOT NULL DEFAULT '', label_b TEXT NOT NULL DEFAULT '', value BIGINT NOT NULL,
        PRIMARY KEY (metric, channel, municipality, vendor, label_a, label_b))""",
    """CREATE TABLE IF NOT EXISTS route_latest (
        channel TEXT NOT NULL, municipality TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        api_version TEXT, version_created_at DOUBLE PRECISION, delivered_id TEXT,
        delivered_created_at DOUBLE PRECISION, resolved_id TEXT, resolved_created_at DOUBLE PRECISION,
        PRIMARY KEY (channel, municipality))""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS kanari_lease (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, epoch BIGINT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL)""",
    *incidents_sql.POSTGRES_SCHEMA,
)
TABLES = ("canaries", "counters", "route_latest", "meta", "kanari_lease", "incidents")
READ_VERSION = "SELECT value FROM meta WHERE key = 'schema_version'"
UPDATE_VERSION = "UPDATE meta SET value = %s WHERE key = 'schema_version'"
# Each schema version's changes to a database an older Kanari wrote, applied in order in the transaction
# that checks the version (replicas take turns under the schema lock); PostgreSQL ledgers start at 4.
# Adding columns leaves a replica of the older Kanari still writing (it names its columns).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    5: tuple(
        f"ALTER TABLE canaries ADD COLUMN IF NOT EXISTS {column} DOUBLE PRECISION"
        for column in rows.DUE_COLUMNS.values()
    ),
    # Incidents and each canary's last status history (probe.ledger.incidents_sql).
    6: ("ALTER TABLE canaries ADD COLUMN IF NOT EXISTS history TEXT", *incidents_sql.POSTGRES_SCHEMA),
}
OLDEST_SCHEMA = min(MIGRATIONS) - 1
WRITE_VERSION = "INSERT INTO meta (key, value) VALUES ('schema_version', %s) ON CONFLICT (key) DO NOTHING"

UPSERT = (
    f"INSERT INTO canaries ({', '.join(rows.COLUMNS)}) VALUES ({', '.join('%s' for _ in rows.COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rows.COLUMNS[1:])}"
)
ADD_COUNT = (
    "INSERT INTO counters (metric, channel, municipality, vendor, label_a, label_b, value) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (metric, channel, municipality, vendor, label_a, "
    "label_b) DO UPDATE SET value = counters.value + excluded.value"
)


def _set_if_newer(value: str, created: str) -> str:
    # As SQLite's (probe.ledger.latest): the saved canary's column wins when it is at least as new.
    return (
        f"{value} = CASE WHEN excluded.{created} >= COALESCE(route_latest.{created}, excluded.{created}) "
        f"THEN excluded.{value} ELSE route_latest.{value} END"
    )


UPSERT_LATEST = (
    f"INSERT INTO route_latest ({', '.join(latest.COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in latest.COLUMNS)}) ON CONFLICT (channel, municipality) DO UPDATE SET "
    "created_at = GREATEST(route_latest.created_at, excluded.created_at), "
    + ", ".join(_set_if_newer(value, created) for value, created in latest.NEWER)
)

OPEN = f"SELECT * FROM canaries WHERE state != '{State.CLOSED}' ORDER BY created_at"
LAST_CREATED = "SELECT channel, municipality, created_at FROM route_latest"
LATEST_VERSIONS = "SELECT channel, municipality, api_version FROM route_latest WHERE api_version != ''"
NEWEST_DELIVERED = (
    "SELECT canaries.* FROM route_latest JOIN canaries ON canaries.id = route_latest.delivered_id"
)
NEWEST_RESOLVED = (
    "SELECT canaries.* FROM route_latest JOIN canaries ON canaries.id = route_latest.resolved_id"
)
UNRESOLVED = f"SELECT * FROM canaries WHERE state != '{State.CLOSED}' AND verdict IS NULL"
COUNTS = "SELECT metric, channel, municipality, vendor, label_a, label_b, value FROM counters"
# As SQLite's pruning (probe.ledger.pruning): closed, old, and not named by route_latest.
PRUNE = (
    "DELETE FROM canaries WHERE id IN ("
    f"SELECT id FROM canaries WHERE state = '{State.CLOSED}' AND created_at < %s "
    "AND NOT EXISTS (SELECT 1 FROM route_latest AS r WHERE r.channel = canaries.channel "
    "AND r.municipality = canaries.municipality AND canaries.id IN (r.delivered_id, r.resolved_id)) "
    "ORDER BY created_at LIMIT %s)"
)

# The fence of every writing transaction: the lease row, locked against a takeover until the commit
# (FOR SHARE: writers of the same epoch do not wait for each other, a takeover's UPDATE waits for them).
FENCE = f"SELECT holder, epoch FROM kanari_lease WHERE name = '{LEASE_NAME}' FOR SHARE"

# Take the lease if nobody holds it or it expired (by the database's clock); returns the new epoch.
ACQUIRE = (
    "INSERT INTO kanari_lease (name, holder, epoch, expires_at) "
    f"VALUES ('{LEASE_NAME}', %(holder)s, 1, clock_timestamp() + make_interval(secs => %(seconds)s)) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = kanari_lease.epoch + 1, "
    "expires_at = excluded.expires_at WHERE kanari_lease.expires_at < clock_timestamp() RETURNING epoch"
)
# Extend it, only while this holder's epoch is still the lease's: a takeover raised it.
RENEW = (
    "UPDATE kanari_lease SET expires_at = clock_timestamp() + make_interval(secs => %(seconds)s) "
    f"WHERE name = '{LEASE_NAME}' AND holder = %(holder)s AND epoch = %(epoch)s RETURNING epoch"
)
# Give it up at a clean stop, so a standby need not wait for it to run out.
RELEASE = (
    "UPDATE kanari_lease SET expires_at = clock_timestamp() - interval '1 second' "
    f"WHERE name = '{LEASE_NAME}' AND holder = %(holder)s AND epoch = %(epoch)s"
)
