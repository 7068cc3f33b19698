"""deploy/compose.yml is hardened: read-only root filesystems, no capabilities, no-new-privileges, and no
default Grafana admin password.

``docker compose config`` is not available here (Docker without the compose plugin; Debian's
docker-compose 1.29 predates the top-level ``name``), so the settings are read from the YAML."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "deploy" / "compose.yml"
SERVICES = ["kanari", "prometheus", "alertmanager", "grafana"]
# Compose's required-variable form: `${NAME:?message}` stops `docker compose` with the message when
# NAME is unset or empty.
REQUIRED = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*):\?(?P<message>.+)\}$")


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_is_locked_down(name: str) -> None:
    service = _compose()["services"][name]
    assert service["read_only"] is True
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert service["cap_drop"] == ["ALL"]
    assert "cap_add" not in service
    assert service.get("privileged", False) is False
    assert service.get("network_mode") != "host"
    for tmpfs in service.get("tmpfs", []):
        assert tmpfs.split(":")[0] == "/tmp", tmpfs


@pytest.mark.parametrize("name", ["kanari", "grafana"])
def test_services_that_write_temporary_files_have_a_tmpfs(name: str) -> None:
    assert [each.split(":")[0] for each in _compose()["services"][name]["tmpfs"]] == ["/tmp"]


def test_every_writable_path_is_a_volume() -> None:
    # With read-only root filesystems, each service's state must be on a named volume.
    compose = _compose()
    for name in SERVICES:
        writable = [
            volume
            for volume in compose["services"][name]["volumes"]
            if not volume.endswith(":ro") and volume.split(":")[0] in compose["volumes"]
        ]
        assert len(writable) == 1, name


def test_grafana_has_no_default_admin_password() -> None:
    compose = _compose()
    grafana = compose["services"]["grafana"]
    environment = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment, "a password in the file is a default"
    (secret,) = grafana["secrets"]
    assert environment["GF_SECURITY_ADMIN_PASSWORD__FILE"] == f"/run/secrets/{secret}"
    required = REQUIRED.fullmatch(compose["secrets"][secret]["file"])
    assert required is not None, "the secret's file must be required, not defaulted"
    assert required.group("name") in required.group("message"), "the error names what to set"
    assert required.group("name") in COMPOSE.read_text(encoding="utf-8").split("name: kanari")[0]


def test_the_probe_runs_as_the_image_user() -> None:
    # The key files are shared with the image's group (0440): the service must not override the user.
    assert "user" not in _compose()["services"]["kanari"]
    assert re.search(r"^USER 10001:10001$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
