"""The shipped rules and routing, on real Prometheus and Alertmanager, watching a real probe that watches
a sandbox: the owner of a broken hop is paged, and nobody else.

Time is compressed where it must be (short intervals in the probe's configuration, and the rules'
fixed windows rendered with ``Timing.compressed`` from the same source), but every server is real.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from probe.config.loader import load_config
from probe.render.alertmanager import render_alertmanager
from probe.render.alerts import render_rules
from probe.render.timing import PRODUCTION
from tests.conftest import ROOT
from tests.e2e.monitoring import (
    Sinks,
    Stack,
    free_port,
    monitoring_stack,
    require_servers,
    settled,
    wait_until_answering,
)
from tests.e2e.processes import environment, fast_timing, sandbox_process, write_probe_config
from tests.render.promql import dashboard_expressions, rule_expressions
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

# nordlys, fjordsys, vidde, kystdata, papirlos: one municipality per vendor.
MUNICIPALITIES = ["4601", "0301", "5001", "1103", "1130"]
# Not the default job name: the rules, routing and dashboards must all follow the setting.
JOB = "kanari-e2e"
FAST = {**fast_timing("4s", "5s", "8s", "3s"), "alerting": {"job": JOB}}
OPS = "kanari-operations-centre"
HEARTBEAT = "kanari-heartbeat"
# Prometheus scrapes and evaluates every second here instead of every 15/30 s.
TIMING = PRODUCTION.compressed(1 / 30)


@contextlib.contextmanager
def world(tmp_path: Path, probe_command: list[str] | None = None) -> Iterator[tuple[Stack, Sinks, str]]:
    """Sandbox, probe, Prometheus, Alertmanager and the webhook sinks; yields the stack, the sinks and
    the sandbox's fault API. ``probe_command`` replaces ``python -m probe`` (a wrapper that misbehaves)."""
    require_servers()
    sinks = Sinks()
    try:
        with sandbox_process(tmp_path / "sandbox") as manifest:
            port = free_port()
            config_dir = write_probe_config(
                tmp_path / "config", manifest, MUNICIPALITIES, settings=FAST, listen=f"127.0.0.1:{port}"
            )
            config = load_config(config_dir, environ={}, with_secrets=False)
            rules = render_rules(config, TIMING)
            routing = render_alertmanager(config, TIMING, sink=lambda receiver: f"{sinks.url}/{receiver}")
            # The probe first, answering before Prometheus scrapes it: its start-up (slower under
            # coverage on a busy machine) must not count as down time for KanariProbeDown's 4 s here.
            log = tmp_path / "probe.log"
            with log.open("wb") as output:
                command = [*(probe_command or [sys.executable, "-m", "probe"]), "run"]
                probe = subprocess.Popen(
                    [*command, "--config", str(config_dir)],
                    cwd=ROOT, env=environment(), stdout=output, stderr=subprocess.STDOUT,
                )  # fmt: skip
            try:
                wait_until_answering(f"http://127.0.0.1:{port}/healthz", probe, log)
                with monitoring_stack(tmp_path / "monitoring", port, rules, routing, JOB) as stack:
                    yield stack, sinks, manifest.admin_url
            finally:
                if probe.poll() is None:
                    probe.send_signal(signal.SIGTERM)
                probe.wait(timeout=30)
    finally:
        sinks.close()


