"""Fixtures of the deployment tests: kustomize and the rendered manifests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.render.conftest import tool

KUBERNETES = ROOT / "deploy" / "kubernetes"
# What `kubectl kustomize` renders: the default (SQLite) and every overlay.
VARIANTS = {
    "sqlite": KUBERNETES,
    "postgresql": KUBERNETES / "overlays" / "postgresql",
}

Manifest = dict[str, Any]


def kustomize_command() -> list[str]:
    """A standalone ``kustomize`` if there is one, else ``kubectl kustomize`` (kubectl embeds kustomize).

    No skip: rendering the manifests is the requirement. The python machine image ships kubectl (Debian
    package ``kubectl``, from the Google Cloud CLI); Debian's own ``kubernetes-client`` (kubectl 1.20,
    kustomize 2.0.3) is too old for ``labels``."""
    if path := shutil.which("kustomize"):
        return [path, "build"]
    if path := shutil.which("kubectl"):
        return [path, "kustomize"]
    pytest.fail("neither kustomize nor kubectl is on PATH: install kubectl (kustomize v5 or newer)")


def build(directory: Path) -> list[Manifest]:
    """The objects ``kustomize build directory`` renders (fails the test with kustomize's error)."""
    result = subprocess.run(
        [*kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Every variant's rendered objects, by variant name."""
    return {name: build(directory) for name, directory in VARIANTS.items()}


def only(manifests: list[Manifest], kind: str) -> Manifest:
    """The one object of ``kind``."""
    (found,) = [each for each in manifests if each["kind"] == kind]
    return found


def pod_spec(manifest: Manifest) -> Manifest:
    """The pod template's spec of a workload."""
    spec: Manifest = manifest["spec"]["template"]["spec"]
    return spec


@pytest.fixture
def amtool() -> str:
    """Alertmanager's amtool (Debian package prometheus-alertmanager, installed by CI)."""
    return tool("amtool", "prometheus-alertmanager")
