"""The Alertmanager configuration: committed file current, amtool check-config, a table of label sets and
the receivers amtool routes them to (critical pages the owner, warning tickets it, KanariWatchdog reaches
the heartbeat only, other teams' alerts never enter Kanari's subtree), and inhibitions scoped to Kanari's
own alerts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe.config.loader import KanariConfig
from probe.render.alertmanager import alertmanager_config, kanari_route, render_alertmanager
from probe.render.alerts import rule_groups
from probe.render.artefacts import ALERTMANAGER_PATH
from probe.render.timing import PRODUCTION
from tests.conftest import ROOT
from tests.e2e.monitoring import Sinks, free_port, monitoring_stack
from tests.render.conftest import run
from tests.waiting import wait_for

COMMITTED = ROOT / ALERTMANAGER_PATH
OPS = "kanari-operations-centre"
KANARI = {"job": "kanari"}
CRITICAL = {**KANARI, "severity": "critical"}
WARNING = {**KANARI, "severity": "warning"}
BERGEN_PORTAL = {"municipality": "4601", "vendor": "example-vendor", "channel": "portal", "scope": "route"}

# (labels of an alert, the receivers it must reach, in routing order).
ROUTING = [
    # The dead man's switch reaches the heartbeat receiver and nobody else.
    ({"alertname": "KanariWatchdog", "owner": "ops", "channel": "all", "severity": "none", **KANARI},
     ["kanari-heartbeat"]),
    # A vendor's critical alert pages that vendor; its warning tickets it.
    ({"alertname": "KanariRouteLosingCanaries", "owner": "vendor", "hop": "receipted", **BERGEN_PORTAL,
      **CRITICAL}, [OPS, "kanari-vendor-example-vendor-page"]),
    ({"alertname": "KanariCleanupFailing", "owner": "vendor", **BERGEN_PORTAL, **WARNING},
     [OPS, "kanari-vendor-example-vendor-ticket"]),
    ({"alertname": "KanariReceiptWithoutRecord", "owner": "vendor", "vendor": "another-vendor",
      "municipality": "0301", "channel": "portal", "scope": "route", **CRITICAL},
     [OPS, "kanari-vendor-another-vendor-page"]),
    ({"alertname": "KanariProbeBlind", "owner": "vendor", "vendor": "another-vendor", "channel": "portal",
      "scope": "vendor", **WARNING}, [OPS, "kanari-vendor-another-vendor-ticket"]),
    # A vendor without a ticket receiver: its warnings reach the operations centre only.
    ({"alertname": "KanariFallbackToPaperPost", "owner": "vendor", "vendor": "no-readback-vendor",
      "municipality": "1580", "channel": "portal", "scope": "route", **CRITICAL},
     [OPS, "kanari-vendor-no-readback-vendor-page"]),
    ({"alertname": "KanariCleanupFailing", "owner": "vendor", "vendor": "no-readback-vendor",
      "municipality": "1580", "channel": "portal", "scope": "route", **WARNING}, [OPS]),
    ({"alertname": "KanariRouteLosingCanaries", "owner": "ks", "hop": "forwarded", **BERGEN_PORTAL,
      **CRITICAL}, [OPS, "kanari-ks-page"]),
    ({"alertname": "KanariChannelDown", "owner": "ks", "channel": "portal", "scope": "channel", **CRITICAL},
     [OPS, "kanari-ks-page"]),
    ({"alertname": "KanariStatusChecksFailing", "owner": "ks", "channel": "portal", "target": "portal",
      "scope": "channel", **WARNING}, [OPS, "kanari-ks-ticket"]),
    ({"alertname": "KanariChannelDown", "owner": "digdir", "channel": "altinn", "scope": "channel",
      **CRITICAL}, [OPS, "kanari-digdir-page"]),
    ({"alertname": "KanariStatusChecksFailing", "owner": "digdir", "channel": "altinn", "target": "altinn",
      "scope": "channel", **WARNING}, [OPS, "kanari-digdir-ticket"]),
    # A municipality's critical alert pages its contacts, its warning (any Kanari warning it owns: the
    # routing reads labels only) its ticket contacts.
    ({"alertname": "KanariPublishedNeverFetched", "owner": "municipality", "municipality": "4601",
      "vendor": "example-vendor", "channel": "altinn", "scope": "route", **CRITICAL},
     [OPS, "kanari-municipality-4601-page"]),
    ({"alertname": "KanariRouteOverdue", "owner": "municipality", "municipality": "4601",
      "vendor": "example-vendor", "channel": "altinn", "scope": "route", **WARNING},
     [OPS, "kanari-municipality-4601-ticket"]),
    # The overdue warning tickets the owner of the hop the canary waits for, never pages it.
    ({"alertname": "KanariRouteOverdue", "owner": "vendor", "hop": "registered", **BERGEN_PORTAL,
      **WARNING}, [OPS, "kanari-vendor-example-vendor-ticket"]),
    ({"alertname": "KanariRouteOverdue", "owner": "ks", "hop": "forwarded", **BERGEN_PORTAL, **WARNING},
     [OPS, "kanari-ks-ticket"]),
    ({"alertname": "KanariRouteOverdue", "owner": "digdir", "hop": "published", "municipality": "0301",
      "vendor": "another-vendor", "channel": "altinn", "scope": "route", **WARNING},
     [OPS, "kanari-digdir-ticket"]),
    # Oslo has paging contacts but no ticket contacts: its warning never falls through to the pager.
    ({"alertname": "KanariRouteOverdue", "owner": "municipality", "hop": "fetched", "municipality": "0301",
      "vendor": "another-vendor", "channel": "altinn", "scope": "route", **WARNING}, [OPS]),
    ({"alertname": "KanariRouteLosingCanaries", "owner": "municipality", "municipality": "0301",
      "vendor": "another-vendor", "channel": "altinn", "hop": "read", "scope": "route", **CRITICAL},
     [OPS, "kanari-municipality-0301-page"]),
    # Haram has no contact: the operations centre alone.
    ({"alertname": "KanariPublishedNeverFetched", "owner": "municipality", "municipality": "1580",
      "vendor": "no-readback-vendor", "channel": "altinn", "scope": "route", **CRITICAL}, [OPS]),
    # The probe's own state goes to the operations centre, never to a vendor.
    ({"alertname": "KanariProbeBlind", "owner": "ops", "vendor": "example-vendor", "channel": "portal",
      "scope": "vendor", **WARNING}, [OPS]),
    ({"alertname": "KanariSendingFailing", "owner": "ops", "channel": "portal", "reason": "auth",
      **BERGEN_PORTAL, **CRITICAL}, [OPS]),
    ({"alertname": "KanariErrorBudgetBurn", "owner": "ops", "channel": "portal", "window": "1h",
      **CRITICAL}, [OPS]),
    ({"alertname": "KanariProbeDown", "owner": "ops", "channel": "all", "scope": "probe", **CRITICAL}, [OPS]),
    ({"alertname": "KanariAlertmanagerFailing", "owner": "ops", "channel": "all", "scope": "probe",
      "integration": "webhook", **CRITICAL}, [OPS]),
    ({"alertname": "KanariKeyExpiring", "owner": "ops", "channel": "all", "scope": "probe",
      "key": "business_certificate", **WARNING}, [OPS]),
    # Another team's alerts, even with an owner label Kanari uses, never enter Kanari's subtree (the
    # root receiver is only this file's; a shared Alertmanager has its own), and another deployment's
    # Kanari alerts (another job) neither.
    ({"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "x"}, [OPS]),
    ({"alertname": "Watchdog", "severity": "none"}, [OPS]),
    ({"alertname": "NodeDown", "owner": "vendor", "vendor": "example-vendor", "severity": "critical"},
     [OPS]),
    ({"alertname": "KanariWatchdog", "job": "kanari-prod", "severity": "none"}, [OPS]),
]  # fmt: skip


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
    assert document["route"]["routes"][0]["group_wait"] == "500ms"
    for receiver in document["receivers"]:
        assert receiver == {
            "name": receiver["name"],
            "webhook_configs": [{"url": f"http://127.0.0.1:9999/{receiver['name']}", "send_resolved": True}],
        }
    # The routing tree is the production one.
    production = alertmanager_config(config)
    (subtree,) = document["route"]["routes"]
    assert [r.get("matchers") for r in subtree["routes"]] == [
        r.get("matchers") for r in production["route"]["routes"][0]["routes"]
    ]
    assert "smtp_smarthost" not in document["global"]


@pytest.mark.parametrize(("labels", "receivers"), ROUTING, ids=lambda value: str(value)[:60])
def test_routes(amtool: str, labels: dict[str, str], receivers: list[str]) -> None:
    pairs = [f"{name}={value}" for name, value in sorted(labels.items())]
    result = run([amtool, "config", "routes", "test", f"--config.file={COMMITTED}", *pairs])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().split(",") == receivers


def test_every_configured_party_has_its_receivers(config: KanariConfig) -> None:
    names = {receiver["name"] for receiver in alertmanager_config(config)["receivers"]}
    assert {OPS, "kanari-heartbeat", "kanari-ks-page", "kanari-ks-ticket"} <= names
    assert {"kanari-digdir-page", "kanari-digdir-ticket"} <= names
    for vendor in config.vendors.values():
        assert (f"kanari-vendor-{vendor.id}-page" in names) == (vendor.alert_receiver is not None)
        assert (f"kanari-vendor-{vendor.id}-ticket" in names) == (vendor.ticket_receiver is not None)
    for number, municipality in config.municipalities.items():
        assert (f"kanari-municipality-{number}-page" in names) == bool(municipality.model.contacts)
        assert (f"kanari-municipality-{number}-ticket" in names) == bool(municipality.model.ticket_contacts)
    # Named kanari-... all: nothing collides with another team's receivers in a shared Alertmanager,
    # and KanariAlertmanagerFailing can tell Kanari's failed notifications from theirs.
    assert all(name.startswith("kanari-") for name in names)


def test_the_subtree_holds_only_kanari_alerts_of_its_job(config: KanariConfig) -> None:
    subtree = kanari_route(config)
    assert subtree["matchers"] == ['alertname=~"Kanari.+"', 'job="kanari"']
    watchdog, *rest = subtree["routes"]
    assert watchdog["matchers"] == ['alertname="KanariWatchdog"']
    assert "continue" not in watchdog, "the Watchdog must stop at the heartbeat receiver"
    assert all(route["continue"] for route in rest)
    for route in rest[1:]:
        (severity,) = [m for m in route["matchers"] if m.startswith("severity=")]
        kind = "page" if severity == 'severity="critical"' else "ticket"
        assert severity in {'severity="critical"', 'severity="warning"'}
        assert route["receiver"].endswith(f"-{kind}")


def test_inhibition_refers_to_real_alerts_and_is_scoped_to_kanari(config: KanariConfig) -> None:
    rules = [rule for group in rule_groups(config)["groups"] for rule in group["rules"] if "alert" in rule]
    names = {rule["alert"] for rule in rules}
    inhibit = alertmanager_config(config)["inhibit_rules"]
    for rule in inhibit:
        # Both sides name Kanari's alerts of this job, and the rule is equal on the job: a down Kanari
        # never mutes another team's alert, nor another Kanari deployment's.
        for side in ("source_matchers", "target_matchers"):
            assert 'job="kanari"' in rule[side], rule
            (names_matcher,) = [m for m in rule[side] if m.startswith("alertname")]
            if names_matcher == 'alertname=~"Kanari.+"':
                continue
            if names_matcher.startswith("alertname=~"):
                assert set(names_matcher.split('"')[1].split("|")) <= names, names_matcher
            else:
                assert names_matcher.split('"')[1] in names, names_matcher
        assert "job" in rule["equal"], rule
    probe_down = next(rule for rule in inhibit if "KanariProbeDown" in rule["source_matchers"][0])
    assert probe_down["target_matchers"] == [
        'alertname=~"Kanari.+"',
        'job="kanari"',
        'scope=~"route|vendor|channel"',
    ]
    channel_down = next(
        rule for rule in inhibit if rule["source_matchers"][0] == 'alertname="KanariChannelDown"'
    )
    assert channel_down["equal"] == ["job", "channel"]
    assert channel_down["target_matchers"] == ['alertname=~"Kanari.+"', 'job="kanari"', 'scope="route"']
    # Every alert carries the job, and every scope="route" alert the channel, so equal can match them.
    assert all(rule["labels"]["job"] == "kanari" for rule in rules)
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


def test_a_paged_route_gets_no_overdue_ticket(config: KanariConfig) -> None:
    (rule,) = [
        rule
        for rule in alertmanager_config(config)["inhibit_rules"]
        if rule["target_matchers"][0] == 'alertname="KanariRouteOverdue"'
    ]
    # Any critical alert about the same route of this job (a loss whichever owner it names, paper
    # post, silence, refused sends) mutes the warning; another route's, another job's, another team's
    # alert does not, and neither does a warning (the overdue alert itself, cleanup, blindness).
    assert rule["source_matchers"] == [
        'alertname=~"Kanari.+"',
        'job="kanari"',
        'scope="route"',
        'severity="critical"',
    ]
    assert rule["target_matchers"] == ['alertname="KanariRouteOverdue"', 'job="kanari"']
    assert rule["equal"] == ["job", "channel", "municipality"]
    rules = [r for group in rule_groups(config)["groups"] for r in group["rules"] if "alert" in r]
    sources = {
        r["alert"] for r in rules if (r["labels"]["scope"], r["labels"]["severity"]) == ("route", "critical")
    }
    assert {"KanariRouteLosingCanaries", "KanariPublishedNeverFetched", "KanariRouteSilent"} <= sources
    assert "KanariRouteOverdue" not in sources


# A route paged for losses, and overdue warnings on it and around it (another route, the other channel,
# another deployment's job), plus another team's critical route alert on Oslo's portal route.
LOSS = {"alertname": "KanariRouteLosingCanaries", "owner": "vendor", "hop": "receipted", **BERGEN_PORTAL,
        **CRITICAL}  # fmt: skip
OVERDUE_HERE = {
    "alertname": "KanariRouteOverdue",
    "owner": "ks",
    "hop": "forwarded",
    **BERGEN_PORTAL,
    **WARNING,
}
OVERDUE_ELSEWHERE = [
    {**OVERDUE_HERE, "municipality": "0301", "vendor": "another-vendor"},
    {**OVERDUE_HERE, "channel": "altinn", "hop": "published", "owner": "digdir"},
    {**OVERDUE_HERE, "job": "kanari-prod"},
]
FOREIGN_ROUTE_ALERT = {"alertname": "TeamRouteDown", "scope": "route", "channel": "portal",
                       "municipality": "0301", "severity": "critical", "job": "kanari"}  # fmt: skip


@pytest.mark.slow
def test_a_paged_route_mutes_its_overdue_warning_on_real_alertmanager(
    config: KanariConfig, tmp_path: Path
) -> None:

    def find(alerts: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
        (alert,) = [alert for alert in alerts if alert["labels"] == labels]
        return alert

    sinks = Sinks()
    try:
        routing = render_alertmanager(config, sink=lambda receiver: f"{sinks.url}/{receiver}")
        # No rule fires (no KanariProbeDown muting every route alert): the alerts are posted directly.
        with monitoring_stack(tmp_path, free_port(), "groups: []\n", routing) as stack:
            stack.post_alerts(LOSS, OVERDUE_HERE, *OVERDUE_ELSEWHERE, FOREIGN_ROUTE_ALERT)
            wait_for(
                lambda: find(stack.alertmanager_alerts(), OVERDUE_HERE)["status"]["inhibitedBy"],
                30,
                "the overdue warning of the paged route to be inhibited",
                explain=lambda: str(stack.alertmanager_alerts()),
            )
            alerts = stack.alertmanager_alerts()
            assert find(alerts, OVERDUE_HERE)["status"]["inhibitedBy"] == [find(alerts, LOSS)["fingerprint"]]
            for labels in OVERDUE_ELSEWHERE:
                alert = find(alerts, labels)
                assert alert["status"]["inhibitedBy"] == [], labels
                assert alert["status"]["state"] == "active", labels
            assert find(alerts, LOSS)["status"]["state"] == "active"
    finally:
        sinks.close()
