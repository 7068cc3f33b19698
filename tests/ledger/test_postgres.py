"""The PostgreSQL ledger on a real server: it answers what the SQLite ledger answers for the same saves,
its lease is timed by the database, and fencing refuses every write of a replica whose epoch is gone."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from probe.clock import FakeClock
from probe.engine.maintenance import Maintenance
from probe.errors import FencedError, LedgerError, LedgerUnusableError
from probe.hops import Hop
from probe.leadership.lease import Leadership, Step
from probe.ledger.postgres import PostgresLease, PostgresLedger, PostgresPruner, PostgresTarget, check_fence
from probe.ledger.rows import COLUMNS, DUE_COLUMNS, SCHEMA_VERSION, LedgerCount, to_row
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import State
from probe.lifecycle.verdict import due_at
from tests.ledger.reference import answers
from tests.ledger.test_latest import canary, random_batches
from tests.postgres import ROLE_PASSWORD, Cluster

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def target(postgres: Cluster) -> PostgresTarget:
    return PostgresTarget(postgres.dsn(postgres.database()), ROLE_PASSWORD)


@dataclasses.dataclass
class Replica:
    leadership: Leadership
    ledger: PostgresLedger


def epoch_of(leadership: Leadership) -> Callable[[], int | None]:
    return lambda: leadership.epoch


@pytest.fixture
def replicas(target: PostgresTarget) -> Iterator[tuple[Replica, Replica]]:
    made = []
    for name in ("a", "b"):
        leadership = Leadership(PostgresLease(target), 15.0, holder=name, monotonic=Ticking())
        made.append(Replica(leadership, PostgresLedger(target, holder=name, epoch=epoch_of(leadership))))
    try:
        yield made[0], made[1]
    finally:
        for replica in made:
            replica.ledger.close()
            replica.leadership.close()


def expire(postgres: Cluster, target: PostgresTarget) -> None:
    """Let the lease run out now, by the database's clock (as if its holder had stopped renewing)."""
    database = conninfo_to_dict(target.dsn)["dbname"]
    with psycopg.connect(postgres.dsn(str(database)), password=ROLE_PASSWORD, autocommit=True) as db:
        db.execute("UPDATE kanari_lease SET expires_at = clock_timestamp() - interval '1 second'")


def test_the_same_saves_give_the_same_answers_as_sqlite(
    tmp_path: Path, replicas: tuple[Replica, Replica]
) -> None:
    leader = replicas[0]
    assert leader.leadership.step() is Step.TOOK
    rng = random.Random(7)
    records = [canary(number, float(at), rng.choice(["4601", "0301"])) for number, at in
               enumerate(rng.sample(range(1, 10_000), 40))]  # fmt: skip
    sqlite = Ledger(tmp_path / "ledger.sqlite3")
    try:
        for batch in random_batches(records, rng):
            counts: dict[LedgerCount, int] = {
                ("sent", "portal", record.municipality, "fjordsys", "", ""): 1 for record in batch
            }
            sqlite.save(batch, counts)
            leader.ledger.save(batch, counts)
            assert answers(leader.ledger) == answers(sqlite)
    finally:
        sqlite.close()
    assert answers(leader.ledger).counts  # counted, not just empty on both


def test_a_standby_cannot_write(replicas: tuple[Replica, Replica]) -> None:
    leader, standby = replicas
    assert leader.leadership.step() is Step.TOOK
    assert standby.leadership.step() is Step.WAITING
    with pytest.raises(
        FencedError, match=r"this replica \(b, epoch None\) does not hold the lease \(epoch 1 of a\)"
    ):
        standby.ledger.save([canary(1, 100.0)])
    assert not standby.ledger.writable()
    assert standby.ledger.connected()
    assert leader.ledger.writable()


