"""``kanari config check``: exit 0 when valid and 1 when not, every problem sorted by file and line,
and the coverage of the national registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.cli import main
from tests.config.conftest import ConfigDir


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
        f"{configured.path}: valid (3 routes) (secrets and key files not checked)"
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
