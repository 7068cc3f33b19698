"""``kanari sandbox`` and ``kanari demo`` refuse an address they cannot listen on with exit 2 naming it,
as ``kanari run`` does (the sandbox used to end silently with exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.cli import main


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
