"""``kanari run`` that cannot start as configured exits 2 with one line ``kanari run: <problem>`` naming
the path or address, what is wrong and what to do; no traceback, a ledger it must not change left byte
for byte, and nothing sent (a send commits its intent to the ledger first, so an empty ledger shows it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.cli import main
from probe.ledger.rows import SCHEMA_VERSION
from probe.ledger.sqlite import Ledger
from tests.config.conftest import ConfigDir
from tests.ledger.files import RANDOM_BYTES, TEXT_FILE, crashed_with_wal, schema_1, snapshot, unwritable

USER = f"this user (uid {os.geteuid()})"


def ledger_path(configured: ConfigDir) -> Path:
    return configured.path / "var" / "kanari.sqlite3"


def run(configured: ConfigDir, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    """``kanari run``; asserts exit 2, one line on stderr and no traceback; returns that line."""
    assert main(["run", "--config", str(configured.path), *options]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


def test_an_unwritable_ledger_directory_exits_2_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str
) -> None:
    path = ledger_path(configured)
    path.parent.mkdir()
    with unwritable(path.parent):
        # A busy --listen as well: were the ledger accepted, the run would stop there, never hang.
        line = run(configured, capsys, "--listen", busy)
    assert line == (
        f"kanari run: cannot open ledger {path}: its directory {path.parent} is not writable by {USER} "
        "(SQLite writes the ledger's -wal and -shm files beside it); make it writable for that user, or set "
        "`ledger` in kanari.yaml to a writable place"
    )
    assert list(path.parent.iterdir()) == []


@pytest.mark.parametrize("content", [RANDOM_BYTES, TEXT_FILE], ids=["random-bytes", "text"])
def test_a_corrupt_ledger_exits_2_and_is_left_as_it_was(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str, content: bytes
) -> None:
    path = ledger_path(configured)
    path.parent.mkdir()
    path.write_bytes(content)
    before = snapshot(path)
    assert run(configured, capsys, "--listen", busy) == (
        f"kanari run: cannot open ledger {path}: it is not a Kanari ledger (file is not a database); point "
        "`ledger` in kanari.yaml at the right file, or move this one away to start a new ledger"
    )
    assert snapshot(path) == before


def test_a_newer_schema_ledger_exits_2_untouched(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str
) -> None:
    path = crashed_with_wal(ledger_path(configured), "99")
    before = snapshot(path)
    assert run(configured, capsys, "--listen", busy) == (
        f"kanari run: cannot open ledger {path}: it was written by a newer Kanari (schema 99, this one knows "
        f"{SCHEMA_VERSION}); refusing to touch it; run the Kanari release that wrote it, or point `ledger` "
        "in kanari.yaml at another file"
    )
    assert snapshot(path) == before


def test_an_older_ledger_whose_migration_fails_exits_2_unchanged(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str
) -> None:
    path = schema_1(ledger_path(configured), archive=False)
    before = snapshot(path)
    line = run(configured, capsys, "--listen", busy)
    assert line.startswith(
        f"kanari run: cannot open ledger {path}: migrating it from schema 1 to {SCHEMA_VERSION} failed "
        "(no such table: archived_counts); it is left as it was;"
    )
    assert snapshot(path) == before


def test_an_older_ledger_is_migrated_before_the_run_goes_on(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str
) -> None:
    path = schema_1(ledger_path(configured))
    # The run then stops at the busy port: the migration is what the next start would have done anyway.
    assert run(configured, capsys, "--listen", busy).startswith(f"kanari run: cannot listen on {busy}")
    ledger = Ledger.open_read_only(path)
    try:
        assert [r.id for r in ledger.newest_delivered()] == ["old"]
    finally:
        ledger.close()


def test_a_busy_listen_address_from_kanari_yaml_exits_2_having_sent_nothing(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str
) -> None:
    configured.edit("kanari.yaml", "listen: 127.0.0.1:9464", f"listen: {busy}")
    assert run(configured, capsys) == (
        f"kanari run: cannot listen on {busy}: address already in use; stop what listens there or choose "
        "another HOST:PORT"
    )
    ledger = Ledger.open_read_only(ledger_path(configured))
    try:
        assert ledger.open_records() == []
        assert ledger.last_created() == {}
        assert ledger.counts() == {}
    finally:
        ledger.close()


def test_a_busy_listen_option_exits_2(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], busy: str
) -> None:
    assert run(configured, capsys, "--listen", busy).startswith(
        f"kanari run: cannot listen on {busy}: address already in use"
    )


def test_an_address_not_of_this_machine_exits_2(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    assert run(configured, capsys, "--listen", "192.0.2.1:9464") == (
        "kanari run: cannot listen on 192.0.2.1:9464: address not available (it is not an address of this "
        "machine)"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "127.0.0.1:99999",
            "'127.0.0.1:99999': the port 99999 is out of range (1-65535, or 0 for a free one)",
        ),
        ("garbage", "'garbage' is not HOST:PORT (e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464)"),
        ("127.0.0.1:http", "'127.0.0.1:http': the port 'http' is not a number"),
        (":9464", "':9464': the host is missing (0.0.0.0:9464 listens on every interface)"),
        ("::1:9464", "'::1:9464': an IPv6 address goes in brackets, e.g. [::1]:9464"),
        ("[nothost]:9464", "'[nothost]:9464': [nothost] is not an IPv6 address in brackets"),
        ("bad host:9464", "'bad host:9464': 'bad host' is not a host name or IP address"),
    ],
)
def test_a_malformed_listen_option_is_a_usage_error_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], value: str, problem: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", str(configured.path), "--listen", value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"kanari run: error: argument --listen: {problem}" in err
    assert "Traceback" not in err
    assert not ledger_path(configured).parent.exists()  # refused before anything was loaded or opened
