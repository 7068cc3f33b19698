"""``kanari status`` only reads: a wrong ledger path is an error naming it (exit 2) and creates nothing, a
read-only ledger is read, and a ledger it cannot use is named, never changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from probe.cli import main
from probe.hops import Channel, Hop, Verdict
from probe.ledger.rows import SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from tests.config.conftest import ConfigDir
from tests.ledger.files import RANDOM_BYTES, crashed_with_wal, schema_1, snapshot, unwritable


def ledger_path(configured: ConfigDir) -> Path:
    return configured.path / "var" / "kanari.sqlite3"


def with_a_delivered_canary(path: Path) -> Path:
    ledger = Ledger(path)
    try:
        record = CanaryRecord(
            id="d1",
            channel=Channel.PORTAL,
            municipality="4601",
            vendor="fjordsys",
            bydel=None,
            final_hop=Hop.REGISTERED,
            created_at=1_700_000_000.0,
            deadline_at=1_700_000_900.0,
            marker="KANARI1.a.b",
            state=State.CLOSED,
            verdict=Verdict.DELIVERED,
        )
        ledger.save([record])
    finally:
        ledger.close()
    return path


def refused(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> str:
    """``kanari status``; asserts exit 2, one line on stderr, no traceback, nothing on stdout."""
    assert main(["status", "--config", str(configured.path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_a_wrong_ledger_path_exits_2_and_creates_nothing(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.edit("kanari.yaml", "ledger: var/kanari.sqlite3", "ledger: vra/kanari.sqlite3")
    path = configured.path / "vra" / "kanari.sqlite3"
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: there is no such file; check `ledger` in kanari.yaml "
        "and --config (kanari run creates the ledger; status never does)"
    )
    assert not path.parent.exists()


def test_a_read_only_ledger_in_a_read_only_directory_is_shown(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_a_delivered_canary(ledger_path(configured))
    before = snapshot(path)
    with unwritable(path), unwritable(path.parent):
        assert main(["status", "--config", str(configured.path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines()[1:]}
    assert rows["portal/4601"][4:6] == ["delivered", "-"]
    assert rows["altinn/4601"][4] == "-"
    assert snapshot(path) == before


def test_a_newer_ledger_exits_2_untouched(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    path = crashed_with_wal(ledger_path(configured), "99")
    before = snapshot(path)
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: it was written by a newer Kanari (schema 99, this one "
        f"knows {SCHEMA_VERSION}); refusing to touch it; run the Kanari release that wrote it, or point "
        "`ledger` in kanari.yaml at another file"
    )
    assert snapshot(path) == before


def test_an_older_ledger_exits_2_asking_for_a_migration(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = schema_1(ledger_path(configured))
    before = snapshot(path)
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: it has schema 1 and this Kanari reads schema "
        f"{SCHEMA_VERSION}; start `kanari run` once: it migrates the ledger in one transaction"
    )
    assert snapshot(path) == before


def test_a_corrupt_ledger_exits_2_untouched(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ledger_path(configured)
    path.parent.mkdir()
    path.write_bytes(RANDOM_BYTES)
    before = snapshot(path)
    assert refused(configured, capsys) == (
        f"kanari status: cannot read ledger {path}: it is not a Kanari ledger (file is not a database); "
        "point `ledger` in kanari.yaml at the right file, or move this one away to start a new ledger"
    )
    assert snapshot(path) == before


def test_a_wal_that_cannot_be_read_is_warned_about(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = with_a_delivered_canary(ledger_path(configured))
    # The image a probe leaves when it dies: the verdict "lost" is committed to the -wal only.
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE canaries SET verdict = 'lost'")
        image = {suffix: Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal")}
    finally:
        writer.close()
    for suffix, content in image.items():
        Path(f"{path}{suffix}").write_bytes(content)
    Path(f"{path}-shm").unlink(missing_ok=True)  # and none can be made in the read-only directory
    before = snapshot(path)
    with unwritable(path.parent):
        assert main(["status", "--config", str(configured.path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"warning: {path}-wal could not be read (no usable -shm in a read-only directory): the newest "
        "verdicts may be missing\n"
    )
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines()[1:]}
    assert rows["portal/4601"][4] == "delivered"  # the main file's verdict, not yet the -wal's
    assert snapshot(path) == before
