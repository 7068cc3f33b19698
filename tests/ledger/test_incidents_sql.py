"""Incidents in the ledger, SQLite and PostgreSQL alike: written with the records in one transaction,
read back newest first with filters, the state a restart needs answered from the route's own rows, and
older ledgers (schema 4 and 5) migrated keeping every canary."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from probe.errors import LedgerError, LedgerUnusableError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.postgres import PostgresLedger, PostgresTarget
from probe.ledger.rows import DUE_COLUMNS, SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from probe.ledger.store import LedgerStore
from probe.lifecycle.incident import Incident
from probe.lifecycle.incidents import RouteIncidents, TrackedIncident
from probe.lifecycle.record import CanaryRecord, State
from tests.ledger.files import snapshot
from tests.postgres import ROLE_PASSWORD, Cluster

PORTAL = (Channel.PORTAL, "4601")


def canary(
    number: int, created_at: float, verdict: Verdict | None, municipality: str = "4601"
) -> CanaryRecord:
    return CanaryRecord(
        id=f"c{number:04d}",
        channel=Channel.PORTAL,
        municipality=municipality,
        vendor="fjordsys",
        bydel=None,
        final_hop=Hop.REGISTERED,
        created_at=created_at,
        deadline_at=created_at + 900,
        marker="KANARI1.a.b",
        state=State.IN_FLIGHT if verdict is None else State.CLOSED,
        upstream_id="u",
        verdict=verdict,
        history='[[1.0,"AKSEPTERT",""]]' if verdict else None,
    )


def tracked(
    name: str, opened: float, *, municipality: str = "4601", closed: float | None = None
) -> TrackedIncident:
    return TrackedIncident(
        Incident(
            id=name,
            channel=Channel.PORTAL,
            municipality=municipality,
            vendor="fjordsys",
            hop=Hop.RECEIPTED,
            owner=Owner.VENDOR,
            opened_at=opened,
            first_canary=f"first-{name}",
            exposure_start=opened - 500,
            exposure_end=None if closed is None else closed - 10,
            closed_at=closed,
            canaries=1,
            retained_until=opened - 500 + 86400,
        ),
        failed_from=opened - 400,
        failed_until=opened - 300,
        start_delivered=closed is None,
    )


HISTORY = [
    canary(1, 100.0, Verdict.DELIVERED),
    canary(2, 200.0, Verdict.DELIVERED),
    canary(3, 300.0, Verdict.LOST),
    canary(4, 400.0, None),  # in flight
    canary(5, 500.0, Verdict.DELIVERED),
    canary(6, 50.0, Verdict.UNKNOWN, municipality="0301"),
    canary(7, 60.0, Verdict.DELIVERED, municipality="0301"),
]
OLD = tracked("old", 1000.0, closed=1500.0)
NEW = tracked("new", 2000.0)
OSLO = tracked("oslo", 1800.0, municipality="0301", closed=1900.0)


def check_answers(ledger: LedgerStore) -> None:
    ledger.save(HISTORY, incidents=[OLD, OSLO])
    ledger.save([], incidents=[NEW])
    assert [i.id for i in ledger.incidents()] == ["new", "oslo", "old"]
    assert ledger.incidents(open_only=True) == [NEW.incident]
    assert [i.id for i in ledger.incidents(municipality="0301")] == ["oslo"]
    assert ledger.incidents(channel=Channel.ALTINN) == []
    # An incident changed later is the same row.
    closed = dataclasses.replace(
        NEW, incident=dataclasses.replace(NEW.incident, closed_at=2100.0, exposure_end=2090.0)
    )
    ledger.save([], incidents=[closed])
    assert ledger.incidents(open_only=True) == []
    assert ledger.incidents()[0] == closed.incident
    states = ledger.incident_state({PORTAL: 400.0})
    # From the newest delivered before the oldest canary in flight on: what a later verdict can need.
    assert states[PORTAL] == RouteIncidents(delivered=(200.0, 500.0), first_sent=100.0, last=closed)
    # Nothing in flight: only the newest delivered (route_latest's); the route's first canary's time.
    assert states[(Channel.PORTAL, "0301")] == RouteIncidents(delivered=(60.0,), first_sent=50.0, last=OSLO)
    found = ledger.canary("c0003")
    assert found is not None
    assert (found.verdict, found.history) == (Verdict.LOST, '[[1.0,"AKSEPTERT",""]]')
    assert ledger.canary("nope") is None


def test_sqlite_keeps_and_answers_incidents(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        check_answers(ledger)
    finally:
        ledger.close()
    reader = Ledger.open_read_only(tmp_path / "ledger.sqlite3")
    try:
        assert [i.id for i in reader.incidents()] == ["new", "oslo", "old"]
    finally:
        reader.close()


def test_an_incident_that_cannot_be_written_rolls_back_the_records_with_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        unwritable = dataclasses.replace(NEW, incident=dataclasses.replace(NEW.incident, vendor=None))  # type: ignore[arg-type]
        with pytest.raises(
            LedgerError, match=r"ledger write failed: NOT NULL constraint failed: incidents\.vendor"
        ):
            ledger.save(HISTORY[:1], incidents=[unwritable])
        assert ledger.canary("c0001") is None
        assert ledger.incidents() == []
    finally:
        ledger.close()


def older(path: Path, version: int) -> Path:
    """A ledger as schema ``version`` (4 or 5) wrote it, holding :data:`HISTORY`: today's, with what the
    later schemas added taken away."""
    ledger = Ledger(path)
    try:
        ledger.save(HISTORY)
    finally:
        ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("DROP TABLE incidents")
        db.execute("ALTER TABLE canaries DROP COLUMN history")
        if version == 4:
            for column in DUE_COLUMNS.values():
                db.execute(f"ALTER TABLE canaries DROP COLUMN {column}")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    finally:
        db.close()
    return path


@pytest.mark.parametrize("version", [4, 5])
def test_an_older_ledger_is_migrated_with_its_canaries_and_no_incidents(tmp_path: Path, version: int) -> None:
    path = older(tmp_path / "ledger.sqlite3", version)
    ledger = Ledger(path)
    try:
        assert ledger.incidents() == []
        assert ledger.canary("c0003") is not None
        assert ledger.canary("c0003").history is None  # type: ignore[union-attr]
        check_answers_after_migration(ledger)
    finally:
        ledger.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
    finally:
        db.close()


def check_answers_after_migration(ledger: Ledger) -> None:
    ledger.save([], incidents=[NEW])
    assert ledger.incidents(open_only=True) == [NEW.incident]
    assert ledger.incident_state({PORTAL: 400.0})[PORTAL].delivered == (200.0, 500.0)


def test_a_failed_migration_leaves_the_older_ledger_as_it_was(tmp_path: Path) -> None:
    path = older(tmp_path / "ledger.sqlite3", 5)
    db = sqlite3.connect(path, isolation_level=None)
    try:  # a table of that name already there, not Kanari's: the index cannot be made
        db.execute("CREATE TABLE incidents (id TEXT)")
    finally:
        db.close()
    before = snapshot(path)
    with pytest.raises(LedgerUnusableError, match=f"migrating it from schema 5 to {SCHEMA_VERSION} failed"):
        Ledger(path)
    assert snapshot(path) == before


@pytest.fixture
def target(postgres: Cluster) -> PostgresTarget:
    return PostgresTarget(postgres.dsn(postgres.database()), ROLE_PASSWORD)


@pytest.fixture
def leading(postgres: Cluster, target: PostgresTarget) -> Iterator[PostgresLedger]:
    """A PostgreSQL ledger whose writes pass the fence (the lease row made to name it)."""
    ledger = PostgresLedger(target, holder="a", epoch=lambda: 1)
    database = conninfo_to_dict(target.dsn)["dbname"]
    with psycopg.connect(postgres.dsn(str(database)), password=ROLE_PASSWORD, autocommit=True) as db:
        db.execute(
            "INSERT INTO kanari_lease (name, holder, epoch, expires_at) "
            "VALUES ('leader', 'a', 1, clock_timestamp() + interval '1 hour')"
        )
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.mark.slow
def test_postgres_keeps_and_answers_incidents_as_sqlite_does(leading: PostgresLedger) -> None:
    check_answers(leading)


@pytest.mark.slow
def test_a_postgres_ledger_of_schema_5_is_migrated(postgres: Cluster, target: PostgresTarget) -> None:
    PostgresLedger(target, holder="a", epoch=lambda: None).close()
    database = conninfo_to_dict(target.dsn)["dbname"]
    with psycopg.connect(postgres.dsn(str(database)), password=ROLE_PASSWORD, autocommit=True) as db:
        db.execute("DROP TABLE incidents")
        db.execute("ALTER TABLE canaries DROP COLUMN history")
        db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with pytest.raises(LedgerUnusableError, match="it has schema '5'"):
        PostgresLedger(target, holder="status", epoch=lambda: None, create=False)
    migrated = PostgresLedger(target, holder="a", epoch=lambda: None)
    try:
        assert migrated.incidents() == []
        assert migrated.canary("c0001") is None
    finally:
        migrated.close()
    with psycopg.connect(postgres.dsn(str(database)), password=ROLE_PASSWORD, autocommit=True) as db:
        columns = {
            row[0]
            for row in db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'canaries'"
            )
        }
        assert "history" in columns
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
