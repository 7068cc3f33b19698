"""The status page's ledger questions (:mod:`probe.ledger.history`) on a ledger with history: what the
rows say, each answered from an index (never a scan of the history)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.history import build
from probe.hops import Channel, Verdict
from probe.ledger import history
from probe.ledger.sqlite import Ledger
from tests.ledger.reference import WINDOW, answers, expected
from tests.ledger_view import all_records


def test_newest_verdicts_recent_canaries_and_window_counts_are_what_the_rows_say(tmp_path: Path) -> None:
    built = build(tmp_path / "ledger.sqlite3", routes=12, days=2)
    ledger = Ledger(built.path)
    try:
        rows = all_records(ledger)
        asked, wanted = answers(ledger), expected(rows)
        assert asked.latest_verdicts == wanted.latest_verdicts
        assert asked.recent == wanted.recent
        assert asked.verdicts == wanted.verdicts
        assert len(asked.latest_verdicts) == 12
        assert all(len(ids) == 5 for ids in asked.recent.values())
        assert sum(sum(counts.values()) for counts in asked.verdicts.values()) > 0
        # A window before the history: nothing; an unknown route: an empty count, not missing.
        newest = max(r.created_at for r in rows)
        assert ledger.verdict_counts([(Channel.PORTAL, "9999")], newest - WINDOW) == {
            (Channel.PORTAL, "9999"): {}
        }
        everything = ledger.verdict_counts(list(asked.latest_verdicts), 0.0)
        assert sum(sum(c.values()) for c in everything.values()) == sum(1 for r in rows if r.verdict)
        assert set().union(*(c for c in everything.values())) <= set(Verdict)
    finally:
        ledger.close()


def test_each_question_is_answered_from_an_index(tmp_path: Path) -> None:
    built = build(tmp_path / "ledger.sqlite3", routes=4, days=1)
    db = sqlite3.connect(built.path)
    try:
        plans = {
            "recent": (history.SQLITE_RECENT, ("portal", "0000", 5)),
            "verdicts": (history.SQLITE_VERDICTS, ("portal", "0000", 0.0)),
            "latest": (history.SQLITE_LATEST_VERDICTS, ()),
        }
        for name, (query, parameters) in plans.items():
            plan = " ".join(str(row[3]) for row in db.execute(f"EXPLAIN QUERY PLAN {query}", parameters))
            if name == "latest":
                # One scan of route_latest (a row per route), then a lookup by id per row.
                assert "SCAN route_latest" in plan, plan
                assert "USING INDEX sqlite_autoindex_canaries_1" in plan, plan
            else:
                assert "USING INDEX canaries_route" in plan, (name, plan)
                assert "SCAN canaries" not in plan, (name, plan)
    finally:
        db.close()
