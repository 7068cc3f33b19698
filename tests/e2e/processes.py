"""The sandbox and the probe as separate processes on loopback, as an operator runs them.

:func:`sandbox_process` starts ``kanari sandbox`` on a free port; :func:`write_probe_config` writes a
configuration directory (from the committed demo configuration) that points at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from probe.config.keyfiles import generate_signing_key
from probe.sandbox.manifest import Manifest, load_manifest
from tests.conftest import ROOT

DEMO_CONFIG = ROOT / "config" / "sandbox"
KANARI = [sys.executable, "-m", "probe"]


def environment(**extra: str) -> dict[str, str]:
    """The test process's environment without Kanari overrides, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KANARI_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def untraced_environment(**extra: str) -> dict[str, str]:
    """:func:`environment` without coverage (when ``make test`` runs it): for a child whose test is about
    keeping up with a load, which tracing slows severalfold, while other tests cover its lines."""
    return {key: value for key, value in environment(**extra).items() if not key.startswith("COVERAGE_")}


@contextlib.contextmanager
def sandbox_process(state_dir: Path, speed: float = 600.0, *extra: str) -> Iterator[Manifest]:
    """``kanari sandbox`` on a free loopback port until the block ends; yields its manifest."""
    manifest_file = state_dir / "sandbox.json"
    log = (state_dir.parent / f"{state_dir.name}.log").open("w")
    process = subprocess.Popen(
        [*KANARI, "sandbox", "--listen", "127.0.0.1:0", "--speed", str(speed), "--state-dir", str(state_dir),
         "--config", str(DEMO_CONFIG / "sandbox.yaml"), *extra],
        cwd=ROOT, env=environment(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not manifest_file.exists() or not _healthy(manifest_file):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"sandbox did not start: {(state_dir.parent / f'{state_dir.name}.log').read_text()}"
                )
            time.sleep(0.05)
        yield load_manifest(manifest_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _healthy(manifest_file: Path) -> bool:
    try:
        base_url = json.loads(manifest_file.read_text())["base_url"]
        return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
    except (ValueError, KeyError, httpx.HTTPError):
        return False


def write_probe_config(
    directory: Path,
    manifest: Manifest,
    municipalities: Iterable[str],
    *,
    settings: dict[str, Any] | None = None,
    listen: str = "127.0.0.1:0",
) -> Path:
    """A configuration directory for the probe against the sandbox of ``manifest``, onboarding
    ``municipalities`` with their committed demo files; ``settings`` are merged into kanari.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "municipalities").mkdir(exist_ok=True)
    marker_key = directory / "marker-ed25519.pem"
    if not marker_key.exists():
        generate_signing_key(marker_key)
    data = yaml.safe_load((DEMO_CONFIG / "kanari.yaml").read_text(encoding="utf-8"))
    data["listen"] = listen
    data["ledger"] = str(directory / "kanari.sqlite3")
    data["signing"] = {"key_file": str(marker_key), "key_id": "kanari-test"}
    data["maskinporten"].update(
        token_url=manifest.maskinporten.token_url,
        audience=manifest.maskinporten.audience,
        key_file=str(manifest.maskinporten.key_file),
    )
    data["business_certificate"] = {
        "certificate_chain_file": str(manifest.maskinporten.certificate_chain_file),
        "key_file": str(manifest.maskinporten.key_file),
    }
    portal = data["channels"]["portal"]
    portal.update(base_url=manifest.portal.base_url,
                  integrasjon_passord={"file": str(manifest.portal.integrasjon_passord_file)})  # fmt: skip
    data["channels"]["altinn"]["base_url"] = manifest.altinn.base_url
    if manifest.ca_file is not None:
        data["http"] = {"ca_bundle": str(manifest.ca_file)}
    merge_settings(data, settings or {})
    (directory / "kanari.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    vendors = yaml.safe_load((DEMO_CONFIG / "vendors.yaml").read_text(encoding="utf-8"))
    by_id = {vendor.id: vendor for vendor in manifest.vendors}
    for vendor in vendors["vendors"]:
        info = by_id[vendor["id"]].readback
        if info is not None:
            vendor["readback"]["base_url"] = info.base_url
            if info.auth.token_file is not None:
                vendor["readback"]["auth"]["token"] = {"file": str(info.auth.token_file)}
    (directory / "vendors.yaml").write_text(yaml.safe_dump(vendors, sort_keys=False), encoding="utf-8")
    for number in municipalities:
        [source] = (DEMO_CONFIG / "municipalities").glob(f"{number}-*.yaml")
        (directory / "municipalities" / source.name).write_text(
            source.read_text(encoding="utf-8"), encoding="utf-8"
        )
    return directory


def merge_settings(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Merge ``extra`` into ``base`` in place, mapping by mapping."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_settings(base[key], value)
        else:
            base[key] = value


def fast_timing(
    interval: str, portal_deadline: str, altinn_deadline: str, blind_grace: str
) -> dict[str, Any]:
    """kanari.yaml settings for a probe against a sandbox at speed 600, where the slowest healthy portal
    delivery takes a quarter of a second and an Altinn fetch about three: every route sends every
    ``interval`` and is polled every second."""
    return {
        "channels": {
            "portal": {"interval": interval, "deadline": portal_deadline, "poll_interval": "1s",
                       "normal_latency": "1s"},
            "altinn": {"interval": interval, "deadline": altinn_deadline, "poll_interval": "1s",
                       "normal_latency": "4s"},
        },
        "readback": {"poll_interval": "1s"},
        "blind_grace": blind_grace,
    }  # fmt: skip


def kanari(*arguments: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a ``kanari`` command to completion."""
    return subprocess.run(
        [*KANARI, *arguments],
        cwd=ROOT,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
