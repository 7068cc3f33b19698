"""Pruning: only closed canaries older than the cutoff go, a bounded number per transaction, never the
ones ``route_latest`` names, never a counter; a batch that fails leaves everything; and the probe's own
connection keeps committing while another prunes."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path

import pytest

from bench.history import DAY, History, build
from probe.errors import LedgerError, LedgerUnusableError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.pruning import CHUNK, Batch, Pruner
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from tests.ledger.files import snapshot
from tests.ledger.reference import answers
from tests.ledger_view import all_records


@pytest.fixture
def history(tmp_path: Path) -> History:
    return build(tmp_path / "ledger.sqlite3", routes=6, days=2)


def canary(canary_id: str, created_at: float, state: State, verdict: Verdict | None = None) -> CanaryRecord:
    record = CanaryRecord(
        id=canary_id,
        channel=Channel.PORTAL,
        municipality="4601",
        vendor="fjordsys",
        bydel=None,
        final_hop=Hop.REGISTERED,
        created_at=created_at,
        deadline_at=created_at + 900,
        marker="KANARI1.a.b",
        state=state,
        verdict=verdict,
    )
    if verdict is Verdict.LOST:
        record.blamed_hop, record.blamed_owner = Hop.RECEIPTED, Owner.VENDOR
    return record


def test_only_closed_canaries_older_than_the_cutoff_go_in_batches(history: History) -> None:
    cutoff = history.end - DAY
    ledger = Ledger(history.path)
    try:
        # Open canaries are never pruned, however old: one still awaiting its cleanup, on a route whose
        # newest resolved canary is younger.
        stuck = canary("stuck", cutoff - 5000.0, State.RESOLVED, Verdict.LOST)
        stuck.channel, stuck.municipality = history.routes[0].key
        ledger.save([stuck])
        before = all_records(ledger)
        asked = answers(ledger)
        commits = ledger.commits
        deleted = ledger.prune(cutoff, batch=97)
        after = all_records(ledger)
        # The route's newest canaries are all younger than a day: nothing old is kept for route_latest.
        assert [r.id for r in after] == [
            r.id for r in before if not (r.state is State.CLOSED and r.created_at < cutoff)
        ]
        assert deleted == len(before) - len(after) > 97 * 3
        assert ledger.commits - commits == deleted // 97 + 1  # full batches, then the one that found the end
        assert "stuck" in {r.id for r in after}
        assert answers(ledger) == asked  # counters, versions, last deliveries, open canaries: all kept
        assert ledger.prune(cutoff) == 0
    finally:
        ledger.close()


def test_a_silent_routes_newest_delivered_and_resolved_canaries_are_kept(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        ledger.save(
            [
                canary("old-delivered", 1.0, State.CLOSED, Verdict.DELIVERED),
                canary("delivered", 2.0, State.CLOSED, Verdict.DELIVERED),
                canary("lost", 3.0, State.CLOSED, Verdict.LOST),
                canary("in-flight", 4.0, State.IN_FLIGHT),
            ]
        )
        assert ledger.prune(older_than=1000.0) == 1
        assert [r.id for r in all_records(ledger)] == ["delivered", "lost", "in-flight"]
        # What a restart rebuilds the gauges and kanari status from is still there.
        assert [r.id for r in ledger.newest_delivered()] == ["delivered"]
        assert [r.id for r in ledger.latest_per_route()[(Channel.PORTAL, "4601")]] == ["in-flight", "lost"]
        # Once a newer canary is delivered, the older ones are prunable again.
        ledger.save([canary("new", 5.0, State.CLOSED, Verdict.DELIVERED)])
        assert ledger.prune(older_than=1000.0) == 2
        assert [r.id for r in all_records(ledger)] == ["in-flight", "new"]
    finally:
        ledger.close()


def test_a_batch_ends_its_transaction_once_it_has_held_the_lock_for_its_budget(history: History) -> None:
    ticks = itertools.count()  # every look at the timer is one second later
    pruner = Pruner.open(history.path, rows=10 * CHUNK, budget=1.0, timer=lambda: float(next(ticks)))
    try:
        batch = pruner.batch(history.end - DAY)
        assert (batch.deleted, batch.done) == (CHUNK, False)
        assert batch.held == 2.0  # taken at 0, over budget after the first statement (1), committed (2)
        assert pruner.batch(history.start).deleted == 0  # nothing older than the history's start
    finally:
        pruner.close()


def test_a_pruner_runs_its_batches_to_the_end_and_says_so(history: History) -> None:
    pruner = Pruner.open(history.path, rows=CHUNK + 1)
    try:
        batches: list[Batch] = []
        while not batches or not batches[-1].done:
            batches.append(pruner.batch(history.end - DAY))
        assert all(batch.deleted == CHUNK + 1 for batch in batches[:-1])
        assert batches[-1].deleted < CHUNK + 1
        assert all(batch.held >= 0 for batch in batches)
        pruner.checkpoint()
    finally:
        pruner.close()


def test_a_batch_that_fails_half_way_deletes_nothing(history: History) -> None:
    # A trigger refuses to delete a row that the batch's second statement reaches: the statement fails
    # after the first one deleted its rows, and the whole transaction is rolled back.
    db = sqlite3.connect(history.path, isolation_level=None)
    try:
        (victim,) = db.execute(
            "SELECT id FROM canaries WHERE state = 'closed' ORDER BY created_at LIMIT 1 OFFSET ?",
            (CHUNK + 5,),
        ).fetchone()
        db.execute(
            f"CREATE TRIGGER refuse BEFORE DELETE ON canaries WHEN old.id = '{victim}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    finally:
        db.close()
    before = snapshot(history.path)
    pruner = Pruner.open(history.path)
    try:
        with pytest.raises(LedgerError, match="ledger prune failed: refused by the test"):
            pruner.batch(history.end)
        assert len(all_records(history.path)) == history.rows
    finally:
        pruner.close()
    assert snapshot(history.path)[history.path.name] == before[history.path.name]


def test_a_batch_waits_for_the_writer_and_fails_only_after_the_busy_timeout(history: History) -> None:
    writer = sqlite3.connect(history.path, isolation_level=None)
    pruner = Pruner.open(history.path, busy_timeout=0.05)
    try:
        writer.execute("BEGIN IMMEDIATE")
        with pytest.raises(LedgerError, match="ledger prune failed: database is locked"):
            pruner.batch(history.end)
        writer.execute("COMMIT")
        assert pruner.batch(history.end).deleted > 0
    finally:
        pruner.close()
        writer.close()


def test_a_pruner_opens_only_a_ledger_of_this_schema(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    with pytest.raises(LedgerError, match=r"cannot open ledger .* for pruning"):
        Pruner.open(missing)
    assert not missing.exists()  # never a new empty database
    older = build(tmp_path / "older.sqlite3", routes=1, days=1, schema=3)
    before = snapshot(older.path)
    with pytest.raises(LedgerUnusableError, match="it has schema 3 and this Kanari reads schema"):
        Pruner.open(older.path)
    assert snapshot(older.path) == before
    (tmp_path / "text").write_text("not a database")
    with pytest.raises(LedgerError, match=r"cannot open ledger .* for pruning"):
        Pruner.open(tmp_path / "text")


def test_a_closed_pruner_fails_as_a_ledger_error_and_leaves_a_given_connection_open(history: History) -> None:
    pruner = Pruner.open(history.path)
    pruner.close()
    with pytest.raises(LedgerError, match="ledger checkpoint failed"):
        pruner.checkpoint()
    with pytest.raises(LedgerError, match="ledger prune failed"):
        pruner.batch(history.end)
    db = sqlite3.connect(history.path, isolation_level=None)
    try:
        Pruner(db).close()
        assert db.execute("SELECT COUNT(*) FROM canaries").fetchone() == (history.rows,)
    finally:
        db.close()
    with pytest.raises(ValueError, match="at least one row"):
        Pruner(db, rows=0)


def test_the_probe_keeps_committing_while_another_connection_prunes_a_backlog(history: History) -> None:
    # Two threads, really at once: the pruner's transactions and the probe's commits take turns through
    # SQLite's busy timeout, and neither sees an error.
    ledger = Ledger(history.path)
    pruner = Pruner.open(history.path, rows=CHUNK, budget=0.005)
    deleted: list[int] = []
    failures: list[BaseException] = []
    started = threading.Event()

    def prune() -> None:
        try:
            while True:
                batch = pruner.batch(history.end - 0.5 * DAY)
                deleted.append(batch.deleted)
                started.set()
                if batch.done:
                    return
        except BaseException as error:  # pragma: no cover - reported by the assertion below
            failures.append(error)
            started.set()

    worker = threading.Thread(target=prune)
    worker.start()
    try:
        started.wait()
        saved = [canary(f"new-{number}", history.end + number, State.IN_FLIGHT) for number in range(300)]
        for record in saved:
            ledger.save([record], {("sent", "portal", "4601", "fjordsys", "", ""): 1})
    finally:
        worker.join()
        pruner.close()
    try:
        assert failures == []
        assert len(deleted) > 2
        assert sum(deleted) > 0
        stored = {record.id for record in all_records(ledger)}
        assert {record.id for record in saved} <= stored
        assert ledger.counts()[("sent", "portal", "4601", "fjordsys", "", "")] == 300
        assert len(stored) == history.rows + 300 - sum(deleted)
    finally:
        ledger.close()