def test_receipt_without_record_pages_that_vendor_and_the_operations_centre_only(tmp_path: Path) -> None:
    with world(tmp_path) as (stack, sinks, admin):
        wait_for(lambda: bool(sinks.received(HEARTBEAT, alertname="KanariWatchdog")), 60, "the Watchdog")
        httpx.post(admin, json={"fault": "vendor.receipt_without_store", "municipality": "4601"})
        wanted = {"alertname": "KanariReceiptWithoutRecord", "municipality": "4601", "vendor": "nordlys"}
        page_receiver = "kanari-vendor-nordlys-page"
        wait_for(lambda: bool(sinks.received(page_receiver, **wanted)), 150, "the vendor's page")
        [page, *_] = sinks.received(page_receiver, **wanted)
        assert page.labels["hop"] == "registered"
        assert page.labels["owner"] == "vendor"
        assert page.labels["channel"] == "portal"
        assert page.labels["severity"] == "critical"
        assert page.labels["job"] == JOB
        wait_for(lambda: bool(sinks.received(OPS, **wanted)), 30, "the operations centre")
        for vendor in ("fjordsys", "vidde", "kystdata", "papirlos"):
            assert sinks.received(f"kanari-vendor-{vendor}-page") == [], f"vendor {vendor} was paged"
        # The watchdog reached the heartbeat only.
        assert all(n.receiver == HEARTBEAT for n in sinks.received(alertname="KanariWatchdog"))
        # The probe serves its process metrics and its certificate's expiry beside Kanari's own.
        for expression in (
            f'process_resident_memory_bytes{{job="{JOB}"}}',
            f'kanari_key_expiry_timestamp_seconds{{job="{JOB}",key="business_certificate"}} > time()',
            f'kanari_leader{{job="{JOB}"}} == 1',
        ):
            assert stack.query(expression)["data"]["result"], expression
        # Every PromQL expression of the rules and dashboards runs against this Prometheus.
        check_dashboard_queries(stack, tmp_path / "monitoring")


def test_portal_outage_pages_ks_once_and_inhibits_the_route_alerts_of_that_channel_only(
    tmp_path: Path,
) -> None:
    with world(tmp_path) as (stack, sinks, admin):
        wait_for(lambda: bool(sinks.received(HEARTBEAT, alertname="KanariWatchdog")), 60, "the Watchdog")
        httpx.post(admin, json={"fault": "portal.submit_error", "municipality": "*"})
        ks = "kanari-ks-page"
        wait_for(lambda: bool(sinks.received(ks, alertname="KanariChannelDown")), 150, "KS's page")
        # Give the route alerts their time to fire (and be inhibited) before judging.
        wait_for(lambda: any(a["labels"].get("scope") == "route" for a in stack.firing()), 60, "route alerts")
        wait_for(lambda: settled(stack, sinks), 60, "Alertmanager to deliver or inhibit every alert")
        ks_alerts = {n.labels["alertname"] for n in sinks.received(ks)}
        assert ks_alerts == {"KanariChannelDown"}, ks_alerts
        [down, *_] = sinks.received(ks, alertname="KanariChannelDown")
        assert down.labels["channel"] == "portal"
        assert down.labels["owner"] == "ks"
        route_pages = [n for n in sinks.received(channel="portal") if n.labels.get("scope") == "route"]
        assert route_pages == [], "route alerts of the down channel were not inhibited"
        assert sinks.received(channel="altinn") == [], "the other channel was disturbed"


def check_dashboard_queries(stack: Stack, monitoring: Path) -> None:
    """Every expression executes without error; every panel shows data on this run (a healthy probe
    shows 0, never "No data": nothing rejected and no failed send are zeros too)."""
    with_data: dict[str, bool] = {}
    variables = {"vendor": "nordlys", "municipality": "4601", "job": JOB}
    # The rule file of this run (rendered for JOB), then the committed dashboards with $job = JOB.
    expressions = rule_expressions(monitoring, Path("rules.yml"))
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        expressions += dashboard_expressions(ROOT, path.relative_to(ROOT))
    for expression in expressions:
        body = stack.query(expression.concrete(variables))
        if expression.kind == "panel" and expression.panel is not None:
            with_data[expression.panel] = with_data.get(expression.panel, False) or bool(
                body["data"]["result"]
            )
    empty = sorted(panel for panel, has_data in with_data.items() if not has_data)
    assert empty == [], f"panels without data: {empty}"
