"""The Kubernetes manifests (deploy/kubernetes): every variant renders with kustomize, every object
validates against the API's schemas (the prometheus-operator's for its kinds), the pods are locked down,
and what the pods mount is what the probe reads."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from probe import __version__
from probe.config.keyfiles import mode_problem
from probe.config.loader import check_config, load_config
from tests.conftest import ROOT
from tests.deploy.conftest import VARIANTS, Manifest, only, pod_spec

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
OPERATOR_GROUP = "monitoring.coreos.com/"
# The oldest Kubernetes still commonly run, and the newest the schemas know.
VERSIONS = ["1.28", kubernetes_validate.latest_version()]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _dockerfile_user() -> tuple[int, int]:
    match = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, flags=re.MULTILINE)
    assert match is not None, "the Dockerfile runs as a fixed UID:GID"
    return int(match.group(1)), int(match.group(2))


def _containers(spec: Manifest) -> list[Manifest]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def _workloads(manifests: list[Manifest]) -> list[Manifest]:
    found = [each for each in manifests if each["kind"] in WORKLOADS]
    assert found, "a variant without a workload"
    return found


def _core(manifests: list[Manifest]) -> list[Manifest]:
    return [each for each in manifests if not each["apiVersion"].startswith(OPERATOR_GROUP)]


def test_every_variant_renders(rendered: dict[str, list[Manifest]]) -> None:
    kinds = {name: sorted(each["kind"] for each in manifests) for name, manifests in rendered.items()}
    # The configuration, the municipalities, and one ConfigMap per dashboard.
    maps = 2 + len(list((ROOT / "deploy/kubernetes/base/generated/dashboards").glob("*.json")))
    common = ["ConfigMap"] * maps + ["Deployment", "PrometheusRule", "Service", "ServiceMonitor"]
    assert kinds["sqlite"] == sorted([*common, "PersistentVolumeClaim"])
    assert kinds["postgresql"] == sorted([*common, "PodDisruptionBudget"])
    assert set(rendered) == set(VARIANTS)


@pytest.mark.parametrize("version", VERSIONS)
def test_core_objects_validate_against_the_kubernetes_schemas(
    rendered: dict[str, list[Manifest]], version: str
) -> None:
    for name, manifests in rendered.items():
        for manifest in _core(manifests):
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {manifest['kind']} {manifest['metadata']['name']}: {error}")


def test_strict_validation_refuses_an_unknown_field(rendered: dict[str, list[Manifest]]) -> None:
    # The check above would pass anything if strictness were off: a misspelt field must fail it.
    deployment = json.loads(json.dumps(only(rendered["sqlite"], "Deployment")))
    pod_spec(deployment)["containers"][0]["securityContext"]["readOnlyRootFS"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFS"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def _operator_errors(manifest: Manifest) -> list[str]:
    """What the operator's CRD schema (as the cloudcoil models generated from it) finds wrong: a failed
    validation, or a field the schema does not know (the models ignore unknown fields; the API server
    refuses them), found by dumping what was validated and comparing."""
    group, version = manifest["apiVersion"].split("/")
    assert group == "monitoring.coreos.com"
    models = importlib.import_module(f"cloudcoil.models.prometheus_operator.{version}")
    model = getattr(models, manifest["kind"]).model_validate(manifest)
    back = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return [] if back == manifest else [f"fields the schema does not know, or changed: {manifest}"]


@pytest.mark.slow  # importing the operator's generated models takes about 6 s
def test_operator_objects_validate_against_the_crd_schemas(rendered: dict[str, list[Manifest]]) -> None:
    checked = set()
    for name, manifests in rendered.items():
        for manifest in manifests:
            if manifest["apiVersion"].startswith(OPERATOR_GROUP):
                assert _operator_errors(manifest) == [], f"{name}: {manifest['kind']}"
                checked.add(manifest["kind"])
    assert checked == {"ServiceMonitor", "PrometheusRule"}
    monitor = json.loads(json.dumps(only(rendered["sqlite"], "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["scrapeInterval"] = "15s"
    assert _operator_errors(monitor) != [], "an unknown field must be found"
    monitor["spec"]["endpoints"][0] = {"port": "http", "interval": "15 seconds"}
    with pytest.raises(ValueError, match="interval"):
        _operator_errors(monitor)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_container_runs_restricted(rendered: dict[str, list[Manifest]], variant: str) -> None:
    uid, gid = _dockerfile_user()
    for workload in _workloads(rendered[variant]):
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (uid, gid, gid)
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        assert spec.get("hostNetwork", False) is False
        assert spec.get("hostPID", False) is False
        for container in _containers(spec):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert context["runAsNonRoot"] is True, container["name"]
            assert context.get("privileged", False) is False, container["name"]
            assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
            assert context.get("seccompProfile", pod["seccompProfile"]) == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_secrets_are_mounted_as_the_probe_accepts_them(
    rendered: dict[str, list[Manifest]], variant: str
) -> None:
    # The kubelet gives Secret files the pod's fsGroup; the probe must accept the mode it gives them.
    for workload in _workloads(rendered[variant]):
        spec = pod_spec(workload)
        secrets = [volume for volume in spec["volumes"] if "secret" in volume]
        assert secrets
        for volume in secrets:
            mode = volume["secret"]["defaultMode"]
            assert mode == 0o440, volume["name"]
            assert mode_problem(mode) is None
        assert not [each for each in rendered[variant] if each["kind"] == "Secret"], "never keys in the repo"


def test_the_refused_modes_are_not_used() -> None:
    # The other side of the check above: what the kubelet's default (0644) would give is refused.
    assert mode_problem(0o644) is not None
    assert mode_problem(0o444) is not None


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_probes_and_resources(rendered: dict[str, list[Manifest]], variant: str) -> None:
    for workload in _workloads(rendered[variant]):
        (container,) = pod_spec(workload)["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert ports == {"http": int(_image_env("KANARI_LISTEN").rsplit(":", 1)[1])}
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert _mebibytes(resources["limits"]["memory"]) >= _mebibytes(resources["requests"]["memory"])
        assert "cpu" not in resources["limits"], "no CPU limit: throttling delays sends"


def _mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match is not None, quantity
    return int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)


def _image_env(name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", DOCKERFILE)
    assert match is not None, name
    return match.group(1)


def _volume(spec: Manifest, mount_path: str) -> Manifest:
    (mount,) = [each for each in spec["containers"][0]["volumeMounts"] if each["mountPath"] == mount_path]
    volumes: list[Manifest] = [each for each in spec["volumes"] if each["name"] == mount["name"]]
    (volume,) = volumes
    return volume


def test_sqlite_runs_one_replica_on_a_claim(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["sqlite"]
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}, "a rolling update would run two"
    ledger = _volume(pod_spec(deployment), str(Path(_image_env("KANARI_LEDGER")).parent))
    claim = only(manifests, "PersistentVolumeClaim")
    assert ledger["persistentVolumeClaim"] == {"claimName": claim["metadata"]["name"]}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_postgresql_runs_two_replicas_apart(rendered: dict[str, list[Manifest]]) -> None:
    manifests = rendered["postgresql"]
    deployment = only(manifests, "Deployment")
    spec = pod_spec(deployment)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    budget = only(manifests, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    env = {each["name"]: each.get("value") for each in spec["containers"][0]["env"]}
    assert conninfo_to_dict(env["KANARI_LEDGER_POSTGRES__DSN"]).keys() >= {"host", "dbname", "user"}
    password = Path(env["KANARI_LEDGER_POSTGRES__PASSWORD__FILE"])
    assert _volume(spec, str(password.parent))["secret"]["secretName"] == "kanari-ledger"
    assert "persistentVolumeClaim" not in _volume(spec, str(Path(_image_env("KANARI_LEDGER")).parent))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_prometheus_scrapes_the_job_the_rules_select(
    rendered: dict[str, list[Manifest]], variant: str
) -> None:
    manifests = rendered[variant]
    deployment = only(manifests, "Deployment")
    service = only(manifests, "Service")
    monitor = only(manifests, "ServiceMonitor")
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pods.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == [port["name"]]
    # The job label comes from a Service label (not its name, which an overlay may prefix); it must be
    # the scrape job the configuration names, which every rule selects.
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    config = load_config(ROOT / "config", environ={}, with_secrets=False)
    assert job == config.settings.alerting.job
    rules = yaml.safe_dump(only(manifests, "PrometheusRule")["spec"])
    assert f'job="{job}"' in rules


def test_the_image_is_this_version(rendered: dict[str, list[Manifest]]) -> None:
    for manifests in rendered.values():
        (container,) = pod_spec(only(manifests, "Deployment"))["containers"]
        assert container["image"] == f"ghcr.io/kanari-probe/kanari:{__version__}"


def _config_maps(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {each["metadata"]["name"]: each for each in manifests if each["kind"] == "ConfigMap"}


def test_dashboards_are_config_maps_for_grafana(rendered: dict[str, list[Manifest]]) -> None:
    maps = _config_maps(rendered["sqlite"])
    dashboards = {name: each for name, each in maps.items() if name.startswith("kanari-dashboard-")}
    files = sorted((ROOT / "deploy/kubernetes/base/generated/dashboards").glob("*.json"))
    assert len(dashboards) == len(files) > 0
    for name, each in dashboards.items():
        assert each["metadata"]["labels"]["grafana_dashboard"] == "1", name
        ((key, text),) = each["data"].items()
        assert json.loads(text)["uid"], name
        assert text == (ROOT / "deploy/kubernetes/base/generated/dashboards" / key).read_text()


def _kubelet_layout(directory: Path, data: dict[str, str]) -> None:
    """Write a ConfigMap's data as the kubelet does: files in a timestamped directory, reached through
    ``..data`` and one symlink per key."""
    stamped = directory / "..2026_12_01_00_00_00.000000001"
    stamped.mkdir(parents=True)
    for key, text in data.items():
        (stamped / key).write_text(text, encoding="utf-8")
        (directory / key).symlink_to(Path("..data") / key)
    (directory / "..data").symlink_to(stamped.name)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_mounted_configuration_loads(
    rendered: dict[str, list[Manifest]], variant: str, tmp_path: Path
) -> None:
    # What the pod sees, under tmp_path: each ConfigMap at its mount path, the environment the
    # Deployment sets (paths moved under tmp_path), loaded as `kanari run --config /etc/kanari` would.
    manifests = rendered[variant]
    spec = pod_spec(only(manifests, "Deployment"))
    (container,) = spec["containers"]
    maps = _config_maps(manifests)
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source is not None:
            _kubelet_layout(tmp_path / mount["mountPath"].lstrip("/"), maps[source["name"]]["data"])
    config_dir = tmp_path / container["args"][container["args"].index("--config") + 1].lstrip("/")
    # Every variable the Deployment sets, as the probe reads it (absolute paths moved under tmp_path):
    # a name the probe does not know would be a warning, a bad value an error.
    environ = {
        each["name"]: str(tmp_path / each["value"].lstrip("/"))
        if each["value"].startswith("/")
        else each["value"]
        for each in container["env"]
    }
    result = check_config(config_dir, environ=environ, with_secrets=False)
    assert [error.render() for error in result.errors] == []
    assert result.warnings == []
    assert result.config is not None
    shipped = load_config(ROOT / "config", environ={}, with_secrets=False)
    assert result.config.routes == shipped.routes
    municipalities = result.config.path(result.config.settings.municipalities_dir)
    assert municipalities == tmp_path / "etc/kanari-municipalities"
    postgres = result.config.settings.ledger_postgres
    assert (postgres is not None) == (variant == "postgresql")


def test_the_documented_names_are_the_mounted_ones(rendered: dict[str, list[Manifest]]) -> None:
    guide = (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    names: set[str] = set()
    for manifests in rendered.values():
        spec = pod_spec(only(manifests, "Deployment"))
        names |= {volume["secret"]["secretName"] for volume in spec["volumes"] if "secret" in volume}
        containers: list[Any] = spec["containers"]
        names |= {source["secretRef"]["name"] for source in containers[0].get("envFrom", [])}
    assert names == {"kanari-keys", "kanari-env", "kanari-ledger"}
    for name in names:
        assert f"`{name}`" in guide, f"docs/kubernetes.md does not say how to create {name}"
