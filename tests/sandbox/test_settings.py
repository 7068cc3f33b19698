"""Sandbox settings: the shipped YAML, overrides, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.errors import ConfigError
from probe.sandbox.settings import SCHEMA_DIR_ENV, SandboxSettings, default_ks_schema_dir, load_settings
from tests.conftest import REFERENCE, ROOT

SHIPPED = ROOT / "config" / "sandbox" / "sandbox.yaml"


def test_the_shipped_file_loads_and_equals_the_defaults() -> None:
    settings = load_settings(SHIPPED)
    defaults = SandboxSettings()
    assert settings.model_dump(exclude={"ks_schema_dir"}) == defaults.model_dump(exclude={"ks_schema_dir"})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8700


def test_arguments_override_the_file_and_none_keeps_it(tmp_path: Path) -> None:
    settings = load_settings(SHIPPED, listen="0.0.0.0:0", speed=60, state_dir=tmp_path, seed=None, tls=None)
    assert (settings.listen, settings.speed, settings.state_dir, settings.seed, settings.tls) == (
        "0.0.0.0:0",
        60,
        tmp_path,
        1,
        False,
    )
    assert load_settings(None, speed=2).speed == 2


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("speed: 0\n", "speed"),
        ("listen: nowhere\n", "listen"),
        ("delays: {ks_forward: {median: -1, sigma: 1}}\n", "median"),
    ],
)
def test_invalid_values_name_the_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    config = tmp_path / "sandbox.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert str(config) in str(raised.value)
    assert field in str(raised.value)


def test_unreadable_or_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n")
    with pytest.raises(ConfigError):
        load_settings(listing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("speed: [\n")
    with pytest.raises(ConfigError):
        load_settings(broken)


def test_schema_dir_defaults_outside_the_project_and_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)
    assert default_ks_schema_dir().resolve() == (REFERENCE / "ks-bekymringsmelding").resolve()
    monkeypatch.setenv(SCHEMA_DIR_ENV, "/somewhere/else")
    assert SandboxSettings().ks_schema_dir == Path("/somewhere/else")
