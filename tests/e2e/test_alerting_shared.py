"""Kanari in a shared Alertmanager and Prometheus, on the real servers: a down Kanari mutes only its own
alerts about the world, never another team's (checked in Alertmanager's API, ``status.inhibitedBy``),
and a receiver whose webhook fails is caught by ``KanariAlertmanagerFailing``.

No probe runs: the scrape target is a port nobody listens on, so the shipped rules (time-compressed)
fire ``KanariProbeDown`` for real; the other teams' alerts are posted into Alertmanager as their own
Prometheus would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from probe.config.loader import KanariConfig, load_config
from probe.render.alertmanager import render_alertmanager
from probe.render.alerts import render_rules
from tests.e2e.monitoring import Sinks, Stack, free_port, monitoring_stack, require_servers
from tests.e2e.test_alerting import HEARTBEAT, OPS, TIMING
from tests.render.conftest import CONFIG_DIR
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

JOB = "kanari"
# Another team's alerts, one with labels Kanari's routing and inhibitions use (owner, scope, channel),
# kube-prometheus' own Watchdog, and another Kanari deployment's route alert (another job).
FOREIGN = [
    {"alertname": "KubePodCrashLooping", "namespace": "payments", "severity": "warning"},
    {"alertname": "NodeFilesystemAlmostFull", "instance": "node-1", "severity": "critical"},
    {"alertname": "Watchdog", "severity": "none"},
    {"alertname": "TeamRouteDown", "scope": "route", "channel": "portal", "owner": "vendor",
     "severity": "critical"},
    {"alertname": "KanariRouteSilent", "job": "kanari-prod", "scope": "route", "channel": "portal",
     "municipality": "4601", "owner": "ops", "severity": "critical"},
]  # fmt: skip
# Kanari's own route alert of this job: a down probe mutes it.
OWN_ROUTE_ALERT = {
    "alertname": "KanariRouteSilent",
    "job": JOB,
    "scope": "route",
    "channel": "portal",
    "municipality": "4601",
    "municipality_name": "Bergen",
    "vendor": "example-vendor",
    "owner": "ops",
    "severity": "critical",
}


def example() -> KanariConfig:
    return load_config(CONFIG_DIR, environ={}, with_secrets=False)


def find(stack: Stack, labels: dict[str, str]) -> dict[str, Any] | None:
    """Alertmanager's alert with exactly ``labels`` (as far as given), if it has one."""
    for alert in stack.alertmanager_alerts():
        if all(alert["labels"].get(key) == value for key, value in labels.items()):
            return alert
    return None


def inhibited(stack: Stack, labels: dict[str, str]) -> bool:
    alert = find(stack, labels)
    return alert is not None and bool(alert["status"]["inhibitedBy"])


def test_a_down_kanari_mutes_its_own_alerts_only(tmp_path: Path) -> None:
    require_servers()
    config = example()
    sinks = Sinks()
    try:
        routing = render_alertmanager(config, TIMING, sink=lambda receiver: f"{sinks.url}/{receiver}")
        with monitoring_stack(tmp_path, free_port(), render_rules(config, TIMING), routing, JOB) as stack:
            wait_for(lambda: find(stack, {"alertname": "KanariProbeDown"}) is not None, 60, "KanariProbeDown")
            stack.post_alerts(OWN_ROUTE_ALERT, *FOREIGN)
            wait_for(lambda: inhibited(stack, OWN_ROUTE_ALERT), 30, "the own route alert to be inhibited")
            [probe_down] = [
                a for a in stack.alertmanager_alerts() if a["labels"]["alertname"] == "KanariProbeDown"
            ]
            assert probe_down["labels"]["job"] == JOB
            assert probe_down["status"]["state"] == "active"
            own = find(stack, OWN_ROUTE_ALERT)
            assert own is not None
            assert own["status"]["inhibitedBy"] == [probe_down["fingerprint"]]
            for labels in FOREIGN:
                alert = find(stack, labels)
                assert alert is not None, labels
                assert alert["status"]["inhibitedBy"] == [], labels
                assert alert["status"]["state"] == "active", labels
            # The other teams' alerts never reach Kanari's owners (here: this file's root receiver,
            # the operations centre, since this Alertmanager is Kanari's alone).
            crash = find(stack, FOREIGN[0])
            assert crash is not None
            assert [receiver["name"] for receiver in crash["receivers"]] == [OPS]
            # Kanari's watchdog goes on pinging the heartbeat receiver while the probe is down.
            wait_for(lambda: bool(sinks.received(HEARTBEAT, alertname="KanariWatchdog")), 30, "the ping")
    finally:
        sinks.close()


def test_a_failing_receiver_is_caught(tmp_path: Path) -> None:
    require_servers()
    config = example()
    # The heartbeat's webhook answers 400: every KanariWatchdog notification fails.
    sinks = Sinks(failing=frozenset({HEARTBEAT}))
    try:
        routing = render_alertmanager(config, TIMING, sink=lambda receiver: f"{sinks.url}/{receiver}")
        with monitoring_stack(tmp_path, free_port(), render_rules(config, TIMING), routing, JOB) as stack:
            wait_for(
                lambda: bool(sinks.received(OPS, alertname="KanariAlertmanagerFailing")),
                120,
                "KanariAlertmanagerFailing at the operations centre",
            )
            [page, *_] = sinks.received(OPS, alertname="KanariAlertmanagerFailing")
            assert page.labels["integration"] == "webhook"
            assert page.labels["severity"] == "critical"
            assert page.labels["job"] == JOB
            assert stack.query('alertmanager_notifications_failed_total{integration="webhook"} > 0')["data"][
                "result"
            ]
    finally:
        sinks.close()
