"""Reading a ledger's rows in tests, as the probe would read them back, without a method on the probe's
own ledger that only tests would use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from probe.ledger.rows import from_row
from probe.ledger.sqlite import Ledger
from probe.ledger.store import LedgerStore
from probe.lifecycle.record import CanaryRecord


def all_records(ledger: LedgerStore | Path) -> list[CanaryRecord]:
    """Every canary in the ledger, oldest first."""
    if not isinstance(ledger, (Ledger, Path)):
        raise TypeError(f"an SQLite ledger or its path, not {type(ledger).__name__}")
    path = ledger.path if isinstance(ledger, Ledger) else ledger
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return [from_row(row) for row in db.execute("SELECT * FROM canaries ORDER BY created_at")]
    finally:
        db.close()


def record(ledger: LedgerStore | Path, canary_id: str) -> CanaryRecord | None:
    """One canary by id."""
    return next((found for found in all_records(ledger) if found.id == canary_id), None)
