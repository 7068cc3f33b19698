"""The alert rules: committed file current, promtool check and unit tests, labels, annotations and the
timing formulas."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe.config.loader import KanariConfig, load_config
from probe.config.routes import Route
from probe.hops import Channel, Hop
from probe.render.alerts import render_rules, rule_groups
from probe.render.artefacts import ALERTS_PATH
from probe.render.durations import parse_prom_duration
from probe.render.links import kebab
from probe.render.timing import PRODUCTION, ChannelTiming, Timing
from tests.conftest import ROOT
from tests.render.conftest import CONFIG_DIR, run

OWNERS = {"ks", "digdir", "vendor", "municipality", "ops"}
SEVERITIES = {"critical", "warning", "none"}
# Alerts whose owner is the blamed hop's owner, taken from kanari_undelivered_total's labels (or, for
# the overdue warning, kanari_overdue's: the owner of the hop the canary waits for).
OWNER_FROM_METRIC = {
    "KanariRouteLosingCanaries",
    "KanariReceiptWithoutRecord",
    "KanariPublishedNeverFetched",
    "KanariRouteOverdue",
}
# The per-route loss alerts, which carry the open incident's exposure window (DESIGN section 7).
LOSS_ALERTS = {
    "KanariRouteLosingCanaries",
    "KanariReceiptWithoutRecord",
    "KanariPublishedNeverFetched",
    "KanariFallbackToPaperPost",
}
ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}
PROMTOOL_TESTS = sorted((ROOT / "tests" / "prometheus").glob("*.test.yml"))


def alerts(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def test_committed_rules_are_a_fresh_render(config: KanariConfig) -> None:
    assert (ROOT / ALERTS_PATH).read_text(encoding="utf-8") == render_rules(config), (
        "config/prometheus/alerts.yml is stale: run `kanari render alerts`"
    )


def test_promtool_check_rules(promtool: str) -> None:
    result = run([promtool, "check", "rules", str(ROOT / ALERTS_PATH)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_promtool_unit_tests() -> None:
    assert PROMTOOL_TESTS, "no promtool test files under tests/prometheus"


# One promtool run per file: each evaluates every rule at every step, so a file of multi-day
# simulations (office_hours) gets its own time budget, and a failure names its file.
@pytest.mark.slow
@pytest.mark.parametrize("path", PROMTOOL_TESTS, ids=lambda path: path.name)
def test_promtool_unit_tests(promtool: str, path: Path) -> None:
    result = run([promtool, "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_time_compressed_variant_is_valid_and_short(
    config: KanariConfig, promtool: str, tmp_path: Path
) -> None:
    compressed = PRODUCTION.compressed(1 / 60)
    path = tmp_path / "alerts.yml"
    path.write_text(render_rules(config, compressed), encoding="utf-8")
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    document = yaml.safe_load(path.read_text())
    rules = {
        (rule["alert"], rule["labels"]["channel"], rule["labels"].get("window")): rule
        for rule in alerts(document)
    }
    assert rules["KanariProbeDown", "all", None]["for"] == "2s"
    assert rules["KanariErrorBudgetBurn", "portal", "3d"]["for"] == "1m"
    # The recording rules keep the nominal window name, so the same selectors work in both variants.
    assert (
        'ratio{channel="portal",window="1h",job="kanari"}'
        in rules["KanariErrorBudgetBurn", "portal", "1h"]["expr"]
    )
    assert "[1m:5s]" in path.read_text()  # the 1 h loss count, sampled every (5 min / 60)
    assert "TIME-COMPRESSED" in path.read_text()


def test_every_alert_has_owner_severity_channel_and_annotations(config: KanariConfig) -> None:
    document = rule_groups(config)
    runbook = config.settings.alerting.runbook_url
    dashboards = config.settings.alerting.dashboard_url
    for rule in alerts(document):
        name, labels, annotations = rule["alert"], rule["labels"], rule["annotations"]
        assert labels["severity"] in SEVERITIES, name
        assert labels["channel"] in {"portal", "altinn", "all"}, name
        assert labels["scope"] in {"route", "vendor", "channel", "probe"}, name
        if name in OWNER_FROM_METRIC:
            assert "owner" not in labels, name
            assert re.search(r"by \([^)]*\bowner\b", rule["expr"]), name
        else:
            assert labels["owner"] in OWNERS, name
        if labels["scope"] == "route":
            assert re.search(r"by \(channel, municipality, vendor", rule["expr"]), name
            assert "group_left (municipality_name)" in rule["expr"], name
        extra = {"exposure_start", "ks_retained_until"} if name in LOSS_ALERTS else set()
        assert set(annotations) == ANNOTATIONS | extra, name
        assert annotations["runbook_url"] == f"{runbook}#{kebab(name)}"
        assert re.fullmatch(
            rf"{re.escape(dashboards)}/kanari-[a-z]+(\?var-\w+=\{{\{{ \$labels\.\w+ \}}\}})?",
            annotations["dashboard_url"],
        )
        assert labels["job"] == config.settings.alerting.job, name
        if name != "KanariWatchdog":
            assert "for" in rule, name


def test_route_alerts_never_blame_the_probe_itself(config: KanariConfig) -> None:
    for rule in alerts(rule_groups(config)):
        if rule["alert"] == "KanariRouteLosingCanaries":
            for selector in re.findall(r"kanari_undelivered_total\{([^}]*)\}", rule["expr"]):
                (owner,) = re.findall(r'owner(!~|=)"([^"]*)"', selector)
                excluded = owner[0] == "!~" and "ops" in owner[1].split("|")
                assert excluded or (owner[0] == "=" and owner[1] != "ops"), selector


def test_probe_blind_is_a_warning_to_ops_on_unknown_verdicts_alone(config: KanariConfig) -> None:
    # Unknowns are the signal, whatever caused them: no check-failure counter is required to move
    # (a check that hangs or crashes moves none), and blindness is the probe's own state, never a
    # vendor's page.
    rules = [rule for rule in alerts(rule_groups(config)) if rule["alert"] == "KanariProbeBlind"]
    assert {rule["labels"]["channel"] for rule in rules} == {"portal", "altinn"}
    for rule in rules:
        assert rule["labels"]["severity"] == "warning"
        assert rule["labels"]["owner"] == "ops"
        assert 'verdict="unknown"' in rule["expr"]
        assert "kanari_check_failures_total" not in rule["expr"]


def test_channel_alerts_fire_before_the_route_alerts_they_inhibit(config: KanariConfig) -> None:
    fors: dict[tuple[str, str], float] = {}
    for rule in alerts(rule_groups(config)):
        fors.setdefault(
            (rule["alert"], rule["labels"]["channel"]),
            parse_prom_duration(rule["for"]) if "for" in rule else 0,
        )
    for channel in ("portal", "altinn"):
        down = fors["KanariChannelDown", channel]
        for name in ("KanariRouteLosingCanaries", "KanariSendingFailing", "KanariRouteSilent"):
            assert down < fors[name, channel], (name, channel)


def route(channel: Channel, interval: float, poll: float = 30) -> Route:
    return Route(
        channel, "4601", "Bergen", "Vestland", "964338531", "v", None, interval, 1800, poll, Hop.RECEIPTED
    )


def test_timing_formulas_follow_the_configured_intervals() -> None:
    timing = ChannelTiming.derive(Channel.PORTAL, [route(Channel.PORTAL, 900)], PRODUCTION)
    assert timing is not None
    assert timing.loss_window == 3 * 900 + 30
    assert timing.channel_window == 900 + 2 * 30
    assert timing.channel_for == 120  # 2 x resolution (60 s) beats 2 x poll (30 s)
    assert timing.route_for == 120 + 2 * 60
    assert timing.silent_for == timing.route_for + 60
    assert timing.overdue_for == 60  # one evaluation (longer than one 30 s poll)
    # A municipality with a faster interval: the route for: grows by the spread, so channel down
    # still comes first.
    mixed = ChannelTiming.derive(
        Channel.PORTAL, [route(Channel.PORTAL, 900), route(Channel.PORTAL, 600)], PRODUCTION
    )
    assert mixed is not None
    assert mixed.route_for == 120 + 300 + 120
    # ... but never beyond 2 intervals, or two consecutive losses could not stay pending long enough
    # (intervals this short need a compressed timing, and the rule file says so).
    short = ChannelTiming.derive(Channel.PORTAL, [route(Channel.PORTAL, 60, poll=1)], PRODUCTION)
    assert short is not None
    assert short.route_for == 2 * 60
    assert ChannelTiming.derive(Channel.ALTINN, [route(Channel.PORTAL, 900)], PRODUCTION) is None


def test_compression_scales_only_the_fixed_durations() -> None:
    compressed = Timing().compressed(0.5).compressed(0.5)
    assert compressed.scale == 0.25
    assert compressed.scaled(compressed.probe_down_for) == 30
    timing = ChannelTiming.derive(Channel.PORTAL, [route(Channel.PORTAL, 10, poll=1)], compressed)
    assert timing is not None
    assert timing.loss_window == 31  # from the configuration, unscaled
    assert timing.channel_for == 30  # 2 x scaled resolution (15 s)
    with pytest.raises(ValueError, match="positive"):
        Timing().compressed(0)


def test_rendered_thresholds_follow_the_configuration() -> None:
    faster = load_config(
        CONFIG_DIR, environ={}, overrides={"channels": {"portal": {"interval": "5m"}}}, with_secrets=False
    )
    text = render_rules(faster)
    assert 'kanari_undelivered_total{channel="portal",owner="ks",job="kanari"}[6m]' in text  # 5m + 2x30s
    assert "[15m30s]" in text  # loss window 3 x 5m + 30s
    share = load_config(
        CONFIG_DIR, environ={}, overrides={"alerting": {"channel_down_share": 0.25}}, with_secrets=False
    )
    assert ">= 0.25\n" in render_rules(share)


def test_rendering_is_deterministic(config: KanariConfig) -> None:
    assert render_rules(config) == render_rules(dataclasses.replace(config))
    assert render_rules(config).endswith("\n")
    assert not render_rules(config).endswith("\n\n")


def test_the_scrape_job_is_a_setting_used_by_every_rule(config: KanariConfig) -> None:
    other = load_config(
        CONFIG_DIR,
        environ={},
        overrides={"alerting": {"job": "kanari-test", "alertmanager_job": "alertmanager-main"}},
        with_secrets=False,
    )
    text = render_rules(other)
    assert 'job="kanari"' not in text
    document = rule_groups(other)
    assert {group["name"] for group in document["groups"]} == {
        f"kanari-test.{part}" for part in ("routes", "channels", "slo", "probe")
    }
    for group in document["groups"]:
        for rule in group["rules"]:
            # Every series it reads, raw or recorded, is of this job, and what it records or fires
            # carries the job.
            assert rule["labels"]["job"] == "kanari-test", rule
            for name, matchers in re.findall(r"((?:[a-z_]+:)?kanari_[a-z0-9_:]+)(\{[^}]*\})?", rule["expr"]):
                assert 'job="kanari-test"' in matchers, (name, rule["expr"])
    probe = {rule["alert"]: rule for rule in alerts(document) if rule["labels"]["channel"] == "all"}
    assert probe["KanariProbeDown"]["expr"] == 'absent(kanari_leader{job="kanari-test"} == 1)'
    assert 'up{job="kanari-test"} == 0' in probe["KanariReplicaDown"]["expr"]
    assert 'job="alertmanager-main"' in probe["KanariAlertmanagerFailing"]["expr"]
    assert 'rule_group=~".+;kanari-test[.].+"' in probe["KanariRuleEvaluationFailing"]["expr"]


def test_a_job_name_that_prometheus_would_refuse_is_a_config_error() -> None:
    from probe.errors import InvalidConfigError  # noqa: PLC0415

    with pytest.raises(InvalidConfigError) as raised:
        load_config(CONFIG_DIR, environ={"KANARI_ALERTING__JOB": 'kanari"}'}, with_secrets=False)
    # Where it came from, the field and the value as given.
    assert str(raised.value) == (
        "environment variable KANARI_ALERTING__JOB: alerting.job: must be the job_name of a Prometheus "
        "scrape config: a letter "
        """or _, then letters, digits and _ . : - (e.g. kanari) (value: 'kanari"}')"""
    )


def test_key_expiry_warns_at_the_config_check_horizon_and_pages_a_week_ahead(config: KanariConfig) -> None:
    from probe.config.keys import EXPIRY_WARNING_DAYS  # noqa: PLC0415

    rules = [rule for rule in alerts(rule_groups(config)) if rule["alert"] == "KanariKeyExpiring"]
    thresholds = {rule["labels"]["severity"]: rule["expr"].rsplit("< ", 1)[1] for rule in rules}
    assert thresholds == {"warning": str(EXPIRY_WARNING_DAYS * 86400), "critical": str(7 * 86400)}


def test_overdue_is_a_ticket_to_the_owner_of_the_awaited_hop(config: KanariConfig) -> None:
    rules = [rule for rule in alerts(rule_groups(config)) if rule["alert"] == "KanariRouteOverdue"]
    assert {rule["labels"]["channel"] for rule in rules} == {"portal", "altinn"}
    for rule in rules:
        # A warning (the ticket receiver), never a page, and every label the routing needs: the owner
        # and the hop from the gauge, the vendor and municipality of the route.
        assert rule["labels"]["severity"] == "warning"
        assert rule["labels"]["scope"] == "route"
        assert "by (channel, municipality, vendor, hop, owner) (kanari_overdue{" in rule["expr"]
        assert rule["expr"].count("> 0") == 1
    fors = {rule["labels"]["channel"]: parse_prom_duration(rule["for"]) for rule in rules}
    assert fors == {"portal": 60, "altinn": 120}  # max(poll, resolution) of each channel


def test_silence_reads_the_probes_limit_and_falls_back_to_the_deadlines(config: KanariConfig) -> None:
    (threshold,) = [
        rule
        for group in rule_groups(config)["groups"]
        for rule in group["rules"]
        if rule.get("record") == "channel_municipality:kanari_route_silence_threshold:seconds"
    ]
    limit, _, fallback = threshold["expr"].partition("\nor (")
    assert limit == 'max by (channel, municipality) (kanari_route_silence_limit_seconds{job="kanari"})'
    # The deadline gauge is per hop: the fallback takes the largest bound of each route.
    assert 'max by (channel, municipality) (kanari_route_deadline_seconds{job="kanari"})' in fallback
    assert '2 * max by (channel, municipality) (kanari_route_interval_seconds{job="kanari"})' in fallback


def test_loss_alerts_look_up_their_own_routes_incident_of_their_own_job() -> None:
    other = load_config(
        CONFIG_DIR, environ={}, overrides={"alerting": {"job": "kanari-test"}}, with_secrets=False
    )
    found = set()
    for rule in alerts(rule_groups(other)):
        annotations = rule["annotations"]
        lookups = re.findall(
            r"printf `(kanari_incident_\w+)\{([^}]*)\}` (\$labels\.\w+ \$labels\.\w+)",
            "\n".join(annotations.values()),
        )
        if rule["alert"] not in LOSS_ALERTS:
            assert lookups == [], rule["alert"]
            continue
        found.add(rule["alert"])
        assert len(lookups) == 4, rule["alert"]  # two in the description, one per annotation
        for metric, matchers, labels in lookups:
            assert metric in {
                "kanari_incident_exposure_start_timestamp_seconds",
                "kanari_incident_retained_until_timestamp_seconds",
            }
            assert matchers == 'channel=%q,municipality=%q,job="kanari-test"'
            assert labels == "$labels.channel $labels.municipality"
        assert "kanari_incident_exposure_start_timestamp_seconds" in annotations["exposure_start"]
        assert "kanari_incident_retained_until_timestamp_seconds" in annotations["ks_retained_until"]
        assert "exposure window" in annotations["description"]
    assert found == LOSS_ALERTS
