"""``route_latest``: what a restart reads answers exactly what the rows say, whether it was kept by
``save`` as canaries came and changed, backfilled by the migration from schema 3, or built with a
synthetic history; and every question is an index seek or a read of the small tables, never a scan."""

from __future__ import annotations

import dataclasses
import random
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.history import END, build
from probe.errors import LedgerUnusableError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.rows import SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from tests.ledger.files import snapshot
from tests.ledger.reference import answers, expected
from tests.ledger_view import all_records


def canary(number: int, created_at: float, municipality: str = "4601") -> CanaryRecord:
    return CanaryRecord(
        id=f"c{number:04d}",
        channel=Channel.PORTAL if number % 3 else Channel.ALTINN,
        municipality=municipality,
        vendor="fjordsys",
        bydel=None,
        final_hop=Hop.REGISTERED,
        created_at=created_at,
        deadline_at=created_at + 900,
        marker="KANARI1.a.b",
    )


def _advance(record: CanaryRecord, rng: random.Random) -> None:
    """One step of a canary's life, as the engine takes it: version and verdict set once, never cleared."""
    if record.state is State.INTENT:
        record.state, record.upstream_id = State.IN_FLIGHT, "u"
        if rng.random() < 0.7:
            record.api_version = rng.choice(["v1", "v2"])
    elif record.state is State.IN_FLIGHT:
        record.state = State.RESOLVED
        record.verdict = rng.choice([Verdict.DELIVERED, Verdict.DELIVERED, Verdict.LOST, Verdict.UNKNOWN])
        if record.verdict is Verdict.LOST:
            record.blamed_hop, record.blamed_owner = Hop.RECEIPTED, Owner.VENDOR
    else:
        record.state = State.CLOSED


def random_batches(records: list[CanaryRecord], rng: random.Random) -> Iterator[list[CanaryRecord]]:
    """Every canary at every step of its life (four saves each), in batches of one to eight saves that
    mix routes and steps, each canary advanced one step just before the batch holding it is saved."""
    steps = [record for record in records for _ in range(4)]
    rng.shuffle(steps)
    while steps:
        size = rng.randint(1, 8)
        batch, steps = steps[:size], steps[size:]
        unique = {record.id: record for record in batch}
        for record in unique.values():
            if record.state is not State.CLOSED:
                _advance(record, rng)
        yield list(unique.values())


@pytest.mark.parametrize("seed", range(6))
def test_save_keeps_each_routes_newest_canaries_as_the_rows_say(tmp_path: Path, seed: int) -> None:
    # Canaries on three routes, created in any order (times drawn without repeats), each saved at every
    # step of its life in batches that mix routes and steps: after every save route_latest answers what
    # the window queries over the rows answered.
    rng = random.Random(seed)
    times = rng.sample(range(1, 10_000), 60)
    records = [
        canary(number, float(at), municipality=rng.choice(["4601", "0301"]))
        for number, at in enumerate(times)
    ]
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        for batch in random_batches(records, rng):
            ledger.save(batch)
            rows = all_records(ledger)
            assert dataclasses.replace(answers(ledger), counts={}) == dataclasses.replace(
                expected(rows), counts={}
            )
    finally:
        ledger.close()


def test_an_older_canary_delivered_after_a_newer_one_does_not_become_the_newest(tmp_path: Path) -> None:
    older, newer = canary(1, 100.0), canary(2, 200.0)
    for record, version in ((older, "v2"), (newer, "v1")):
        record.state, record.verdict, record.api_version = State.RESOLVED, Verdict.DELIVERED, version
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        ledger.save([newer])
        ledger.save([older])  # resolved later, sent earlier
        assert [record.id for record in ledger.newest_delivered()] == ["c0002"]
        assert ledger.latest_versions() == {(Channel.PORTAL, "4601"): "v1"}
        assert ledger.last_created() == {(Channel.PORTAL, "4601"): 200.0}
    finally:
        ledger.close()