def test_a_takeover_fences_the_old_leader(postgres: Cluster, target: PostgresTarget,
                                          replicas: tuple[Replica, Replica]) -> None:  # fmt: skip
    old, new = replicas
    assert old.leadership.step() is Step.TOOK
    old.ledger.save([canary(1, 100.0)])
    assert new.leadership.step() is Step.WAITING  # the lease holds: no takeover
    expire(postgres, target)
    assert new.leadership.step() is Step.TOOK
    assert (old.leadership.epoch, new.leadership.epoch) == (1, 2)
    # The old leader, unaware, writes: refused, and nothing of it is committed.
    with pytest.raises(FencedError, match=r"\(a, epoch 1\) does not hold the lease \(epoch 2 of b\)"):
        old.ledger.save([canary(2, 200.0)], {("sent", "portal", "4601", "fjordsys", "", ""): 1})
    assert [record.id for record in new.ledger.open_records()] == ["c0001"]
    assert new.ledger.counts() == {}
    # Its next renewal finds the epoch gone: lost for good.
    assert old.leadership.step() is Step.LOST
    assert not old.leadership.leading()
    new.ledger.save([canary(3, 300.0)])


def test_a_fenced_prune_deletes_nothing(postgres: Cluster, target: PostgresTarget,
                                        replicas: tuple[Replica, Replica]) -> None:  # fmt: skip
    old, new = replicas
    assert old.leadership.step() is Step.TOOK
    closed = canary(1, 100.0)
    closed.state = State.CLOSED
    old.ledger.save([closed, canary(2, 150.0)])
    expire(postgres, target)
    assert new.leadership.step() is Step.TOOK
    fenced = PostgresPruner(old.ledger)
    try:
        with pytest.raises(FencedError):
            fenced.batch(older_than=1_000.0)
    finally:
        fenced.close()
    pruner = PostgresPruner(new.ledger, rows=10)
    try:
        # The closed canary has no verdict, so route_latest does not keep it: it goes; the open one stays.
        batch = pruner.batch(older_than=1_000.0)
        assert (batch.deleted, batch.done) == (1, True)
    finally:
        pruner.close()
    assert [record.id for record in new.ledger.open_records()] == ["c0002"]


def test_a_clean_release_lets_the_standby_take_over_at_once(replicas: tuple[Replica, Replica]) -> None:
    leader, standby = replicas
    assert leader.leadership.step() is Step.TOOK
    leader.leadership.release()
    assert standby.leadership.step() is Step.TOOK
    assert standby.leadership.epoch == 2


def test_a_ledger_of_another_schema_is_refused(postgres: Cluster, target: PostgresTarget) -> None:
    first = PostgresLedger(target, holder="a", epoch=lambda: None)
    first.close()
    database = conninfo_to_dict(target.dsn)["dbname"]
    with psycopg.connect(postgres.dsn(str(database)), password=ROLE_PASSWORD, autocommit=True) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    expected = f"it has schema '99' and this Kanari writes schema {SCHEMA_VERSION}"
    with pytest.raises(LedgerUnusableError, match=expected):
        PostgresLedger(target, holder="a", epoch=lambda: None)


def test_a_ledger_of_schema_4_is_migrated_and_its_canaries_read_as_due_at_their_deadline(
    postgres: Cluster, target: PostgresTarget
) -> None:
    first = PostgresLedger(target, holder="a", epoch=lambda: None)
    first.close()
    database = conninfo_to_dict(target.dsn)["dbname"]
    old = canary(1, created_at=100.0)
    with psycopg.connect(postgres.dsn(str(database)), password=ROLE_PASSWORD, autocommit=True) as db:
        # Schema 4 as it was: the canaries table without the due columns.
        for column in DUE_COLUMNS.values():
            db.execute(f"ALTER TABLE canaries DROP COLUMN {column}")
        db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
        columns = COLUMNS[: COLUMNS.index("cleanup_failed_at") + 1]
        row = to_row(old)[: len(columns)]
        db.execute(
            f"INSERT INTO canaries ({', '.join(columns)}) VALUES ({', '.join('%s' for _ in columns)})", row
        )
    with pytest.raises(LedgerUnusableError, match="it has schema '4'"):
        PostgresLedger(target, holder="status", epoch=lambda: None, create=False)
    migrated = PostgresLedger(target, holder="a", epoch=lambda: None)
    try:
        (record,) = migrated.open_records()
        assert record.id == "c0001"
        assert record.due == {}
        assert due_at(record, Hop.RECEIPTED) == record.deadline_at
    finally:
        migrated.close()


