"""A real SQLite database that cannot grow (SQLite's own page limit gives the same "database or disk is
full" as a full file system): a write raises :class:`LedgerError`, leaves the ledger as it was, and the
ledger takes writes again once there is room."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.errors import LedgerError
from probe.ledger.sqlite import Ledger
from tests.engine.kit import record
from tests.ledger_view import all_records


def test_a_full_database_refuses_the_write_whole_and_recovers(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        ledger.save([record(number=1)])
        connection = ledger._db  # the test fills the ledger's own database
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        connection.execute(f"PRAGMA max_page_count = {pages}")
        saved = 1

        def fill() -> None:
            nonlocal saved
            for number in range(2, 10_000):
                ledger.save([record(number=number), record(number=number + 100_000)])
                saved += 2

        with pytest.raises(LedgerError, match="full"):
            fill()
        stored = {canary.id for canary in all_records(ledger)}
        assert len(stored) == saved  # the failed write left nothing half-written
        connection.execute("PRAGMA max_page_count = 1073741823")
        ledger.save([record(number=200_000)])
        assert len(all_records(ledger)) == saved + 1
    finally:
        ledger.close()
