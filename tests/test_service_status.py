"""The status page's own read-only ledger connection (:func:`probe.service.status_reader`), on SQLite and
on a real PostgreSQL: it reads what the engine's connection committed, cannot write, and a ledger kind it
does not know is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.hops import Channel, Verdict
from probe.leadership.lease import Leadership, Step
from probe.ledger.postgres import PostgresLease, PostgresLedger, PostgresTarget
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from probe.service import status_reader
from tests.ledger.test_latest import canary
from tests.postgres import ROLE_PASSWORD, Cluster

pytestmark = pytest.mark.slow


def delivered_and_open() -> list[CanaryRecord]:
    done, flying = canary(1, 100.0), canary(2, 200.0)  # both portal (number % 3 != 0)
    done.state, done.verdict = State.RESOLVED, Verdict.DELIVERED
    flying.state = State.IN_FLIGHT
    return [done, flying]


def check_reader(writer: Ledger | PostgresLedger) -> None:
    writer.save(delivered_and_open())
    reader = status_reader(writer)()
    try:
        assert reader.latest_verdicts() == {(Channel.PORTAL, "4601"): Verdict.DELIVERED}
        assert [r.id for r in reader.recent_canaries(Channel.PORTAL, "4601", 5)] == ["c0002", "c0001"]
        assert reader.verdict_counts([(Channel.PORTAL, "4601")], 0.0) == {
            (Channel.PORTAL, "4601"): {Verdict.DELIVERED: 1}
        }
        assert reader.incidents(open_only=True) == []
    finally:
        reader.close()


def test_sqlite_reader(tmp_path: Path) -> None:
    writer = Ledger(tmp_path / "ledger.sqlite3")
    try:
        check_reader(writer)
        reader = status_reader(writer)()
        assert isinstance(reader, Ledger)
        with pytest.raises(Exception, match=r"readonly|read-only|query_only"):
            reader._db.execute("DELETE FROM canaries")
        reader.close()
    finally:
        writer.close()


@pytest.fixture
def leading(postgres: Cluster) -> Iterator[PostgresLedger]:
    target = PostgresTarget(postgres.dsn(postgres.database()), ROLE_PASSWORD)
    leadership = Leadership(PostgresLease(target), 15.0, holder="writer")
    ledger = PostgresLedger(target, holder="writer", epoch=lambda: leadership.epoch)
    assert leadership.step() is Step.TOOK
    try:
        yield ledger
    finally:
        ledger.close()
        leadership.close()


def test_postgres_reader(leading: PostgresLedger) -> None:
    check_reader(leading)


def test_an_unknown_ledger_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="no read-only view of a object ledger"):
        status_reader(object())  # type: ignore[arg-type]