def test_a_synthetic_history_answers_what_its_rows_say(tmp_path: Path) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=24, days=3)
    ledger = Ledger(history.path)
    try:
        rows = all_records(ledger)
        assert len(rows) == history.rows == 24 * 3 * 96
        # Counters included: the builder's totals are those of its rows, as the probe keeps them.
        assert answers(ledger) == expected(rows)
        assert len(ledger.latest_versions()) == 12  # the portal routes; Altinn has no report version
        assert {record.verdict for record in rows} == {*Verdict, None}
    finally:
        ledger.close()


def test_a_schema_3_ledger_is_migrated_with_route_latest_backfilled(tmp_path: Path) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=12, days=2, schema=3)
    db = sqlite3.connect(history.path)
    try:
        assert "route_latest" not in {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    finally:
        db.close()
    ledger = Ledger(history.path)
    try:
        rows = all_records(ledger)
        assert len(rows) == history.rows
        assert answers(ledger) == expected(rows)
        assert all(record.cleanup_failed_at is None for record in rows)
        # The new column is kept from now on.
        rows[0].cleanup_failed_at = 123.0
        ledger.save([rows[0]])
        assert all_records(ledger)[0].cleanup_failed_at == 123.0
    finally:
        ledger.close()
    db = sqlite3.connect(history.path)
    try:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"canaries_open", "canaries_route", "canaries_closed"} <= indexes
    finally:
        db.close()


def test_a_failed_migration_from_schema_3_leaves_it_as_it_was(tmp_path: Path) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=2, days=1, schema=3)
    db = sqlite3.connect(history.path, isolation_level=None)
    try:  # a table of that name already there, not Kanari's: the backfill cannot write it
        db.execute("CREATE TABLE route_latest (channel TEXT)")
    finally:
        db.close()
    before = snapshot(history.path)
    with pytest.raises(LedgerUnusableError, match=f"migrating it from schema 3 to {SCHEMA_VERSION} failed"):
        Ledger(history.path)
    assert snapshot(history.path) == before
    db = sqlite3.connect(history.path)
    try:  # schema 4's column was rolled back with the rest
        assert "cleanup_failed_at" not in {row[1] for row in db.execute("PRAGMA table_info(canaries)")}
    finally:
        db.close()


def _plans(ledger: Ledger, ask: Callable[[], object]) -> list[str]:
    """The query plan of every statement ``ask`` makes the ledger run (traced, not restated here)."""
    statements: list[str] = []
    ledger._db.set_trace_callback(statements.append)
    try:
        ask()
    finally:
        ledger._db.set_trace_callback(None)
    return [
        " / ".join(row[3] for row in ledger._db.execute(f"EXPLAIN QUERY PLAN {statement}"))
        for statement in statements
        if not statement.startswith(("BEGIN", "COMMIT"))
    ]


@pytest.mark.parametrize(
    "question",
    ["counts", "latest_versions", "newest_delivered", "open_records", "last_created", "latest_per_route"],
)
def test_no_start_question_scans_the_canaries(tmp_path: Path, question: str) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=4, days=1)
    ledger = Ledger(history.path)
    try:
        ledger._db.execute("ANALYZE")  # the planner's choice must hold with statistics too
        plans = _plans(ledger, getattr(ledger, question))
    finally:
        ledger.close()
    assert plans
    for plan in plans:
        # The open canaries' partial index holds a few rows per route; anything else is an index seek.
        assert not re.search(r"SCAN canaries(?! USING INDEX canaries_open)", plan), plan


def test_pruning_with_nothing_to_delete_reads_only_its_index(tmp_path: Path) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=4, days=1)
    ledger = Ledger(history.path)
    try:
        ledger._db.execute("ANALYZE")
        plans = _plans(ledger, lambda: ledger.prune(history.start))
    finally:
        ledger.close()
    assert len(plans) == 1
    assert "SEARCH canaries USING INDEX canaries_closed (created_at<?)" in plans[0]


def test_the_end_of_a_history_is_where_the_schedule_resumes(tmp_path: Path) -> None:
    history = build(tmp_path / "ledger.sqlite3", routes=4, days=1, interval=3600.0)
    ledger = Ledger(history.path)
    try:
        resumed = ledger.last_created()
    finally:
        ledger.close()
    assert set(resumed) == {route.key for route in history.routes}
    assert all(END - 3600.0 <= created < END for created in resumed.values())
