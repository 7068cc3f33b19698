"""Opening the ledger: every place and file a probe can meet gives one sentence naming the path, what is
wrong and what to do, and a ledger Kanari must not change is left byte for byte as it was."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from probe.errors import LedgerError, LedgerUnusableError
from probe.hops import Channel, Hop, Verdict
from probe.ledger.opening import check_location
from probe.ledger.rows import SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from tests.ledger.files import (
    RANDOM_BYTES,
    TEXT_FILE,
    crashed_with_wal,
    schema_1,
    snapshot,
    sqlite_file,
    unwritable,
)

USER = f"this user (uid {os.geteuid()})"
WRITABLE = "make it writable for that user, or set `ledger` in kanari.yaml to a writable place"
ELSEWHERE = "point `ledger` in kanari.yaml at the right file, or move this one away to start a new ledger"


def delivered(canary_id: str = "d1") -> CanaryRecord:
    return CanaryRecord(
        id=canary_id,
        channel=Channel.PORTAL,
        municipality="4601",
        vendor="fjordsys",
        bydel=None,
        final_hop=Hop.REGISTERED,
        created_at=100.0,
        deadline_at=1000.0,
        marker="KANARI1.a.b",
        state=State.CLOSED,
        verdict=Verdict.DELIVERED,
    )


def refused(path: Path) -> str:
    with pytest.raises(LedgerUnusableError) as raised:
        Ledger(path)
    return str(raised.value)


# --- the place ---------------------------------------------------------------------------------------


def test_an_unwritable_directory_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    directory = tmp_path / "var"
    directory.mkdir()
    with unwritable(directory):
        message = refused(directory / "kanari.sqlite3")
    assert message == (
        f"cannot open ledger {directory / 'kanari.sqlite3'}: its directory {directory} is not writable by "
        f"{USER} (SQLite writes the ledger's -wal and -shm files beside it); {WRITABLE}"
    )
    assert list(directory.iterdir()) == []


def test_a_directory_under_an_unwritable_one_is_refused_and_not_created(tmp_path: Path) -> None:
    with unwritable(tmp_path):
        message = refused(tmp_path / "var" / "kanari.sqlite3")
    assert message == (
        f"cannot open ledger {tmp_path / 'var' / 'kanari.sqlite3'}: its directory {tmp_path / 'var'} cannot "
        f"be created: {tmp_path} is not writable by {USER}; {WRITABLE}"
    )
    assert not (tmp_path / "var").exists()


def test_a_directory_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("not a directory")
    assert refused(tmp_path / "var" / "demo" / "kanari.sqlite3") == (
        f"cannot open ledger {tmp_path / 'var' / 'demo' / 'kanari.sqlite3'}: its directory "
        f"{tmp_path / 'var' / 'demo'} cannot be created: {tmp_path / 'var'} is not a directory; "
        "set `ledger` in kanari.yaml to a path under a directory"
    )


def test_a_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kanari.sqlite3").mkdir()
    assert refused(tmp_path / "kanari.sqlite3") == (
        f"cannot open ledger {tmp_path / 'kanari.sqlite3'}: it is a directory, not a file; set `ledger` in "
        f"kanari.yaml to a file, e.g. {tmp_path / 'kanari.sqlite3' / 'kanari.sqlite3'}"
    )


@pytest.mark.parametrize("which", ["", "-wal"])
def test_an_unwritable_ledger_file_is_refused_unchanged(tmp_path: Path, which: str) -> None:
    path = crashed_with_wal(tmp_path / "kanari.sqlite3", str(SCHEMA_VERSION))
    target = Path(f"{path}{which}")
    before = snapshot(path)
    with unwritable(target):
        message = refused(path)
    what = "the file" if not which else f"its {target.name}"
    assert message == f"cannot open ledger {path}: {what} is not writable by {USER}; {WRITABLE}"
    assert snapshot(path) == before


def test_a_path_that_cannot_be_looked_at_is_an_error_naming_it(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o000)
    try:
        if os.access(closed, os.X_OK):
            pytest.skip("this user searches any directory (root with CAP_DAC_READ_SEARCH)")
        message = refused(closed / "kanari.sqlite3")
    finally:
        closed.chmod(0o755)
    assert message.startswith(f"cannot open ledger {closed / 'kanari.sqlite3'}: it cannot be looked at (")


# --- the file ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [RANDOM_BYTES, TEXT_FILE], ids=["random-bytes", "text"])
def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kanari.sqlite3"
    path.write_bytes(content)
    before = snapshot(path)
    assert refused(path) == (
        f"cannot open ledger {path}: it is not a Kanari ledger (file is not a database); {ELSEWHERE}"
    )
    assert snapshot(path) == before  # and no -wal or -shm appeared beside it


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = sqlite_file(tmp_path / "other.db", "CREATE TABLE invoices (id INTEGER); CREATE TABLE people (n);")
    before = snapshot(path)
    assert refused(path) == (
        f"cannot open ledger {path}: it is an SQLite database but not a Kanari ledger (no meta table; its "
        f"tables: invoices, people); {ELSEWHERE}"
    )
    assert snapshot(path) == before


def test_a_schema_version_that_is_not_a_number_is_refused_untouched(tmp_path: Path) -> None:
    path = schema_1(tmp_path / "kanari.sqlite3", version="three")
    before = snapshot(path)
    assert refused(path) == (
        f"cannot open ledger {path}: it is not a Kanari ledger (its meta table has schema_version 'three', "
        f"not a number); {ELSEWHERE}"
    )
    assert snapshot(path) == before


def test_a_newer_ledger_with_a_wal_is_refused_with_main_file_and_wal_untouched(tmp_path: Path) -> None:
    # Reading it through a read-write connection would checkpoint the -wal into the main file on close.
    path = crashed_with_wal(tmp_path / "kanari.sqlite3", "99")
    before = snapshot(path)
    assert refused(path) == (
        f"cannot open ledger {path}: it was written by a newer Kanari (schema 99, this one knows "
        f"{SCHEMA_VERSION}); refusing to touch it; run the Kanari release that wrote it, or point `ledger` "
        "in kanari.yaml at another file"
    )
    assert snapshot(path) == before


def test_a_schema_older_than_any_migration_is_refused_untouched(tmp_path: Path) -> None:
    path = schema_1(tmp_path / "kanari.sqlite3", version="0")
    before = snapshot(path)
    assert refused(path) == (
        f"cannot open ledger {path}: its schema 0 is older than any this Kanari migrates (schema 1 on); "
        "migrate it with an older Kanari release first, or move it away to start a new ledger"
    )
    assert snapshot(path) == before


def test_a_migration_that_fails_half_way_leaves_the_older_ledger_as_it_was(tmp_path: Path) -> None:
    # Schema 2's columns are added, then schema 3's step fails: both are rolled back, and the file keeps
    # its header too (the switch to WAL comes only after a migration that succeeded).
    path = schema_1(tmp_path / "kanari.sqlite3", archive=False)
    before = snapshot(path)
    assert refused(path) == (
        f"cannot open ledger {path}: migrating it from schema 1 to {SCHEMA_VERSION} failed (no such table: "
        "archived_counts); it is left as it was; keep a copy of the file and report this; this Kanari "
        "cannot use it as it is"
    )
    assert snapshot(path) == before
    db = sqlite3.connect(path)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(canaries)")}
    finally:
        db.close()
    assert "api_version" not in columns


def test_an_empty_file_becomes_a_new_ledger(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    path.touch()
    ledger = Ledger(path)
    try:
        ledger.save([delivered()])
        assert [r.id for r in ledger.newest_delivered()] == ["d1"]
    finally:
        ledger.close()


# --- read-only: kanari status ------------------------------------------------------------------------


def written_ledger(path: Path) -> Path:
    ledger = Ledger(path)
    try:
        ledger.save([delivered()])
    finally:
        ledger.close()
    return path


def test_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "wrong" / "kanari.sqlite3"
    with pytest.raises(LedgerUnusableError) as raised:
        Ledger.open_read_only(path)
    assert str(raised.value) == (
        f"cannot read ledger {path}: there is no such file; check `ledger` in kanari.yaml and --config "
        "(kanari run creates the ledger; status never does)"
    )
    assert not (tmp_path / "wrong").exists()


def test_read_only_open_reads_a_read_only_file_in_a_read_only_directory(tmp_path: Path) -> None:
    path = written_ledger(tmp_path / "var" / "kanari.sqlite3")
    before = snapshot(path)
    with unwritable(path), unwritable(path.parent):
        ledger = Ledger.open_read_only(path)
        try:
            assert [r.id for r in ledger.newest_delivered()] == ["d1"]
            assert ledger.complete
            assert not ledger.writable()
        finally:
            ledger.close()
    assert snapshot(path) == before
    # The lock file is what the writing open (written_ledger) left; the read-only look added nothing.
    assert sorted(p.name for p in path.parent.iterdir()) == ["kanari.sqlite3", "kanari.sqlite3.lock"]


def test_read_only_open_sees_rows_still_in_the_wal_of_a_running_probe(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    running = Ledger(path)
    try:
        running._db.execute("PRAGMA wal_autocheckpoint=0")
        running.save([delivered("in-wal")])
        reader = Ledger.open_read_only(path)
        try:
            assert [r.id for r in reader.newest_delivered()] == ["in-wal"]
            assert reader.complete
        finally:
            reader.close()
    finally:
        running.close()


def test_read_only_open_without_a_usable_shm_reads_the_main_file_and_says_so(tmp_path: Path) -> None:
    path = crashed_with_wal(tmp_path / "var" / "kanari.sqlite3", str(SCHEMA_VERSION))
    Path(f"{path}-shm").unlink()  # and none can be made in a read-only directory
    with unwritable(path.parent), pytest.raises(LedgerUnusableError) as raised:
        Ledger.open_read_only(path)
    # Everything of this ledger was still in its -wal: the main file alone holds no tables yet.
    assert str(raised.value) == (
        f"cannot read ledger {path}: it holds no ledger yet (an empty database; its -wal cannot be read "
        "without a -shm in a read-only directory); check `ledger` in kanari.yaml and --config; kanari run "
        "writes the ledger"
    )


def test_read_only_open_refuses_writes(tmp_path: Path) -> None:
    path = written_ledger(tmp_path / "kanari.sqlite3")
    before = snapshot(path)
    ledger = Ledger.open_read_only(path)
    try:
        with pytest.raises(LedgerError, match="ledger write failed"):
            ledger.save([delivered("d2")])
    finally:
        ledger.close()
    assert snapshot(path) == before


def test_read_only_open_of_an_older_ledger_asks_for_a_migration_and_leaves_it(tmp_path: Path) -> None:
    path = schema_1(tmp_path / "kanari.sqlite3")
    before = snapshot(path)
    with pytest.raises(LedgerUnusableError) as raised:
        Ledger.open_read_only(path)
    assert str(raised.value) == (
        f"cannot read ledger {path}: it has schema 1 and this Kanari reads schema {SCHEMA_VERSION}; start "
        "`kanari run` once: it migrates the ledger in one transaction"
    )
    assert snapshot(path) == before


@pytest.mark.parametrize("content", [RANDOM_BYTES, b""], ids=["random-bytes", "empty"])
def test_read_only_open_of_a_file_that_holds_no_ledger_is_an_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kanari.sqlite3"
    path.write_bytes(content)
    with pytest.raises(
        LedgerUnusableError, match=rf"^cannot read ledger {path}: it (is not a Kanari|holds no)"
    ):
        Ledger.open_read_only(path)
    assert path.read_bytes() == content


def test_read_only_open_of_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = written_ledger(tmp_path / "kanari.sqlite3")
    path.chmod(0o200)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("this user reads any file (root with CAP_DAC_OVERRIDE)")
        with pytest.raises(LedgerUnusableError, match=r"the file is not readable by this user"):
            Ledger.open_read_only(path)
    finally:
        path.chmod(0o644)


# --- checked without writing: kanari config check -----------------------------------------------------


def test_check_location_creates_nothing_for_a_directory_that_can_be_created(tmp_path: Path) -> None:
    assert check_location(tmp_path / "var" / "demo" / "kanari.sqlite3") is None
    assert list(tmp_path.iterdir()) == []


def test_check_location_returns_the_schema_of_an_existing_ledger_untouched(tmp_path: Path) -> None:
    path = schema_1(tmp_path / "kanari.sqlite3")
    before = snapshot(path)
    assert check_location(path) == 1
    assert snapshot(path) == before
