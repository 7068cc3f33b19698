"""scripts/render_kubernetes.py: the PrometheusRule and dashboards are ``kanari render``'s output, the
committed files match a fresh render, and configurations the base cannot carry are refused by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from probe.config.loader import KanariConfig, load_config
from probe.errors import ConfigError
from probe.render.artefacts import Kind, drift, render
from scripts.render_kubernetes import (
    BASE,
    alertmanager_routes,
    artefacts,
    main,
    prometheus_rule,
    stale,
)
from tests.conftest import ROOT
from tests.render.conftest import run

CONFIG_DIR = ROOT / "config"


@pytest.fixture(scope="module")
def config() -> KanariConfig:
    return load_config(CONFIG_DIR, environ={}, with_secrets=False)


def test_the_committed_files_match_a_fresh_render(config: KanariConfig) -> None:
    fresh = artefacts(config, ROOT)
    diffs = drift(fresh)
    assert not diffs, "run `make render` and commit:\n" + "".join(diffs)
    assert stale(ROOT, fresh) == [], "run `make render`: these are no longer rendered"


def test_the_rule_holds_exactly_what_kanari_render_produces(config: KanariConfig) -> None:
    (alerts,) = render(Kind.ALERTS, config)
    committed = yaml.safe_load((ROOT / BASE / "prometheusrule.yaml").read_text(encoding="utf-8"))
    assert committed["spec"] == {"groups": yaml.safe_load(alerts.text)["groups"]}
    assert committed == yaml.safe_load(prometheus_rule(config))
    # And those are the rules committed for Prometheus outside Kubernetes (tested with promtool).
    shipped = yaml.safe_load((ROOT / "config/prometheus/alerts.yml").read_text(encoding="utf-8"))
    assert committed["spec"] == shipped


def test_the_dashboards_are_kanari_renders(config: KanariConfig) -> None:
    rendered = {each.path.name: each.text for each in render(Kind.DASHBOARDS, config)}
    directory = ROOT / BASE / "generated" / "dashboards"
    assert {path.name: path.read_text(encoding="utf-8") for path in directory.glob("*.json")} == rendered
    for text in rendered.values():
        assert json.loads(text)["uid"]


def _copy_config(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, directory, ignore=shutil.ignore_patterns("prometheus", "alertmanager"))
    return directory


def test_main_writes_checks_and_removes_what_is_no_longer_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _copy_config(tmp_path)
    root = tmp_path / "repo"
    arguments = ["--config", str(directory), "--root", str(root)]
    assert main([*arguments, "--check"]) == 1, "nothing written yet"
    assert main(arguments) == 0
    assert main([*arguments, "--check"]) == 0
    assert (root / BASE / "generated/municipalities/4601-bergen.yaml").is_file()
    # A municipality leaves the configuration: its copy is drift, then removed.
    (directory / "municipalities" / "1580-haram.yaml").unlink()
    capsys.readouterr()
    assert main([*arguments, "--check"]) == 1
    out = capsys.readouterr().out
    assert "generated/municipalities/1580-haram.yaml: no longer rendered" in out
    assert "-      - municipalities/1580-haram.yaml" in out
    assert main(arguments) == 0
    assert not (root / BASE / "generated/municipalities/1580-haram.yaml").exists()
    assert main([*arguments, "--check"]) == 0


def test_main_refuses_an_unusable_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing"), "--root", str(tmp_path)]) == 2
    assert "render_kubernetes:" in capsys.readouterr().err


def test_a_file_name_that_cannot_be_a_config_map_key_is_named(tmp_path: Path) -> None:
    directory = _copy_config(tmp_path)
    (directory / "municipalities" / "4601-bergen.yaml").rename(
        directory / "municipalities" / "4601-bergen kopi.yaml"
    )
    config = load_config(directory, environ={}, with_secrets=False)
    with pytest.raises(ConfigError) as caught:
        artefacts(config, tmp_path)
    assert caught.value.file == "municipalities/4601-bergen kopi.yaml"
    assert caught.value.value == "4601-bergen kopi.yaml"


def test_a_vendors_file_elsewhere_is_refused(tmp_path: Path) -> None:
    directory = _copy_config(tmp_path)
    (directory / "shared").mkdir()
    shutil.move(directory / "vendors.yaml", directory / "shared" / "vendors.yaml")
    _append(directory, "vendors_file: shared/vendors.yaml\n")
    config = load_config(directory, environ={}, with_secrets=False)
    with pytest.raises(ConfigError, match="vendors_file") as caught:
        artefacts(config, tmp_path)
    assert (caught.value.file, caught.value.value) == ("kanari.yaml", "shared/vendors.yaml")


def test_a_registry_of_ones_own_is_refused(tmp_path: Path) -> None:
    directory = _copy_config(tmp_path)
    shutil.copy(ROOT / "probe/config/data/kommuner-2024.csv", directory / "kommuner.csv")
    _append(directory, "registry: kommuner.csv\n")
    config = load_config(directory, environ={}, with_secrets=False)
    with pytest.raises(ConfigError, match="registry") as caught:
        artefacts(config, tmp_path)
    assert (caught.value.file, caught.value.value) == ("kanari.yaml", "kommuner.csv")


def _append(directory: Path, line: str) -> None:
    settings = directory / "kanari.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + line, encoding="utf-8")


# A shared Alertmanager as kube-prometheus-stack configures it: its own Watchdog, a default receiver,
# an inhibition of its own.
FOREIGN = {
    "route": {
        "receiver": "team-default",
        "group_by": ["namespace"],
        "routes": [{"receiver": "null", "matchers": ['alertname="Watchdog"']}],
    },
    "receivers": [{"name": "team-default"}, {"name": "null"}],
    "inhibit_rules": [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"warning|info"'],
            "equal": ["namespace", "alertname"],
        }
    ],
}


def _merged(snippet: dict[str, Any]) -> dict[str, Any]:
    """The foreign configuration with Kanari's snippet merged as its header says."""
    merged: dict[str, Any] = json.loads(json.dumps(FOREIGN))
    merged["global"] = snippet["global"]
    merged["route"]["routes"] = snippet["route"]["routes"] + merged["route"]["routes"]
    merged["receivers"] += snippet["receivers"]
    merged["inhibit_rules"] += snippet["inhibit_rules"]
    return merged


