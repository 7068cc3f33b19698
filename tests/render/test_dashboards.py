"""The dashboards: committed files current, the datasource variable everywhere, stable uids,
$__rate_interval in rates, UTC."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from probe.config.loader import KanariConfig
from probe.render.artefacts import DASHBOARDS_DIR
from probe.render.dashboards import dashboards, render_dashboards
from probe.render.links import Dashboard
from tests.conftest import ROOT

# The uids are part of the contract: alerts' dashboard_url and links between dashboards use them.
UIDS = {"kanari-overview", "kanari-vendor", "kanari-municipality", "kanari-probe"}


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def committed() -> dict[str, str]:
    return {
        path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / DASHBOARDS_DIR).glob("*.json"))
    }


def test_committed_dashboards_are_a_fresh_render(config: KanariConfig) -> None:
    assert committed() == render_dashboards(config), "dashboards/ is stale: run `kanari render dashboards`"


def test_uids_are_stable_and_unique(config: KanariConfig) -> None:
    models = dashboards(config)
    uids = [model["uid"] for model in models.values()]
    assert len(uids) == len(set(uids))
    assert set(uids) == UIDS == {member.value for member in Dashboard}
    for name, model in models.items():
        assert name == f"{model['uid']}.json"


@pytest.mark.parametrize("name", sorted(f"{uid}.json" for uid in UIDS))
def test_every_panel_uses_the_datasource_variable(name: str) -> None:
    text = committed()[name]
    model = json.loads(text)
    assert "${DS_" not in text
    assert "__inputs" not in model
    assert model["templating"]["list"][0]["name"] == "datasource"
    assert model["templating"]["list"][0]["type"] == "datasource"
    ids = []
    for panel in panels(model):
        ids.append(panel["id"])
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    assert len(ids) == len(set(ids))
    for variable in model["templating"]["list"][1:]:
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("name", sorted(f"{uid}.json" for uid in UIDS))
def test_rates_use_rate_interval_and_time_is_utc(name: str) -> None:
    model = json.loads(committed()[name])
    assert model["timezone"] == "utc"
    assert model["schemaVersion"] == 39
    defined = {variable["name"] for variable in model["templating"]["list"]}
    for panel in panels(model):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for window in re.findall(r"\brate\([^\[]*\[([^\]]+)\]", expr):
                assert window == "$__rate_interval", (panel["title"], expr)
            for variable in re.findall(r"\$(\w+)", expr):
                assert variable.startswith("__") or variable in defined, (panel["title"], variable)


def test_alert_links_point_at_existing_dashboards(config: KanariConfig) -> None:
    from probe.render.alerts import rule_groups  # noqa: PLC0415

    for group in rule_groups(config)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                uid = rule["annotations"]["dashboard_url"].split("/d/")[1].split("?")[0]
                assert uid in UIDS, rule["alert"]


@pytest.mark.parametrize("name", sorted(f"{uid}.json" for uid in UIDS))
def test_every_query_selects_the_job_and_instance_variables(name: str, config: KanariConfig) -> None:
    model = json.loads(committed()[name])
    variables = model["templating"]["list"]
    assert [variable["name"] for variable in variables[:3]] == ["datasource", "job", "instance"]
    job, instance = variables[1], variables[2]
    assert job["current"]["value"] == config.settings.alerting.job
    assert instance["includeAll"]
    assert instance["multi"]
    assert instance["allValue"] == ".*"
    assert 'job="kanari"' not in committed()[name], "the job is a variable, never a literal"
    for panel in panels(model):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for metric, matchers in re.findall(r"(?<![\w:])(kanari_\w+|process_\w+|up)(\{[^}]*\})?", expr):
                assert 'job="$job"' in matchers, (panel["title"], metric, expr)
                assert 'instance=~"$instance"' in matchers, (panel["title"], metric, expr)
            for metric, matchers in re.findall(r"(\w+:kanari_\w+:\w+|ALERTS)(\{[^}]*\})?", expr):
                assert 'job="$job"' in matchers, (panel["title"], metric, expr)


@pytest.mark.parametrize("name", sorted(f"{uid}.json" for uid in UIDS))
def test_no_filter_empties_a_panel_on_a_healthy_system(name: str) -> None:
    # A healthy system has zeros, which "> 0" would turn into "No data" (the same as a broken query).
    model = json.loads(committed()[name])
    for panel in panels(model):
        for target in panel.get("targets", []):
            assert not re.search(r">\s*0\s*$", target["expr"]), (panel["title"], target["expr"])
            # The always-firing KanariWatchdog is not a firing alert (it has no vendor or municipality).
            for matchers in re.findall(r"ALERTS\{([^}]*)\}", target["expr"]):
                scoped = "vendor=" in matchers or "municipality=" in matchers
                assert scoped or 'alertname!="KanariWatchdog"' in matchers, (panel["title"], matchers)


def test_links_between_dashboards_keep_sub_path_time_range_and_variables(config: KanariConfig) -> None:
    urls = []
    for model in dashboards(config).values():
        (header,) = model["links"]
        assert header["keepTime"]
        assert header["includeVars"]
        for panel in panels(model):
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                for prop in override["properties"]:
                    if prop["id"] == "links":
                        urls += [link["url"] for link in prop["value"]]
    assert urls, "the route tables link to the drill-downs"
    for url in urls:
        # Relative: Grafana's <base href> carries its sub-path (https://host/grafana/).
        assert re.fullmatch(r"d/kanari-[a-z]+\?var-\w+=\$\{__value\.raw\}&.*", url), url
        for kept in ("${__url_time_range}", "${datasource:queryparam}", "${job:queryparam}",
                     "${instance:queryparam}"):  # fmt: skip
            assert kept in url, url
