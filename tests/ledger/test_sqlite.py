from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from probe.engine.open_canaries import OpenCanaries
from probe.errors import LedgerError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.rows import SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from probe.lifecycle.counters import counter_keys
from probe.lifecycle.record import CanaryRecord, State
from probe.metrics.metric_set import Metrics, geometric_buckets
from tests.ledger.files import SCHEMA_1
from tests.ledger_view import record as stored


def make(
    canary_id: str,
    created_at: float,
    channel: Channel = Channel.PORTAL,
    municipality: str = "4601",
    **fields: Any,
) -> CanaryRecord:
    record = CanaryRecord(
        id=canary_id,
        channel=channel,
        municipality=municipality,
        vendor="fjordsys",
        bydel=None,
        final_hop=Hop.REGISTERED,
        created_at=created_at,
        deadline_at=created_at + 900,
        marker="KANARI1.a.b",
    )
    for name, value in fields.items():
        setattr(record, name, State(value) if name == "state" else value)
    return record


def write(ledger: Ledger, records: list[CanaryRecord]) -> None:
    """Write new records the way the engine does: rows and the counters they add, in one transaction."""
    canaries = OpenCanaries(ledger, Metrics(CollectorRegistry(), geometric_buckets(15, 900)))
    for record in records:
        canaries.add(record)
    canaries.flush()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    store = Ledger(tmp_path / "ledger.sqlite3")
    yield store
    store.close()


def test_round_trip_keeps_every_field(ledger: Ledger) -> None:
    record = make(
        "a",
        100.0,
        state="resolved",
        upstream_id="u",
        hops={Hop.ACCEPTED: 101.0, Hop.FORWARDED: 102.0},
        last_status="SENDT_FAGSYSTEM",
        status_ok_at=1000.0,
        readback_ok_at=1001.0,
        verdict=Verdict.LOST,
        verdict_at=1002.0,
        blamed_hop=Hop.RECEIPTED,
        blamed_owner=Owner.VENDOR,
        failure_reason=None,
        late_at=1100.0,
        duplicate=True,
        cleaned_at=1200.0,
        api_version="v1",
        diagnostics="AVVIST_FAGSYSTEM: Fagsystemet støtter ikke versjon 2",
    )
    ledger.save([record])
    assert stored(ledger, "a") == record


def test_wal_and_full_sync(ledger: Ledger, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection; check the ledger's own.
    assert ledger._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_open_records_and_last_created(ledger: Ledger) -> None:
    ledger.save([make("a", 10.0), make("b", 20.0, state="closed"), make("c", 30.0, channel=Channel.ALTINN)])
    assert [r.id for r in ledger.open_records()] == ["a", "c"]
    assert ledger.last_created() == {(Channel.PORTAL, "4601"): 20.0, (Channel.ALTINN, "4601"): 30.0}


def test_counts_match_counter_keys_of_every_record(ledger: Ledger) -> None:
    records = [
        make("intent", 1.0),
        make("sent", 2.0, state="in_flight", upstream_id="u"),
        make(
            "lost",
            3.0,
            state="resolved",
            upstream_id="u",
            verdict=Verdict.LOST,
            blamed_hop=Hop.RECEIPTED,
            blamed_owner=Owner.VENDOR,
            late_at=9.0,
        ),
        make(
            "failed",
            4.0,
            state="closed",
            failure_reason="http_5xx",
            verdict=Verdict.FAILED,
            blamed_hop=Hop.ACCEPTED,
            blamed_owner=Owner.KS,
        ),
        make("dup", 5.0, state="closed", upstream_id="u", verdict=Verdict.DELIVERED, duplicate=True),
        make("unknown", 6.0, state="closed", failure_reason="rate_limited", verdict=Verdict.UNKNOWN),
    ]
    write(ledger, records)
    expected: dict[tuple[str, ...], int] = {}
    for record in records:
        for name, labels in counter_keys(record):
            key = (
                name,
                record.channel.value,
                record.municipality,
                record.vendor,
                *labels,
                *("",) * (2 - len(labels)),
            )
            expected[key] = expected.get(key, 0) + 1
    assert ledger.counts() == expected


def test_prune_folds_counts_so_they_never_go_backwards(ledger: Ledger) -> None:
    write(
        ledger,
        [
            make("old", 1.0, state="closed", upstream_id="u", verdict=Verdict.DELIVERED),
            make("new", 5000.0, state="closed", upstream_id="u", verdict=Verdict.DELIVERED),
            make("open", 2.0, state="in_flight", upstream_id="u"),
        ],
    )
    before = ledger.counts()
    assert ledger.prune(older_than=1000.0) == 1
    assert stored(ledger, "old") is None
    assert stored(ledger, "open") is not None  # never prunes what is not closed
    assert ledger.counts() == before


def test_latest_per_route_and_newest_delivered(ledger: Ledger) -> None:
    ledger.save(
        [
            make("d1", 1.0, state="closed", verdict=Verdict.DELIVERED),
            make("d2", 2.0, state="closed", verdict=Verdict.DELIVERED),
            make("l3", 3.0, state="resolved", verdict=Verdict.LOST),
            make("f4", 4.0, state="in_flight"),
        ]
    )
    assert [r.id for r in ledger.newest_delivered()] == ["d2"]
    assert [r.id for r in ledger.latest_per_route()[(Channel.PORTAL, "4601")]] == ["f4", "l3"]


def test_unopenable_ledger_is_a_ledger_error(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(LedgerError, match="cannot open ledger"):
        Ledger(tmp_path / "dir")


def test_writable(ledger: Ledger) -> None:
    assert ledger.writable()


def test_a_ledger_of_the_previous_schema_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1)
    db.close()
    ledger = Ledger(path)
    try:
        old = stored(ledger, "old")
        assert old is not None
        assert old.verdict is Verdict.DELIVERED
        assert old.api_version is None
        # The counters of schema 3 start from the rows (and archived totals) of the older ledger.
        assert ledger.counts() == {
            ("sent", "portal", "4601", "fjordsys", "", ""): 1,
            ("resolved", "portal", "4601", "fjordsys", "delivered", ""): 1,
        }
        ledger.save([make("new", 20.0, api_version="v2")])
        assert ledger.latest_versions() == {(Channel.PORTAL, "4601"): "v2"}
    finally:
        ledger.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
    db.close()


def test_a_ledger_of_a_newer_kanari_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1.replace("'schema_version', '1'", "'schema_version', '99'"))
    db.close()
    before = path.read_bytes()
    with pytest.raises(
        LedgerError, match=rf"written by a newer Kanari \(schema 99, this one knows {SCHEMA_VERSION}\)"
    ):
        Ledger(path)
    assert path.read_bytes() == before
