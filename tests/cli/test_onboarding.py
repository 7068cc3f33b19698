"""``kanari onboard``: exit 0 with the next steps, 1 when the configuration has problems besides the new
file, 2 when nothing is written; and the written file working end to end against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.cli import main
from probe.config.registry import packaged_registry
from probe.sandbox.assignment import assign
from tests.config.conftest import ConfigDir
from tests.e2e.processes import kanari, sandbox_process, write_probe_config


def onboard(configured: ConfigDir, *arguments: str) -> int:
    return main(["onboard", *arguments, "--config", str(configured.path)])


def test_writes_checks_and_prints_the_next_steps(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        onboard(configured, "5001", "--vendor", "fjordsys", "--contact-email", "vakt@trondheim.example") == 0
    )
    out = capsys.readouterr().out
    path = configured.path / "municipalities/5001-trondheim-traaante.yaml"
    assert path.exists()
    assert out.splitlines() == [
        f"wrote {path}: Trondheim - Tråante (5001), vendor fjordsys, channels portal, altinn",
        f"{configured.path}: valid (5 routes)",
        "next:",
        f"  1. Fill in contacts (and bydel, if canaries go to a named office) in {path}.",
        "  2. With the operations centre, send one canary on each channel and follow it to its final hop:",
        f"       kanari once --config {configured.path} --municipality 5001 --channel portal",
        f"       kanari once --config {configured.path} --municipality 5001 --channel altinn",
        "     Each must end with 'delivered in ...'. Tell the case workers first: a test report will appear.",
        "  3. Open a merge request with the file; the operations centre reviews it, runs",
        "     `kanari config check` and `make render`, and merges. See docs/municipalities.md.",
    ]
    assert main(["config", "check", "--config", str(configured.path), "--quiet"]) == 0


def test_refusal_exits_2_and_writes_nothing(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in (configured.path / "municipalities").iterdir())
    assert onboard(configured, "9999", "--vendor", "nobody") == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "kanari onboard: nothing written, 2 problem(s):"
    assert "  command line: KOMMUNENUMMER: not in the national registry" in err
    assert "  command line: --vendor: unknown vendor: not in vendors.yaml (value: 'nobody')" in err
    assert sorted(p.name for p in (configured.path / "municipalities").iterdir()) == before
    assert onboard(configured, "4601", "--vendor", "fjordsys") == 2
    assert "Bergen is already onboarded by this file" in capsys.readouterr().err


def test_problems_elsewhere_exit_1_after_writing(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    (configured.path / "secrets/fiks-passord").unlink()
    assert onboard(configured, "5001", "--vendor", "plain", "--channels", "portal") == 1
    out = capsys.readouterr().out
    assert (configured.path / "municipalities/5001-trondheim-traaante.yaml").exists()
    assert f"1 problem(s) in {configured.path} (→ marks the new file):" in out
    assert "   kanari.yaml:18: channels.portal.integrasjon_passord: missing secret" in out
    assert "next:" in out


def test_skip_secrets(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    (configured.path / "secrets/fiks-passord").unlink()
    assert onboard(configured, "5001", "--vendor", "plain", "--skip-secrets") == 0


def test_unknown_channel_is_a_usage_error(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        onboard(configured, "5001", "--vendor", "plain", "--channels", "portal,fax")
    assert exited.value.code == 2
    assert "unknown channel 'fax': use portal and/or altinn" in capsys.readouterr().err


@pytest.mark.slow
def test_an_onboarded_municipality_passes_check_and_the_smoke_test(tmp_path: Path) -> None:
    fast = {
        "channels": {
            "portal": {"deadline": "5s", "poll_interval": "1s", "normal_latency": "1s"},
            "altinn": {"deadline": "15s", "poll_interval": "1s", "normal_latency": "5s"},
        },
        "readback": {"poll_interval": "1s"},
        "blind_grace": "5s",
    }
    vendor = assign(packaged_registry()["4601"]).vendor_id  # the fagsystem the sandbox gives Bergen
    with sandbox_process(tmp_path / "sandbox") as manifest:
        config = write_probe_config(tmp_path / "config", manifest, [], settings=fast)
        written = kanari("onboard", "4601", "--vendor", vendor, "--config", str(config))
        assert written.returncode == 0, written.stdout + written.stderr
        assert (config / "municipalities/4601-bergen.yaml").exists()
        checked = kanari("config", "check", "--config", str(config))
        assert checked.returncode == 0, checked.stdout
        for channel in ("portal", "altinn"):
            smoke = kanari("once", "--config", str(config), "--municipality", "4601", "--channel", channel)
            assert smoke.returncode == 0, smoke.stdout + smoke.stderr
            assert "delivered in" in smoke.stdout
