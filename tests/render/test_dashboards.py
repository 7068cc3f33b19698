"""The dashboards: committed files current, the datasource variable everywhere, stable uids,
$__rate_interval in rates, UTC."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe.config.loader import KanariConfig
from probe.render.artefacts import DASHBOARDS_DIR
from probe.render.dashboards import dashboards, render_dashboards
from probe.render.links import Dashboard
from tests.conftest import ROOT
from tests.render.conftest import run
from tests.render.promql import DEFAULT_VARIABLES, substitute

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


def queries_of(name: str, title: str) -> list[str]:
    """The expressions of the panel ``title`` on dashboard ``name``, as written (with variables)."""
    model = json.loads(committed()[name])
    (panel,) = [panel for panel in panels(model) if panel["title"] == title and panel["type"] != "row"]
    return [target["expr"] for target in panel["targets"]]


@pytest.mark.parametrize(
    ("name", "titles"),
    [
        ("kanari-municipality.json", ["Open incidents", "Overdue canaries", "Learned deadlines by hop"]),
        ("kanari-vendor.json", ["Open incidents", "Overdue canaries", "Learned deadlines by hop"]),
        ("kanari-overview.json", ["Open incidents", "Overdue canaries"]),
    ],
)
def test_incidents_overdue_canaries_and_learned_deadlines_are_shown(name: str, titles: list[str]) -> None:
    model = json.loads(committed()[name])
    metrics = {
        "Open incidents": [
            "kanari_incidents_open",
            "kanari_incident_exposure_start_timestamp_seconds",
            "kanari_incident_retained_until_timestamp_seconds",
        ],
        "Overdue canaries": ["kanari_overdue"],
        "Learned deadlines by hop": ["kanari_route_deadline_seconds"],
    }
    for title in titles:
        tables = [p for p in panels(model) if p["title"] == title and p["type"] == "table"]
        assert len(tables) == 1, (name, title)
        text = "\n".join(target["expr"] for target in tables[0]["targets"])
        for metric in metrics[title]:
            assert metric in text, (name, title, metric)
    # The dates are shown as dates (Grafana's date units read milliseconds).
    (incidents,) = [p for p in panels(model) if p["title"] == "Open incidents" and p["type"] == "table"]
    units = {
        override["matcher"]["options"]: prop["value"]
        for override in incidents["fieldConfig"]["overrides"]
        for prop in override["properties"]
        if prop["id"] == "unit"
    }
    assert units["Exposure window start"] == units["KS keeps reports until"] == "dateTimeAsIso"


# One municipality (4601) with a portal route (final hop registered) and an Altinn route (final hop
# fetched, then read), and another vendor's route (0301, final hop receipted): the dashboards' queries
# evaluated by real PromQL (promtool) against these series.
PORTAL = 'channel="portal",municipality="4601"'
ALTINN = 'channel="altinn",municipality="4601"'
OTHER = 'channel="portal",municipality="0301"'
EXAMPLE = f'{PORTAL},vendor="example-vendor"'
INCIDENT = f'{EXAMPLE},hop="registered",owner="vendor"'
SERIES = [
    ("kanari_route_info", f'{EXAMPLE},final_hop="registered"', 1),
    ("kanari_route_info", f'{ALTINN},vendor="example-vendor",final_hop="fetched"', 1),
    ("kanari_route_info", f'{OTHER},vendor="another-vendor",final_hop="receipted"', 1),
    ("kanari_route_deadline_seconds", f'{PORTAL},hop="accepted"', 60),
    ("kanari_route_deadline_seconds", f'{PORTAL},hop="registered"', 1200),
    ("kanari_route_deadline_seconds", f'{ALTINN},hop="fetched"', 28800),
    ("kanari_route_deadline_seconds", f'{ALTINN},hop="read"', 30000),
    ("kanari_route_deadline_seconds", f'{OTHER},hop="receipted"', 700),
    ("kanari_route_deadline_seconds", f'{OTHER},hop="registered"', 9999),
    ("kanari_route_silence_limit_seconds", ALTINN, 95400),
    ("kanari_overdue", INCIDENT, 1),
    ("kanari_overdue", f'{OTHER},vendor="another-vendor",hop="receipted",owner="vendor"', 0),
    ("kanari_incidents_open", INCIDENT, 1),
    ("kanari_incidents_open", f'{ALTINN},vendor="example-vendor",hop="fetched",owner="municipality"', 0),
    ("kanari_incident_exposure_start_timestamp_seconds", EXAMPLE, 1796030107),
    ("kanari_incident_retained_until_timestamp_seconds", EXAMPLE, 1798622107),
]


def _labels(text: str) -> str:
    return "{" + text + "}"


def test_the_new_panels_queries_answer_what_they_show(promtool: str, tmp_path: Path) -> None:
    def concrete(expr: str, **variables: str) -> str:
        return substitute(expr, {**DEFAULT_VARIABLES, **variables})

    municipality, vendor = "kanari-municipality.json", "kanari-vendor.json"
    (final_deadline,) = [q for q in queries_of(municipality, "Routes") if "label_join" in q]
    [incident_keys, exposure_start, _, retained] = queries_of(municipality, "Open incidents")
    cases: list[tuple[str, list[tuple[str, float]]]] = [
        # The final hop's bound, not the largest (Altinn's read comes after its final hop fetched).
        (
            concrete(final_deadline),
            [(PORTAL, 1200), (ALTINN, 28800)],
        ),
        (
            concrete(queries_of(municipality, "Learned deadlines by hop")[0]),
            [
                (f'{PORTAL},hop="accepted"', 60),
                (f'{PORTAL},hop="registered"', 1200),
                (f'{ALTINN},hop="fetched"', 28800),
                (f'{ALTINN},hop="read"', 30000),
            ],
        ),
        # The vendor's routes only, though the deadline gauge has no vendor label.
        (
            concrete(queries_of(vendor, "Learned deadlines by hop")[0], vendor="another-vendor"),
            [(f'{OTHER},hop="receipted"', 700), (f'{OTHER},hop="registered"', 9999)],
        ),
        (
            concrete(queries_of(municipality, "Overdue canaries")[0]),
            [(INCIDENT, 1)],
        ),
        # Nothing overdue: one "none overdue" row instead of "No data".
        (
            concrete(queries_of(vendor, "Overdue canaries")[0], vendor="another-vendor"),
            [('hop="none overdue"', 0)],
        ),
        (
            concrete(incident_keys),
            [(INCIDENT, 1)],
        ),
        (
            concrete(exposure_start),
            [(EXAMPLE, 1796030107000)],
        ),
        (concrete(retained), [(EXAMPLE, 1798622107000)]),
        (concrete(queries_of("kanari-overview.json", "Incidents open")[0]), [("", 1)]),
        (concrete(queries_of("kanari-overview.json", "Canaries overdue")[0]), [("", 1)]),
    ]
    series = [
        {"series": f'{metric}{{job="kanari",instance="kanari:9464",{labels}}}', "values": f"{value}x10"}
        for metric, labels, value in SERIES
    ]
    document = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": _labels(labels), "value": value} for labels, value in samples
                        ],
                    }
                    for expr, samples in cases
                ],
            }
        ],
    }
    path = tmp_path / "panels.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = run([promtool, "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
