"""The canary ledger in PostgreSQL, for replicas of which exactly one leads (the others stand by).

The same tables and guarantees as the SQLite ledger (:mod:`probe.ledger.sqlite`): one transaction per
:meth:`PostgresLedger.save` holds the records, the counts they add and ``route_latest``, committed before
the engine lets a request leave or moves a metric. What PostgreSQL adds is the leader lease
(:mod:`probe.leadership.lease`) and **fencing**: every writing transaction first reads the lease row
``FOR SHARE`` and goes on only if its epoch is still the one this replica took. A replica that lost its
lease (another took over: the epoch rose) can therefore never commit again, and since an intent is
committed before its request leaves, never send either; the share lock makes a takeover wait for a
write under way, so a write is either in the ledger the new leader loads, or refused.

Connections: one for the engine (on the event loop, like SQLite's), one for the lease (renewed from a
worker thread, so a slow write never delays a renewal), and one per pruner. ``statement_timeout`` bounds
each statement, so a database that stops answering is an error within seconds, not a hung probe.
SQL: :mod:`probe.ledger.postgres_sql`. Passwords are handed to libpq apart from the DSN, and neither is
ever in a message: :func:`describe` shows the DSN without it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from probe.errors import FencedError, LedgerError, LedgerUnusableError
from probe.hops import Channel
from probe.ledger import incidents_sql, latest
from probe.ledger import postgres_sql as sql
from probe.ledger.incident_reads import IncidentReads
from probe.ledger.postgres_history import PostgresHistory
from probe.ledger.postgres_history import first_line as _first_line
from probe.ledger.pruning import PRUNE_ROWS, Batch
from probe.ledger.rows import LedgerCount, from_row, to_row
from probe.lifecycle.incidents import TrackedIncident
from probe.lifecycle.record import CanaryRecord

# Each statement's bound (ms): a tick's write either answers within it or fails.
STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT = 5
# The shortest the server lets a transaction sit idle (s): see PostgresTarget.connect.
MIN_IDLE_IN_TRANSACTION = 1.0


@dataclasses.dataclass(frozen=True)
class PostgresTarget:
    """Where the ledger is: a libpq DSN (without password), the password if given apart, and the lease
    length (the connections' timeouts follow it)."""

    dsn: str
    password: str | None = None
    lease: float = 15.0

    def describe(self) -> str:
        """The DSN's parts without any password, for messages."""
        try:
            parts = conninfo_to_dict(self.dsn)
        except psycopg.Error:
            return "postgresql (connection string not shown)"
        shown = " ".join(f"{key}={value}" for key, value in sorted(parts.items()) if key != "password")
        return f"postgresql {shown}"

    def connect(self, purpose: str) -> psycopg.Connection[dict[str, Any]]:
        """A new autocommit connection; an unreachable or refusing database is a :class:`LedgerError`.

        A replica paused or cut off *inside* a write still holds the lease row's share lock, which a
        takeover must wait for: the server therefore ends a transaction left idle for a sixth of the
        lease (``idle_in_transaction_session_timeout``; Kanari's own last milliseconds), long before
        the lease runs out, so a paused leader never delays the takeover. The lease's own connection
        waits at most half a renewal interval for that lock (``lock_timeout``) and tries again at the
        next step, and each of its statements at most one interval."""
        extra: dict[str, Any] = {"password": self.password} if self.password is not None else {}
        idle = max(MIN_IDLE_IN_TRANSACTION, self.lease / 6)
        interval = self.lease / 3
        options = [f"idle_in_transaction_session_timeout={int(idle * 1000)}"]
        if purpose == "lease":
            options += [f"statement_timeout={int(interval * 1000)}", f"lock_timeout={int(interval * 500)}"]
        else:
            options.append(f"statement_timeout={STATEMENT_TIMEOUT_MS}")
        try:
            return psycopg.connect(
                self.dsn,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=CONNECT_TIMEOUT,
                application_name=f"kanari-{purpose}",
                options=" ".join(f"-c {option}" for option in options),
                **extra,
            )
        except psycopg.Error as error:
            raise LedgerError(f"cannot connect to ledger {self.describe()}: {_first_line(error)}") from None


def prepare_schema(db: psycopg.Connection[dict[str, Any]], where: str, *, create: bool = True) -> None:
    """Create the tables if there are none, or check that they are of this Kanari's schema; replicas
    starting at once take turns (an advisory lock), so one creates and the others find it made. Without
    ``create`` (``kanari status``), a database without a ledger is an error and nothing is created."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (sql.SCHEMA_LOCK,))
        exists = db.execute("SELECT to_regclass('meta') IS NOT NULL AS present").fetchone()
        if not create and not (exists is not None and exists["present"]):
            raise LedgerUnusableError(
                where,
                "it holds no ledger yet",
                "check ledger_postgres.dsn; kanari run creates the ledger, status never does",
                action="read",
            )
        if exists is not None and exists["present"]:
            row = db.execute(sql.READ_VERSION).fetchone()
            found = row["value"] if row is not None else None
            if create and _migratable(found):
                for version in range(int(str(found)) + 1, sql.SCHEMA_VERSION + 1):
                    for statement in sql.MIGRATIONS[version]:
                        db.execute(statement)
                db.execute(sql.UPDATE_VERSION, (str(sql.SCHEMA_VERSION),))
                found = str(sql.SCHEMA_VERSION)
            if found != str(sql.SCHEMA_VERSION):
                raise LedgerUnusableError(
                    where,
                    f"it has schema {found!r} and this Kanari writes schema {sql.SCHEMA_VERSION}",
                    "run the Kanari release that wrote it, or point ledger_postgres.dsn at another database",
                )
        if create:
            for statement in sql.SCHEMA:
                db.execute(statement)
            db.execute(sql.WRITE_VERSION, (str(sql.SCHEMA_VERSION),))


def _migratable(found: str | None) -> bool:
    """Whether a database of schema ``found`` is older than this Kanari and has a path to it."""
    return found is not None and found.isdigit() and sql.OLDEST_SCHEMA <= int(found) < sql.SCHEMA_VERSION


class PostgresLedger(PostgresHistory, IncidentReads):
    """The PostgreSQL ledger (:class:`~probe.ledger.store.LedgerStore`). Writes need the lease epoch
    this replica holds, which ``epoch`` tells (:attr:`probe.leadership.lease.Leadership.epoch`); without
    one, or with another than the lease row's, :meth:`save` raises :class:`FencedError`. Without
    ``create`` it only reads a ledger that exists (``kanari status``)."""

    def __init__(
        self, target: PostgresTarget, *, holder: str, epoch: Callable[[], int | None], create: bool = True
    ) -> None:
        self.target = target
        self.holder = holder
        self._epoch = epoch
        self.writes = 0
        self.commits = 0
        self._db = target.connect("ledger")
        try:
            prepare_schema(self._db, target.describe(), create=create)
        except psycopg.Error as error:
            self._db.close()
            raise LedgerError(f"cannot prepare ledger {target.describe()}: {_first_line(error)}") from None
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @property
    def epoch(self) -> int | None:
        """The lease epoch this replica's writes carry (None: it does not lead)."""
        return self._epoch()

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        """The engine's connection, made anew once it broke (the server restarted, or ended a transaction
        left idle: see :meth:`PostgresTarget.connect`); a failure is the caller's :class:`LedgerError`."""
        if self._db.closed or self._db.broken:
            self._db.close()
            self._db = self.target.connect("ledger")
        return self._db

    @contextmanager
    def _fenced(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A transaction that commits only while this replica's epoch is the lease's."""
        try:
            db = self._connection()
            with db.transaction():
                check_fence(db, self.holder, self.epoch)
                yield db
            self.commits += 1
        except psycopg.Error as error:
            raise LedgerError(f"ledger write failed: {_first_line(error)}") from None

    def save(
        self,
        records: Iterable[CanaryRecord],
        counts: Mapping[LedgerCount, int] | None = None,
        incidents: Iterable[TrackedIncident] = (),
    ) -> None:
        """Write ``records``, add ``counts``, move ``route_latest`` and write ``incidents``, in one fenced
        transaction."""
        saved = list(records)
        rows = [to_row(record) for record in saved]
        additions = [(*count, value) for count, value in (counts or {}).items() if value]
        incident_rows = [incidents_sql.to_row(tracked) for tracked in incidents]
        if not rows and not additions and not incident_rows:
            return
        with self._fenced() as db, db.cursor() as cursor:
            if rows:
                cursor.executemany(sql.UPSERT, rows)
            if additions:
                cursor.executemany(sql.ADD_COUNT, additions)
            updates = latest.updates(saved)
            if updates:
                cursor.executemany(sql.UPSERT_LATEST, updates)
            if incident_rows:
                cursor.executemany(incidents_sql.postgres(incidents_sql.UPSERT_INCIDENT), incident_rows)
        self.writes += len(rows)

    def _incident_rows(self, query: str, parameters: tuple[object, ...]) -> list[dict[str, Any]]:
        return self._bound(incidents_sql.postgres(query), parameters)

    def _query(self, query: str) -> list[dict[str, Any]]:
        try:
            return self._connection().execute(query).fetchall()
        except psycopg.Error as error:
            raise LedgerError(f"ledger read failed: {_first_line(error)}") from None

    def open_records(self) -> list[CanaryRecord]:
        """Every canary that is not closed, oldest first."""
        return [from_row(row) for row in self._query(sql.OPEN)]

    def writable(self) -> bool:
        """True if the database answers and this replica's epoch still holds (a standby: never)."""
        try:
            db = self._connection()
            with db.transaction():
                check_fence(db, self.holder, self.epoch)
        except (psycopg.Error, LedgerError):
            return False
        return True

    def connected(self) -> bool:
        """True if the database answers (a standby's readiness)."""
        try:
            self._connection().execute("SELECT 1").fetchone()
        except (psycopg.Error, LedgerError):
            return False
        return True

    def last_created(self) -> dict[tuple[Channel, str], float]:
        """The newest canary's creation time per route."""
        return {
            (Channel(row["channel"]), row["municipality"]): row["created_at"]
            for row in self._query(sql.LAST_CREATED)
        }

    def latest_versions(self) -> dict[tuple[Channel, str], str]:
        """The API version of each route's newest canary sent in one."""
        return {
            (Channel(row["channel"]), row["municipality"]): row["api_version"]
            for row in self._query(sql.LATEST_VERSIONS)
        }

    def newest_delivered(self) -> list[CanaryRecord]:
        """The newest delivered canary of each route."""
        return [from_row(row) for row in self._query(sql.NEWEST_DELIVERED)]

    def latest_per_route(self) -> dict[tuple[Channel, str], list[CanaryRecord]]:
        """Per route: its unresolved canaries and its newest resolved one, newest first (``status``)."""
        records = [from_row(row) for row in self._query(sql.NEWEST_RESOLVED)]
        records += [from_row(row) for row in self._query(sql.UNRESOLVED)]
        result: dict[tuple[Channel, str], list[CanaryRecord]] = {}
        for record in sorted(records, key=lambda r: r.created_at, reverse=True):
            result.setdefault(record.route_key, []).append(record)
        return result

    def counts(self) -> dict[LedgerCount, int]:
        """Every counter's total."""
        return {
            (row["metric"], row["channel"], row["municipality"], row["vendor"], row["label_a"],
             row["label_b"]): int(row["value"])
            for row in self._query(sql.COUNTS)
        }  # fmt: skip


def check_fence(db: psycopg.Connection[dict[str, Any]], holder: str, epoch: int | None) -> None:
    """Inside a transaction: lock the lease row for share and refuse (:class:`FencedError`) unless this
    holder's ``epoch`` is the lease's."""
    row = db.execute(sql.FENCE).fetchone()
    if epoch is None or row is None or row["epoch"] != epoch or row["holder"] != holder:
        current = f"epoch {row['epoch']} of {row['holder']}" if row is not None else "no lease"
        raise FencedError(
            f"ledger write refused: this replica ({holder}, epoch {epoch}) does not hold the lease "
            f"({current})"
        )


class PostgresLease:
    """The lease row on a connection of its own (:class:`probe.leadership.lease.LeaseStore`). Every
    time is the database's (``clock_timestamp()``): replicas' clocks never decide between them."""

    def __init__(self, target: PostgresTarget) -> None:
        self._target = target
        self._db: psycopg.Connection[dict[str, Any]] | None = None

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._db is None or self._db.closed or self._db.broken:
            self._db = self._target.connect("lease")
        return self._db

    def _one(self, query: str, parameters: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self._connection().execute(query, parameters).fetchone()
        except psycopg.Error as error:
            # The next call connects anew: a database that came back is used again.
            if self._db is not None:
                self._db.close()
            raise LedgerError(f"lease query failed: {_first_line(error)}") from None

    def acquire(self, holder: str, seconds: float) -> int | None:
        """Take the lease if it is free or expired: the new epoch, or None if another holds it."""
        row = self._one(sql.ACQUIRE, {"holder": holder, "seconds": seconds})
        return int(row["epoch"]) if row is not None else None

    def renew(self, holder: str, epoch: int, seconds: float) -> bool:
        """Extend the lease by ``seconds`` from now; False if ``epoch`` is no longer the lease's."""
        return self._one(sql.RENEW, {"holder": holder, "epoch": epoch, "seconds": seconds}) is not None

    def release(self, holder: str, epoch: int) -> None:
        """Let the lease run out now (a clean stop), if it is still this holder's."""
        try:
            self._connection().execute(sql.RELEASE, {"holder": holder, "epoch": epoch})
        except psycopg.Error as error:
            raise LedgerError(f"lease release failed: {_first_line(error)}") from None

    def close(self) -> None:
        """Close its connection."""
        if self._db is not None:
            self._db.close()


class PostgresPruner:
    """Deletes closed canaries older than a cutoff, ``rows`` per fenced transaction, on a connection of
    its own (:class:`probe.engine.maintenance.Maintenance` runs it on its worker thread). Only the
    leader prunes: ``epoch`` is read from the ledger at each batch."""

    def __init__(
        self,
        ledger: PostgresLedger,
        *,
        rows: int = PRUNE_ROWS,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._ledger = ledger
        self._rows = rows
        self._timer = timer
        self._db = ledger.target.connect("prune")

    def batch(self, older_than: float) -> Batch:
        """One transaction deleting at most ``rows`` prunable canaries created before ``older_than``."""
        try:
            with self._db.transaction():
                started = self._timer()
                check_fence(self._db, self._ledger.holder, self._ledger.epoch)
                deleted = self._db.execute(sql.PRUNE, (older_than, self._rows)).rowcount
            return Batch(deleted, self._timer() - started, deleted < self._rows)
        except psycopg.Error as error:
            raise LedgerError(f"ledger prune failed: {_first_line(error)}") from None

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL checkpoints on its own."""

    def close(self) -> None:
        """Close its connection."""
        self._db.close()
