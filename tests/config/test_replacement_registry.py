"""A replacement registry named by ``registry:`` in kanari.yaml (docs/registry.md): loaded instead of the
packaged one, and a municipality file still using a number it retired is told the new one."""

from __future__ import annotations

import pytest

from probe.cli import main
from probe.config.registry import packaged_registry
from tests.config.conftest import ConfigDir
from tests.config.test_validation import only

HEADER = (
    "kommunenummer,kommunenavn,fylkesnummer,fylkesnavn,orgnr,kommunenummer_2020_2023,"
    "previous_kommunenummer,note\n"
)


def replacement(valid_config: ConfigDir, rows: str) -> None:
    """Write registry/kommuner-2028.csv: the packaged registry without Bergen and Oslo, plus ``rows``."""
    kept = [m for m in packaged_registry() if m.kommunenummer not in {"4601", "0301"}]
    lines = [
        f"{m.kommunenummer},{m.name},{m.county_number},{m.county},{m.orgnr},{m.previous_kommunenummer},,"
        for m in kept
    ]
    valid_config.write("registry/kommuner-2028.csv", HEADER + "\n".join(lines) + "\n" + rows)
    valid_config.edit(
        "kanari.yaml", "instance: kanari-test", "instance: kanari-test\nregistry: registry/kommuner-2028.csv"
    )


def test_renumbered_municipality_is_told_its_new_number(valid_config: ConfigDir) -> None:
    replacement(
        valid_config,
        "0301,Oslo,03,Oslo,958935420,0301,,\n4699,Bergen,46,Vestland,964338531,,4601,renumbered\n",
    )
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:1: kommunenummer: not in the national registry (357 municipalities, "
        f"{valid_config.path / 'registry/kommuner-2028.csv'}); 4601 is an earlier number (value: '4601'); "
        "fix: it is now 4699 Bergen: set kommunenummer: '4699' and name the file 4699-bergen.yaml"
    )
    (valid_config.path / "municipalities/4601-bergen.yaml").rename(
        valid_config.path / "municipalities/4699-bergen.yaml"
    )
    valid_config.edit("municipalities/4699-bergen.yaml", '"4601"', '"4699"')
    result = valid_config.check()
    assert result.errors == []
    assert result.config is not None
    assert {route.kommunenummer for route in result.config.routes} == {"0301", "4699"}
    assert len(result.config.registry) == 357


def test_merged_municipality_and_renamed_one(valid_config: ConfigDir) -> None:
    # Oslo is renamed; Bergen and Askøy merge into a new 4698 "Bergen og Askøy".
    replacement(
        valid_config,
        "0301,Oslo kommune,03,Oslo,958935420,0301,,\n4698,Bergen og Askøy,46,Vestland,,,4601 4627,merged\n",
    )
    problems = valid_config.problems()
    assert problems == [
        "municipalities/0301-oslo.yaml:2: name: does not match the registry's name for 0301 (value: 'Oslo'); "
        "fix: write name: Oslo kommune",
        "municipalities/4601-bergen.yaml:1: kommunenummer: not in the national registry (357 municipalities, "
        f"{valid_config.path / 'registry/kommuner-2028.csv'}); 4601 is an earlier number (value: '4601'); "
        "fix: it is now 4698 Bergen og Askøy: set kommunenummer: '4698' and name the file "
        "4698-bergen-og-askoy.yaml",
    ]


def test_unreadable_replacement_is_named_at_its_line_in_kanari_yaml(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "kanari.yaml", "instance: kanari-test", "instance: kanari-test\nregistry: registry/none.csv"
    )
    assert only(valid_config) == (
        "kanari.yaml:2: registry: cannot read the registry file: No such file or directory "
        "(value: 'registry/none.csv'); fix: check registry: in kanari.yaml (relative paths are resolved "
        "against the configuration directory); see docs/registry.md"
    )


def test_coverage_counts_against_the_replacement(
    valid_config: ConfigDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    replacement(
        valid_config,
        "0301,Oslo,03,Oslo,958935420,0301,,\n4601,Bergen,46,Vestland,964338531,,,\n9901,Ny,99,Ny,,,,\n",
    )
    for name, value in valid_config.environ.items():
        monkeypatch.setenv(name, value)
    assert main(["config", "check", "--config", str(valid_config.path)]) == 0
    out = capsys.readouterr().out
    assert "coverage of the national registry (358 municipalities" in out
    assert "portal     2/358 onboarded" in out