def _routes_test(amtool: str, config: Path, *labels: str) -> set[str]:
    result = run([amtool, "config", "routes", "test", f"--config.file={config}", *labels])
    assert result.returncode == 0, result.stdout + result.stderr
    return set(result.stdout.strip().split(","))


def test_the_routes_merge_into_a_shared_alertmanager(
    config: KanariConfig, amtool: str, tmp_path: Path
) -> None:
    snippet = yaml.safe_load(alertmanager_routes(config))
    assert all(receiver["name"].startswith("kanari-") for receiver in snippet["receivers"])
    for route in snippet["route"]["routes"]:
        assert 'alertname=~"Kanari.+"' in route["matchers"], "a route that could catch other alerts"
        assert not route.get("continue", False)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(_merged(snippet)), encoding="utf-8")
    result = run([amtool, "check-config", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
    job = config.settings.alerting.job
    ours = {receiver["name"] for receiver in snippet["receivers"]}
    # Other teams' alerts reach their receivers, untouched by Kanari's routes.
    assert _routes_test(amtool, path, "alertname=KubePodCrashLooping", "namespace=x") == {"team-default"}
    assert _routes_test(amtool, path, "alertname=Watchdog") == {"null"}
    # Kanari's reach Kanari's receivers, and only those.
    paging = _routes_test(
        amtool,
        path,
        "alertname=KanariRouteLosingCanaries",
        f"job={job}",
        "severity=critical",
        "owner=vendor",
        "vendor=example-vendor",
        "channel=portal",
        "municipality=4601",
    )
    assert paging <= ours
    assert "kanari-operations-centre" in paging
    assert any("example-vendor" in name for name in paging)
    assert _routes_test(amtool, path, "alertname=KanariWatchdog", f"job={job}") == {"kanari-heartbeat"}