def test_a_wrong_password_is_an_error_naming_the_database_not_the_password(target: PostgresTarget) -> None:
    wrong = dataclasses.replace(target, password="not-the-password")
    with pytest.raises(LedgerError) as raised:
        PostgresLedger(wrong, holder="a", epoch=lambda: None)
    message = str(raised.value)
    assert message.startswith(f"cannot connect to ledger {target.describe()}: ")
    assert "password authentication failed" in message
    assert "not-the-password" not in message


def test_describe_leaves_a_password_out() -> None:
    target = PostgresTarget("postgresql://kanari:hunter2@db.example:5433/kanari?sslmode=verify-full")
    assert (
        target.describe()
        == "postgresql dbname=kanari host=db.example port=5433 sslmode=verify-full user=kanari"
    )


def test_an_unreachable_database_leaves_the_lease_to_run_out_by_the_leaders_clock(tmp_path: Path) -> None:
    # No server at this socket: the standby stays one, the renewal of a leader fails without a verdict.
    gone = PostgresTarget(f"host={tmp_path} port=1 dbname=x user=x")
    clock = Ticking()
    leadership = Leadership(PostgresLease(gone), 15.0, holder="a", monotonic=clock)
    try:
        assert leadership.step() is Step.UNREACHABLE
        assert leadership.role.value == "standby"
    finally:
        leadership.close()


async def test_the_maintenance_prunes_the_postgres_ledger_through_its_pruner(
    replicas: tuple[Replica, Replica],
) -> None:
    leader = replicas[0]
    assert leader.leadership.step() is Step.TOOK
    old = [canary(number, 100.0 + number) for number in range(5)]
    for record in old:
        record.state = State.CLOSED
    leader.ledger.save([*old, canary(9, 90_000.0)])
    maintenance = Maintenance(
        Path("unused.sqlite3"), FakeClock(100_000.0), retention=86_400.0, rows=2,
        opener=lambda: PostgresPruner(leader.ledger, rows=2),
    )  # fmt: skip
    try:
        report = await maintenance.prune()
    finally:
        await maintenance.close()
    assert (report.pruned, report.batches, report.complete, report.error) == (5, 3, True, None)
    assert [record.id for record in leader.ledger.open_records()] == ["c0009"]


def test_a_leader_paused_inside_a_write_does_not_hold_up_the_takeover(
    postgres: Cluster, target: PostgresTarget
) -> None:
    # A three-second lease: the server ends a transaction idle for a second, a takeover waits at most
    # half a second for the lease row at each try.
    short = dataclasses.replace(target, lease=3.0)
    old_lease = Leadership(PostgresLease(short), 3.0, holder="a", monotonic=Ticking())
    new_lease = Leadership(PostgresLease(short), 3.0, holder="b", monotonic=Ticking())
    old = PostgresLedger(short, holder="a", epoch=epoch_of(old_lease))
    try:
        assert old_lease.step() is Step.TOOK
        expire(postgres, target)
        before = time.monotonic()
        db = old._connection()
        steps: list[Step] = []

        def pause_inside_a_write_while_the_other_takes_over() -> float:
            with db.transaction():
                check_fence(db, "a", 1)  # the share lock on the lease row, then the process "pauses"
                started = time.monotonic()
                while (step := new_lease.step()) is not Step.TOOK:
                    steps.append(step)
                    assert time.monotonic() - started < 10, steps
                took = time.monotonic() - started
            return took  # never: the commit fails, the server has ended the transaction

        with pytest.raises(psycopg.Error, match="idle-in-transaction timeout"):
            pause_inside_a_write_while_the_other_takes_over()
        took = time.monotonic() - before
        # The server ended the paused transaction after a second; the takeover came at the next try.
        assert Step.UNREACHABLE in steps
        assert 1.0 <= took < 3.0, (took, steps)
        assert new_lease.epoch == 2
        # The old leader's next write goes through a new connection, and is fenced.
        with pytest.raises(FencedError):
            old.save([canary(1, 100.0)])
    finally:
        old.close()
        old_lease.close()
        new_lease.close()
