"""``kanari incidents`` reads the incidents from the ledger, needing no secret: a table for people, stable
JSON for scripts (ISO 8601 UTC and Unix seconds), ``--open`` and filters; a missing ledger exits 2
naming it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from probe.cli import main
from probe.hops import Channel, Hop, Owner
from probe.ledger.sqlite import Ledger
from probe.lifecycle.incident import Incident
from probe.lifecycle.incidents import TrackedIncident
from tests.config.conftest import ConfigDir

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RETENTION = 30 * 86400.0


def incident(
    name: str, *, municipality: str = "4601", opened: float = T0 + 3600, closed: float | None = None
) -> TrackedIncident:
    return TrackedIncident(
        Incident(
            id=f"incident-{name}",
            channel=Channel.PORTAL,
            municipality=municipality,
            vendor="fjordsys",
            hop=Hop.RECEIPTED,
            owner=Owner.VENDOR,
            opened_at=opened,
            first_canary=f"canary-{name}",
            exposure_start=T0,
            exposure_end=None if closed is None else closed - 60,
            closed_at=closed,
            canaries=3,
            retained_until=T0 + RETENTION,
        ),
        failed_from=T0 + 600,
        failed_until=T0 + 1200,
    )


def with_incidents(configured: ConfigDir, *incidents: TrackedIncident) -> Path:
    path = configured.path / "var" / "kanari.sqlite3"
    ledger = Ledger(path)
    try:
        ledger.save([], incidents=incidents)
    finally:
        ledger.close()
    return path


def run(capsys: pytest.CaptureFixture[str], configured: ConfigDir, *arguments: str) -> tuple[int, str, str]:
    code = main(["incidents", "--config", str(configured.path), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


OPEN = incident("open", opened=T0 + 7200)
CLOSED = incident("closed", municipality="0301", closed=T0 + 5400)


def test_json_lists_every_incident_newest_first_with_both_time_forms(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with_incidents(configured, CLOSED, OPEN)
    code, out, err = run(capsys, configured, "--json")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert document["format"] == 1
    first, second = document["incidents"]
    assert first == {
        "id": "incident-open",
        "route": "portal/4601",
        "channel": "portal",
        "municipality": "4601",
        "municipality_name": "Bergen",
        "vendor": "fjordsys",
        "hop": "receipted",
        "owner": "vendor",
        "open": True,
        "status": "open",
        "canaries": 3,
        "first_canary": "canary-open",
        "opened_at": "2026-01-01T02:00:00Z",
        "opened_at_unix": T0 + 7200,
        "closed_at": None,
        "closed_at_unix": None,
        "exposure_start": "2026-01-01T00:00:00Z",
        "exposure_start_unix": T0,
        "exposure_end": None,
        "exposure_end_unix": None,
        "retained_until": "2026-01-31T00:00:00Z",
        "retained_until_unix": T0 + RETENTION,
    }
    assert (second["id"], second["open"], second["exposure_end"]) == (
        "incident-closed",
        False,
        "2026-01-01T01:29:00Z",
    )


def test_open_only_and_filters(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    with_incidents(configured, CLOSED, OPEN)
    _, out, _ = run(capsys, configured, "--json", "--open")
    assert [i["id"] for i in json.loads(out)["incidents"]] == ["incident-open"]
    _, out, _ = run(capsys, configured, "--json", "--municipality", "0301")
    assert [i["id"] for i in json.loads(out)["incidents"]] == ["incident-closed"]
    _, out, _ = run(capsys, configured, "--json", "--channel", "altinn")
    assert json.loads(out)["incidents"] == []


def test_the_table_names_the_window_and_the_ks_date(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    with_incidents(configured, CLOSED, OPEN)
    code, out, _ = run(capsys, configured)
    assert code == 0
    header, newest, oldest = out.splitlines()
    assert header.split()[:3] == ["ROUTE", "MUNICIPALITY", "VENDOR"]
    assert newest.split()[:6] == ["portal/4601", "Bergen", "fjordsys", "receipted/vendor", "open", "3"]
    assert " ".join(newest.split()[6:]) == (
        "2026-01-01 02:00:00 2026-01-01 00:00:00 still open 2026-01-31 00:00:00 incident-open"
    )
    assert "2026-01-01 01:29:00" in oldest


def test_nothing_to_show_says_so(configured: ConfigDir, capsys: pytest.CaptureFixture[str]) -> None:
    with_incidents(configured)
    assert run(capsys, configured) == (0, "no incidents in the ledger\n", "")
    assert run(capsys, configured, "--open") == (0, "no open incidents\n", "")


def test_incidents_run_with_no_secret_present(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with_incidents(configured, OPEN)
    shutil.rmtree(configured.path / "secrets")
    monkeypatch.delenv("KANARI_TEST_READBACK_TOKEN")
    code, out, err = run(capsys, configured, "--json")
    assert (code, err) == (0, "")
    assert len(json.loads(out)["incidents"]) == 1


def test_a_missing_ledger_exits_2_naming_it(
    configured: ConfigDir, capsys: pytest.CaptureFixture[str]
) -> None:
    path = configured.path / "var" / "kanari.sqlite3"
    code, out, err = run(capsys, configured)
    assert (code, out) == (2, "")
    assert err == (
        f"kanari incidents: cannot read ledger {path}: there is no such file; check `ledger` in kanari.yaml "
        "and --config (kanari run creates the ledger; status never does)\n"
    )
    assert not path.exists()
