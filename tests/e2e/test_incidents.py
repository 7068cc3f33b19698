"""One fault, switched on and then off, on the whole real chain (sandbox, probe, Prometheus, Alertmanager):
exactly one incident, blamed on the right hop and owner, whose exposure window starts at the send time
of the last canary delivered before the break; the same window and KS retention date in
``kanari incidents --json``, on the status page and in the alert's annotations as Alertmanager delivers
them; closed by the next delivered canary; ``kanari status --problems`` exits 1 while it lasts, 0 after."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Any

import httpx
import pytest

from probe.cli import main
from probe.clock import to_rfc3339
from probe.config.loader import load_config
from probe.hops import Channel, Verdict
from probe.ledger.sqlite import Ledger
from tests.e2e.test_alerting import world
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

MUNICIPALITY = "4601"  # nordlys, with read-back
PAGE_RECEIVER = "kanari-vendor-nordlys-page"


def incidents(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """``kanari incidents --json`` of the probe's ledger (read-only, beside the running probe)."""
    assert main(["incidents", "--config", str(config), "--json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["incidents"]
    return [incident for incident in listed if incident["municipality"] == MUNICIPALITY]


def last_delivered_before(config: Path, sent_before: float) -> float:
    """The send time of the newest canary on portal/4601 delivered and sent before ``sent_before``."""
    loaded = load_config(config, environ={}, with_secrets=False)
    ledger = Ledger.open_read_only(loaded.path(loaded.settings.ledger))
    try:
        history = ledger.recent_canaries(Channel.PORTAL, MUNICIPALITY, 1000)
    finally:
        ledger.close()
    return max(
        record.created_at
        for record in history
        if record.verdict is Verdict.DELIVERED and record.created_at < sent_before
    )


def seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_fault_on_and_off_is_one_incident_with_its_exposure_window_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    with world(tmp_path) as (stack, sinks, admin):
        wait_for(
            lambda: bool(sinks.received("kanari-heartbeat", alertname="KanariWatchdog")), 60, "the Watchdog"
        )
        assert incidents(config, capsys) == []
        httpx.post(admin, json={"fault": "vendor.receipt_without_store", "municipality": MUNICIPALITY})
        wanted = {"alertname": "KanariReceiptWithoutRecord", "municipality": MUNICIPALITY}
        wait_for(lambda: bool(sinks.received(PAGE_RECEIVER, **wanted)), 150, "the vendor's page")

        [incident] = incidents(config, capsys)
        assert (incident["channel"], incident["hop"], incident["owner"]) == ("portal", "registered", "vendor")
        assert incident["status"] == "open"
        first_lost = incident["first_canary"]
        # The window starts at the send time of the last canary delivered before the first lost one.
        assert main(["evidence", first_lost, "--config", str(config), "--json"]) == 0
        lost = json.loads(capsys.readouterr().out)
        lost_sent = seconds(lost["sent_at"])
        start = last_delivered_before(config, lost_sent)
        assert incident["exposure_start_unix"] == pytest.approx(start, abs=1e-3)
        retention = 30 * 86400
        assert incident["retained_until_unix"] == pytest.approx(start + retention, abs=1e-3)

        # Alertmanager delivered the same window and date, to the second.
        [page, *_] = sinks.received(PAGE_RECEIVER, **wanted)
        assert seconds(page.annotations["exposure_start"]) == pytest.approx(start, abs=1.0)
        assert seconds(page.annotations["ks_retained_until"]) == pytest.approx(start + retention, abs=1.0)
        assert to_rfc3339(start)[:16].replace("T", " ") in page.annotations["description"]

        # The municipality's page shows the incident with its window and the KS retention date.
        page_html = httpx.get(f"{stack.probe_url}/status/municipality/{MUNICIPALITY}?lang=en", timeout=10)
        assert page_html.status_code == 200
        # (dates on the page are Oslo's)
        oslo = zoneinfo.ZoneInfo("Europe/Oslo")
        assert dt.datetime.fromtimestamp(start + retention, tz=oslo).strftime("%Y-%m-%d") in page_html.text

        # For scripts: the route's problem while it lasts (exit 1), and none once it heals (exit 0).
        problems = ["status", "--config", str(config), "--problems", "--channel", "portal"]
        assert main([*problems, "--municipality", MUNICIPALITY]) == 1
        capsys.readouterr()

        httpx.delete(admin)

        def closed() -> bool:
            found = incidents(config, capsys)
            return len(found) == 1 and found[0]["status"] == "closed"

        wait_for(closed, 120, "the incident to close at the next delivered canary")
        [done] = incidents(config, capsys)
        assert done["id"] == incident["id"]
        assert done["exposure_start_unix"] == incident["exposure_start_unix"]
        # The window ends at the send time of the first canary delivered after the break.
        assert done["exposure_end_unix"] > lost_sent
        assert main([*problems, "--municipality", MUNICIPALITY]) == 0
