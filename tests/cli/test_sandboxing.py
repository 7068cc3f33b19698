"""``kanari sandbox`` and ``kanari demo`` refuse an address they cannot listen on with exit 2 naming it,
as ``kanari run`` does (the sandbox used to end silently with exit 0)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from probe.cli import main
from probe.cli.sandboxing import default_state_dir, demo_state
from probe.sandbox import democonfig


def test_a_sandbox_on_a_busy_port_exits_2_naming_it(
    busy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    arguments = ["sandbox", "--listen", busy, "--state-dir", str(state), "--config", str(tmp_path / "none")]
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert err == (
        f"kanari sandbox: cannot listen on {busy}: address already in use; stop what listens there or choose "
        "another HOST:PORT\n"
    )


@pytest.mark.parametrize("option", ["--listen", "--sandbox-listen"])
def test_a_malformed_demo_address_is_a_usage_error(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", option, "127.0.0.1:99999"])
    assert exited.value.code == 2
    assert (
        f"kanari demo: error: argument {option}: '127.0.0.1:99999': the port 99999 is out of range"
        in capsys.readouterr().err
    )


def test_the_demo_keeps_its_state_in_the_users_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_state_dir() == tmp_path / "data" / "kanari" / "demo"


def test_without_config_the_demo_writes_the_shipped_configuration_beside_its_state(tmp_path: Path) -> None:
    arguments = argparse.Namespace(state_dir=tmp_path / "state", config=None)
    state, config = demo_state(arguments)
    assert (state, config) == (tmp_path / "state", tmp_path / "state" / "config")
    written = {str(path.relative_to(config)) for path in config.rglob("*.yaml")}
    expected = democonfig.render(state="../sandbox", ledger="../ledger/kanari.sqlite3")
    assert written == set(expected)
    kanari_yaml = (config / "kanari.yaml").read_text(encoding="utf-8")
    assert "ledger: ../ledger/kanari.sqlite3" in kanari_yaml
    assert "key_file: ../sandbox/kanari-marker-ed25519.pem" in kanari_yaml


def test_a_given_configuration_is_used_as_it_is(tmp_path: Path) -> None:
    arguments = argparse.Namespace(state_dir=tmp_path / "state", config=tmp_path / "mine")
    assert demo_state(arguments) == (tmp_path / "state", tmp_path / "mine")
    assert [path.name for path in (tmp_path / "state").iterdir()] == ["ledger"]
    assert not (tmp_path / "mine").exists()


def test_a_state_directory_that_cannot_be_written_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    assert main(["demo", "--state-dir", str(blocker), "--listen", "127.0.0.1:0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"kanari demo: --state-dir: state_dir: cannot write the demo's state: Not a directory "
        f"(value: '{blocker}')"
    )
