"""``kanari config check``: exit 0 when valid and 1 when not, every problem sorted by file and line,
and the coverage of the national registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.cli import main
from probe.ledger.rows import SCHEMA_VERSION
from tests.config.conftest import ConfigDir
from tests.ledger.files import RANDOM_BYTES, crashed_with_wal, schema_1, snapshot, unwritable

USER = f"this user (uid {os.geteuid()})"
WRITABLE = "make it writable for that user, or set `ledger` in kanari.yaml to a writable place"


def check(configured: ConfigDir, *options: str) -> int:
    return main(["config", "check", "--config", str(configured.path), *options])


def test_valid_configuration_exits_0_with_coverage(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(configured) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "coverage of the national registry (357 municipalities, probe/config/data/kommuner-2024.csv):"
    )
    assert "  portal     2/357 onboarded" in out
    assert "          not onboarded: 1101 Eigersund, 1103 Stavanger," in out
    assert "and 343 more (--missing lists them all)" in out
    assert "  altinn     1/357 onboarded" in out
    assert "  either     2/357 onboarded on at least one channel" in out
    assert out.splitlines()[-1] == f"{configured.path}: valid (3 routes)"


def test_missing_lists_every_municipality_by_county(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(configured, "--missing") == 0
    out = capsys.readouterr().out
    assert "          not onboarded in Oslo (1): 0301 Oslo" in out  # altinn only has Bergen
    assert "not onboarded in Vestland (42): 4602 Kinn, 4611 Etne," in out
    assert "more (--missing" not in out


def test_invalid_configuration_exits_1_with_every_problem_sorted(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.edit("municipalities/4601-bergen.yaml", "name: Bergen", "name: Bergn")
    configured.edit("kanari.yaml", "deadline: 30m", "deadline: 1m")
    configured.edit("vendors.yaml", "name: Plain Saksbehandling AS", "name: ''")
    assert check(configured, "--quiet") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"3 problem(s) in {configured.path}:"
    assert [line.split(": ")[0] for line in lines[1:4]] == [
        "  kanari.yaml:20",
        "  vendors.yaml:11",
        "  municipalities/4601-bergen.yaml:2",
    ]
    assert lines[-1] == f"{configured.path}: not valid (3 problem(s) above)"
    assert not any("coverage" in line for line in lines)


def test_skip_secrets_checks_the_rest(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    (configured.path / "secrets/fiks-passord").unlink()
    assert check(configured) == 1
    capsys.readouterr()
    assert check(configured, "--skip-secrets", "--quiet") == 0
    assert capsys.readouterr().out.strip() == (
        f"{configured.path}: valid (3 routes) (secrets, key files and the ledger not checked)"
    )


def test_warnings_are_printed_and_do_not_fail(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.write("municipalities/README.txt", "notes\n")
    assert check(configured, "--quiet") == 0
    assert (
        "warning: municipalities/README.txt: not read (only *.yaml and *.yml files are)"
        in capsys.readouterr().out
    )


def test_missing_directory_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(tmp_path / "none")]) == 1
    assert "kanari.yaml: (file): file does not exist" in capsys.readouterr().out


def test_the_business_certificates_expiry_is_reported(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(configured) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("business_certificate.")]
    assert line.startswith(
        "business_certificate.certificate_chain_file: CN=KANARI TEST VIRKSOMHET valid until "
    )
    assert line.endswith("(364 days)")


# --- the ledger's place: checked, never created or changed --------------------------------------------


def ledger_problem(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> str:
    """``config check`` exits 1 with exactly one problem, of ``ledger``; returns its line."""
    assert check(configured, "--quiet") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"1 problem(s) in {configured.path}:"
    assert lines[-1] == f"{configured.path}: not valid (1 problem(s) above)"
    return lines[1]


def test_an_unwritable_ledger_directory_is_a_problem(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = configured.path / "var"
    directory.mkdir()
    with unwritable(directory):
        line = ledger_problem(configured, capsys)
    assert line == (
        f"  kanari.yaml:3: ledger: {directory / 'kanari.sqlite3'}: its directory {directory} is not writable "
        f"by {USER} (SQLite writes the ledger's -wal and -shm files beside it) (value: "
        f"'var/kanari.sqlite3'); fix: {WRITABLE}"
    )
    assert list(directory.iterdir()) == []


def test_a_ledger_directory_that_cannot_be_created_is_a_problem(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    (configured.path / "var").write_text("a file where the directory should be")
    assert ledger_problem(configured, capsys) == (
        f"  kanari.yaml:3: ledger: {configured.path / 'var' / 'kanari.sqlite3'}: its directory "
        f"{configured.path / 'var'} cannot be created: {configured.path / 'var'} is not a directory (value: "
        "'var/kanari.sqlite3'); fix: set `ledger` in kanari.yaml to a path under a directory"
    )


def test_a_ledger_directory_that_can_be_created_is_valid_and_not_created(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.edit("kanari.yaml", "ledger: var/kanari.sqlite3", "ledger: var/deep/kanari.sqlite3")
    assert check(configured, "--quiet") == 0
    assert capsys.readouterr().out.strip() == f"{configured.path}: valid (3 routes)"
    assert not (configured.path / "var").exists()


def test_a_corrupt_ledger_is_a_problem_and_left_as_it_was(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = configured.path / "var" / "kanari.sqlite3"
    path.parent.mkdir()
    path.write_bytes(RANDOM_BYTES)
    before = snapshot(path)
    assert ledger_problem(configured, capsys) == (
        f"  kanari.yaml:3: ledger: {path}: it is not a Kanari ledger (file is not a database) (value: "
        "'var/kanari.sqlite3'); fix: point `ledger` in kanari.yaml at the right file, or move this one away "
        "to start a new ledger"
    )
    assert snapshot(path) == before


def test_an_unwritable_ledger_file_is_a_problem(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crashed_with_wal(configured.path / "var" / "kanari.sqlite3", str(SCHEMA_VERSION))
    before = snapshot(path)
    with unwritable(path):
        line = ledger_problem(configured, capsys)
    assert line == (
        f"  kanari.yaml:3: ledger: {path}: the file is not writable by {USER} (value: 'var/kanari.sqlite3'); "
        f"fix: {WRITABLE}"
    )
    assert snapshot(path) == before


def test_a_newer_ledger_is_a_problem_and_left_untouched(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crashed_with_wal(configured.path / "var" / "kanari.sqlite3", "99")
    before = snapshot(path)
    assert ledger_problem(configured, capsys).startswith(
        f"  kanari.yaml:3: ledger: {path}: it was written by a newer Kanari (schema 99, this one knows "
        f"{SCHEMA_VERSION}); refusing to touch it (value: 'var/kanari.sqlite3'); fix: run the Kanari release"
    )
    assert snapshot(path) == before


def test_an_older_ledger_is_valid_with_a_note_and_not_migrated_here(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = schema_1(configured.path / "var" / "kanari.sqlite3")
    before = snapshot(path)
    assert check(configured, "--quiet") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"warning: ledger {path} has schema 1: kanari run migrates it to schema {SCHEMA_VERSION} (in one "
        "transaction) when it next starts",
        f"{configured.path}: valid (3 routes)",
    ]
    assert snapshot(path) == before


def test_a_ledger_set_by_default_is_named_in_kanari_yaml(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    configured.edit("kanari.yaml", "ledger: var/kanari.sqlite3\n", "")
    (configured.path / "var").write_text("a file where the directory should be")
    assert ledger_problem(configured, capsys).startswith("  kanari.yaml: ledger: ")


def test_skip_secrets_does_not_check_the_ledger(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    (configured.path / "var").write_text("a file where the directory should be")
    assert check(configured, "--skip-secrets", "--quiet") == 0
    assert capsys.readouterr().out.strip().endswith("(secrets, key files and the ledger not checked)")
