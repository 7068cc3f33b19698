"""``kanari evidence`` tells one canary's story from the ledger: hop times, the upstream id, the status
history as received, read-back, the verdict and blame, what the upstreams said, the marker verified with
public keys only, and the incident it belongs to. An unknown id exits 1, a missing ledger 2; no secret is
needed, and none is printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probe.canary.marker import MarkerSigner, jwks
from probe.channels.base import StatusEvent
from probe.cli import main
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.status_history import encode
from tests.cli.test_incidents import incident
from tests.config.conftest import ConfigDir

T0 = 1_767_225_600.0 + 600  # 2026-01-01T00:10:00Z: inside the incident's window
CANARY = "00000000-0000-4000-8000-000000000042"
KEY_ID = "kanari-test-1"


def signing_key(configured: ConfigDir) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((configured.path / "secrets" / "marker.pem").read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def lost_canary(marker: str) -> CanaryRecord:
    return CanaryRecord(
        id=CANARY,
        channel=Channel.PORTAL,
        municipality="4601",
        vendor="fjordsys",
        bydel="00",
        final_hop=Hop.REGISTERED,
        created_at=T0,
        deadline_at=T0 + 1800,
        marker=marker,
        state=State.RESOLVED,
        upstream_id="ks-report-7",
        hops={Hop.ACCEPTED: T0 + 1, Hop.FORWARDED: T0 + 30, Hop.RECEIPTED: T0 + 90},
        last_status="LEVERT",
        status_ok_at=T0 + 1900,
        readback_ok_at=T0 + 1850,
        verdict=Verdict.LOST,
        verdict_at=T0 + 1900,
        blamed_hop=Hop.REGISTERED,
        blamed_owner=Owner.VENDOR,
        api_version="v2",
        diagnostics="read-back: not found",
        history=encode(
            [
                StatusEvent(T0 + 1, "AKSEPTERT", ""),
                StatusEvent(T0 + 30, "SENDT_FAGSYSTEM", "Sendt til fagsystem"),
                StatusEvent(T0 + 90, "LEVERT", "Mottatt"),
            ]
        ),
    )


def with_story(configured: ConfigDir, marker: str | None = None) -> Path:
    path = configured.path / "var" / "kanari.sqlite3"
    if marker is None:
        marker = MarkerSigner(signing_key(configured), KEY_ID).sign(CANARY, "portal", "4601", int(T0))
    ledger = Ledger(path)
    try:
        ledger.save([lost_canary(marker)], incidents=[incident("open")])
    finally:
        ledger.close()
    return path


def published_keys(configured: ConfigDir, tmp_path: Path) -> Path:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(jwks({KEY_ID: signing_key(configured).public_key()})), encoding="utf-8")
    return keys


def run(capsys: pytest.CaptureFixture[str], configured: ConfigDir, *arguments: str) -> tuple[int, str, str]:
    code = main(["evidence", "--config", str(configured.path), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_tells_a_lost_canarys_full_story(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with_story(configured)
    code, out, err = run(
        capsys, configured, CANARY, "--json", "--jwks", str(published_keys(configured, tmp_path))
    )
    assert (code, err) == (0, "")
    story = json.loads(out)
    assert (story["canary_id"], story["route"], story["municipality_name"]) == (
        CANARY,
        "portal/4601",
        "Bergen",
    )
    assert story["sent_at"] == "2026-01-01T00:10:00Z"
    assert story["upstream"]["id"] == "ks-report-7"
    assert story["upstream"]["kind"].startswith("KS report id")
    assert [(h["hop"], h["seconds_after_send"]) for h in story["hops"]] == [
        ("accepted", 1.0),
        ("forwarded", 30.0),
        ("receipted", 90.0),
        ("registered", None),
    ]
    assert [(e["status"], e["text"], e["at_unix"]) for e in story["status_history"]] == [
        ("AKSEPTERT", "", T0 + 1),
        ("SENDT_FAGSYSTEM", "Sendt til fagsystem", T0 + 30),
        ("LEVERT", "Mottatt", T0 + 90),
    ]
    assert story["readback"]["registered"] is False
    assert story["readback"]["duplicate"] is False
    assert story["readback"]["last_looked_at_unix"] == T0 + 1850
    assert story["verdict"] == {
        "verdict": "lost",
        "at": "2026-01-01T00:41:40Z",
        "at_unix": T0 + 1900,
        "blamed_hop": "registered",
        "blamed_owner": "vendor",
        "late_arrival_at": None,
        "late_arrival_at_unix": None,
        "send_failure": None,
    }
    assert story["diagnostics"] == "read-back: not found"
    assert story["marker"]["verified"] is True
    assert story["marker"]["key_id"] == KEY_ID
    assert story["incident"]["id"] == "incident-open"
    assert story["incident"]["retained_until"] == "2026-01-31T00:00:00Z"


def test_the_text_names_every_part(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with_story(configured)
    code, out, _ = run(capsys, configured, CANARY, "--jwks", str(published_keys(configured, tmp_path)))
    assert code == 0
    assert "KS report id (bekymringsmelding uuid): ks-report-7" in out
    assert "  receipted   2026-01-01T00:11:30Z  +90.0 s" in out
    assert "  registered  not reached" in out
    assert "  2026-01-01T00:10:30Z  SENDT_FAGSYSTEM  Sendt til fagsystem" in out
    assert "verdict     lost at registered (owner vendor) (2026-01-01T00:41:40Z)" in out
    assert "verified: signed with key kanari-test-1, names this canary and route" in out
    assert "KS holds them until 2026-01-31T00:00:00Z" in out


def test_without_a_public_key_the_marker_is_not_verified_and_no_secret_is_needed(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_story(configured)
    secret = (configured.path / "secrets" / "marker.pem").read_text()
    shutil.rmtree(configured.path / "secrets")
    monkeypatch.delenv("KANARI_TEST_READBACK_TOKEN")
    code, out, err = run(capsys, configured, CANARY, "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["marker"]["result"] == "not verified: no key (give --jwks FILE)"
    assert secret.strip() not in out
    assert "BEGIN" not in out


def test_a_marker_that_does_not_verify_says_so(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = MarkerSigner(Ed25519PrivateKey.generate(), KEY_ID).sign(CANARY, "portal", "4601", int(T0))
    with_story(configured, marker=other)
    _, out, _ = run(capsys, configured, CANARY, "--json", "--jwks", str(published_keys(configured, tmp_path)))
    marker = json.loads(out)["marker"]
    assert marker["verified"] is False
    assert marker["result"] == "INVALID: marker: bad signature (forged or altered)"


def test_an_unknown_canary_exits_1_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with_story(configured)
    missing = "00000000-0000-4000-8000-000000000099"
    assert run(capsys, configured, missing) == (
        1,
        "",
        f"kanari evidence: the ledger has no canary {missing}\n",
    )
    code, _, err = run(capsys, configured, "x" * 500 + "\n")
    assert (code, err) == (1, "kanari evidence: the ledger has no canary (not a canary id)\n")


def test_a_missing_ledger_exits_2_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = configured.path / "var" / "kanari.sqlite3"
    code, out, err = run(capsys, configured, CANARY)
    assert (code, out) == (2, "")
    assert err.startswith(f"kanari evidence: cannot read ledger {path}: there is no such file")


def test_an_unreadable_jwks_exits_2_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with_story(configured)
    bad = tmp_path / "keys.json"
    bad.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, configured, CANARY, "--jwks", str(bad))
    assert (code, err) == (
        2,
        f"kanari evidence: --jwks {bad}: jwks: not a JWKS (expected an object with a 'keys' list)\n",
    )
    code, _, err = run(capsys, configured, CANARY, "--jwks", str(tmp_path / "none.json"))
    assert (code, err) == (
        2,
        f"kanari evidence: --jwks {tmp_path / 'none.json'}: No such file or directory\n",
    )
