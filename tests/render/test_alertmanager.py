"""The Alertmanager configuration: committed file current, amtool check-config, and a table of label
sets and the receivers amtool routes them to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from probe.config.loader import KanariConfig
from probe.render.alertmanager import alertmanager_config, render_alertmanager
from probe.render.alerts import rule_groups
from probe.render.artefacts import ALERTMANAGER_PATH
from probe.render.timing import PRODUCTION
from tests.conftest import ROOT
from tests.render.conftest import run

COMMITTED = ROOT / ALERTMANAGER_PATH
OPS = "operations-centre"

# (labels of an alert, the receivers it must reach, in routing order).
ROUTING = [
    ({"alertname": "Watchdog", "owner": "ops", "channel": "all"}, ["heartbeat"]),
    (
        {
            "alertname": "KanariRouteLosingCanaries",
            "owner": "vendor",
            "vendor": "example-vendor",
            "municipality": "4601",
            "channel": "portal",
            "hop": "receipted",
            "scope": "route",
        },
        [OPS, "vendor-example-vendor"],
    ),
    (
        {
            "alertname": "KanariReceiptWithoutRecord",
            "owner": "vendor",
            "vendor": "another-vendor",
            "municipality": "0301",
            "channel": "portal",
            "scope": "route",
        },
        [OPS, "vendor-another-vendor"],
    ),
    (
        {
            "alertname": "KanariFallbackToPaperPost",
            "owner": "vendor",
            "vendor": "no-readback-vendor",
            "municipality": "1580",
            "channel": "portal",
            "scope": "route",
        },
        [OPS, "vendor-no-readback-vendor"],
    ),
    (
        {
            "alertname": "KanariRouteLosingCanaries",
            "owner": "ks",
            "vendor": "example-vendor",
            "municipality": "4601",
            "channel": "portal",
            "hop": "forwarded",
            "scope": "route",
        },
        [OPS, "ks"],
    ),
    ({"alertname": "KanariChannelDown", "owner": "ks", "channel": "portal", "scope": "channel"}, [OPS, "ks"]),
    (
        {"alertname": "KanariChannelDown", "owner": "digdir", "channel": "altinn", "scope": "channel"},
        [OPS, "digdir"],
    ),
    (
        {
            "alertname": "KanariPublishedNeverFetched",
            "owner": "municipality",
            "municipality": "4601",
            "vendor": "example-vendor",
            "channel": "altinn",
            "scope": "route",
        },
        [OPS, "municipality-4601"],
    ),
    (
        {
            "alertname": "KanariRouteLosingCanaries",
            "owner": "municipality",
            "municipality": "0301",
            "vendor": "another-vendor",
            "channel": "altinn",
            "hop": "read",
            "scope": "route",
        },
        [OPS, "municipality-0301"],
    ),
    # Haram has no contact: the operations centre alone.
    (
        {
            "alertname": "KanariPublishedNeverFetched",
            "owner": "municipality",
            "municipality": "1580",
            "vendor": "no-readback-vendor",
            "channel": "altinn",
            "scope": "route",
        },
        [OPS],
    ),
    # A vendor never hears another vendor's alerts, nor a municipality-owned one on its route.
    (
        {
            "alertname": "KanariPublishedNeverFetched",
            "owner": "municipality",
            "municipality": "4601",
            "vendor": "example-vendor",
            "channel": "altinn",
        },
        [OPS, "municipality-4601"],
    ),
    (
        {
            "alertname": "KanariProbeBlind",
            "owner": "ops",
            "vendor": "example-vendor",
            "channel": "portal",
            "scope": "vendor",
            "severity": "warning",
        },
        [OPS],
    ),
    (
        {"alertname": "KanariProbeBlind", "owner": "vendor", "vendor": "unknown-vendor", "channel": "portal"},
        [OPS],
    ),
    (
        {
            "alertname": "KanariSendingFailing",
            "owner": "ops",
            "vendor": "example-vendor",
            "municipality": "4601",
            "channel": "portal",
            "reason": "auth",
        },
        [OPS],
    ),
    ({"alertname": "KanariErrorBudgetBurn", "owner": "ops", "channel": "portal", "window": "1h"}, [OPS]),
    ({"alertname": "KanariProbeDown", "owner": "ops", "channel": "all", "scope": "probe"}, [OPS]),
    (
        {
            "alertname": "KanariStatusChecksFailing",
            "owner": "digdir",
            "channel": "altinn",
            "target": "altinn",
        },
        [OPS, "digdir"],
    ),
]


def test_committed_alertmanager_config_is_a_fresh_render(config: KanariConfig) -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_alertmanager(config), (
        "config/alertmanager/alertmanager.yml is stale: run `kanari render alertmanager`"
    )


def test_amtool_check_config(amtool: str) -> None:
    result = run([amtool, "check-config", str(COMMITTED)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_variants_pass_check_config(config: KanariConfig, amtool: str, tmp_path: Path) -> None:
    sink = tmp_path / "sink.yml"
    sink.write_text(
        render_alertmanager(
            config, PRODUCTION.compressed(1 / 60), sink=lambda name: f"http://127.0.0.1:9999/{name}"
        ),
        encoding="utf-8",
    )
    result = run([amtool, "check-config", str(sink)])
    assert result.returncode == 0, result.stdout + result.stderr
    document = yaml.safe_load(sink.read_text())
    assert document["route"]["group_wait"] == "500ms"
    for receiver in document["receivers"]:
        assert receiver == {
            "name": receiver["name"],
            "webhook_configs": [{"url": f"http://127.0.0.1:9999/{receiver['name']}", "send_resolved": True}],
        }
    # The routing tree is the production one.
    production = alertmanager_config(config)
    assert [r.get("matchers") for r in document["route"]["routes"]] == [
        r.get("matchers") for r in production["route"]["routes"]
    ]
    assert "smtp_smarthost" not in document["global"]


@pytest.mark.parametrize(("labels", "receivers"), ROUTING, ids=lambda value: str(value)[:60])
def test_routes(amtool: str, labels: dict[str, str], receivers: list[str]) -> None:
    pairs = [f"{name}={value}" for name, value in sorted(labels.items())]
    result = run([amtool, "config", "routes", "test", f"--config.file={COMMITTED}", *pairs])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().split(",") == receivers


def test_every_configured_party_has_its_receiver(config: KanariConfig) -> None:
    names = {receiver["name"] for receiver in alertmanager_config(config)["receivers"]}
    assert {OPS, "heartbeat", "ks", "digdir"} <= names
    for vendor in config.vendors.values():
        assert (f"vendor-{vendor.id}" in names) == (vendor.alert_receiver is not None)
    for number, municipality in config.municipalities.items():
        assert (f"municipality-{number}" in names) == bool(municipality.model.contacts)


def test_inhibition_refers_to_real_alerts_and_labels(config: KanariConfig) -> None:
    rules = [rule for group in rule_groups(config)["groups"] for rule in group["rules"] if "alert" in rule]
    names = {rule["alert"] for rule in rules}
    inhibit = alertmanager_config(config)["inhibit_rules"]
    for rule in inhibit:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            if matcher.startswith("alertname"):
                values = matcher.split('"')[1].split("|")
                assert set(values) - {"Watchdog"} <= names, matcher
    channel_down = next(
        rule for rule in inhibit if rule["source_matchers"] == ['alertname="KanariChannelDown"']
    )
    assert channel_down["equal"] == ["channel"]
    assert channel_down["target_matchers"] == ['scope="route"']
    # Every scope="route" alert carries the channel label, so equal: [channel] can match it.
    assert all(
        rule["labels"]["channel"] in {"portal", "altinn"}
        for rule in rules
        if rule["labels"]["scope"] == "route"
    )


def test_email_goes_through_the_configured_relay(config: KanariConfig) -> None:
    document = alertmanager_config(config)
    assert document["global"]["smtp_smarthost"] == "smtp.kanari.example:587"
    assert document["global"]["smtp_from"] == "alertmanager@kanari.example"


def test_without_a_relay_email_gets_a_placeholder_that_cannot_resolve(config: KanariConfig) -> None:
    settings = config.settings.model_copy(
        update={"alerting": config.settings.alerting.model_copy(update={"smtp": None})}
    )
    document = alertmanager_config(dataclasses.replace(config, settings=settings))
    assert document["global"]["smtp_smarthost"].endswith(".invalid:587")
