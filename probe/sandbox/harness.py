"""The sandbox wiring that the demo, the tests and the benchmark share: a probe configuration pointed at a
running sandbox (its address, its generated keys and secrets), with the demo's routes and timing.

Like starlette's ``TestClient``, it ships with the package it serves; the probe itself never imports it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from probe.config.keys import read_keys
from probe.config.loader import KanariConfig, load_config
from probe.config.places import SETTINGS_FILE, where_in
from probe.config.routes import Route
from probe.config.types import SecretRef, secret_refs
from probe.errors import ConfigError, InvalidConfigError
from probe.sandbox.manifest import Manifest


def demo_overrides(manifest: Manifest, ledger: str) -> dict[str, Any]:
    """Settings that follow the running sandbox (its address, its generated files)."""
    overrides: dict[str, Any] = {
        "ledger": ledger,
        "maskinporten": {
            "token_url": manifest.maskinporten.token_url,
            "audience": manifest.maskinporten.audience,
            "client_id": manifest.maskinporten.client_id,
            "key_file": str(manifest.maskinporten.key_file),
            "key_id": manifest.maskinporten.key_id,
        },
        "business_certificate": {
            "certificate_chain_file": str(manifest.maskinporten.certificate_chain_file),
            "key_file": str(manifest.maskinporten.key_file),
        },
        "channels": {
            "portal": {
                "base_url": manifest.portal.base_url,
                "fiks_org_id": manifest.portal.fiks_org_id,
                "integrasjon_id": manifest.portal.integrasjon_id,
                "integrasjon_passord": {"file": str(manifest.portal.integrasjon_passord_file)},
            },
            "altinn": {
                "base_url": manifest.altinn.base_url,
                "resource_id": manifest.altinn.resource_id,
                "ordinary_resource_id": manifest.altinn.ordinary_resource_id,
            },
        },
    }
    if manifest.ca_file is not None:
        overrides["http"] = {"ca_bundle": str(manifest.ca_file)}
    return overrides


def load_for_sandbox(directory: Path, overrides: Mapping[str, Any]) -> KanariConfig:
    """A sandbox configuration for a sandbox whose state directory is not the one its vendors.yaml
    names (tests and the benchmark each run their own): loaded without secrets, then the probe-wide
    secrets resolved (``overrides`` from :func:`demo_overrides` point them at the running sandbox's
    files). Pass the result through :func:`tailor`, which takes the vendors' tokens from the manifest.
    """
    config = load_config(directory, environ={}, overrides=overrides, with_secrets=False)
    for _, secret in secret_refs(config.settings):
        secret.resolve(directory, {})
    errors: list[ConfigError] = []
    keys = read_keys(directory, config.settings, where_in(None, SETTINGS_FILE), errors, [])
    if keys is None:
        raise InvalidConfigError(errors)
    return dataclasses.replace(config, keys=keys)


def tailor(
    config: KanariConfig,
    manifest: Manifest,
    *,
    municipalities: str | None = None,
    interval: float | None = None,
    deadline: float | None = None,
) -> KanariConfig:
    """The demo's routes: the chosen municipalities, the chosen timing, vendors at the sandbox's address."""
    vendors = dict(config.vendors)
    for info in manifest.vendors:
        vendor = vendors.get(info.id)
        if vendor is None or vendor.readback is None or info.readback is None:
            continue
        auth = vendor.readback.auth
        if auth.type == "static" and info.readback.auth.token_file is not None:
            token = SecretRef(file=info.readback.auth.token_file)
            token.resolve(config.directory, {})
            auth = auth.model_copy(update={"token": token})
        readback = vendor.readback.model_copy(update={"base_url": info.readback.base_url, "auth": auth})
        vendors[info.id] = vendor.model_copy(update={"readback": readback})
    routes: tuple[Route, ...] = config.routes
    if municipalities:
        wanted = {number.strip() for number in municipalities.split(",") if number.strip()}
        unknown = sorted(wanted - {route.kommunenummer for route in routes})
        if unknown:
            raise ConfigError(
                "--municipalities", "municipalities", ",".join(unknown), "not in the demo configuration"
            )
        routes = tuple(route for route in routes if route.kommunenummer in wanted)
    if interval is not None:
        routes = tuple(dataclasses.replace(route, interval=interval) for route in routes)
    if deadline is not None:
        routes = tuple(dataclasses.replace(route, deadline=deadline) for route in routes)
    return dataclasses.replace(config, vendors=vendors, routes=routes)


def latency_warnings(config: KanariConfig, manifest: Manifest) -> list[str]:
    """Routes whose deadline is shorter than the sandbox's worst normal latency to their final hop."""
    warnings = []
    for route in config.routes:
        worst = manifest.latency.get(route.channel.value, {}).get(route.final_hop.value)
        if worst is not None and route.deadline < worst + route.poll_interval:
            warnings.append(
                f"{route.name}: deadline {route.deadline:g} s is under the sandbox's worst normal latency to "
                f"{route.final_hop.value} ({worst:g} s) plus a poll; healthy canaries may be reported lost"
            )
    return warnings[:5]
