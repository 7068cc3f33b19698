"""The probe under the soak: the example configuration's routes and timing on the sandbox's world, and
the real engine built on in-process upstreams (as :func:`probe.runtime.build_runtime` builds it on HTTP).

Two configurations run side by side (each in its own process): ``learned``, the configuration as shipped
(each route learns its deadlines; people's hops count in office time), and ``fixed``, today's behaviour:
the same routes with learning off and every deadline on the wall clock (portal 30 minutes, Altinn 8 hours).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from bench.week import DEMO_CONFIG, PRODUCTION_TIMING, merge
from probe.canary.content import CanarySubject
from probe.canary.identity import synthetic_fnr
from probe.canary.marker import MarkerSigner, MarkerVerifier
from probe.channels.base import ChannelAdapter
from probe.checks.readback import ReadbackClient
from probe.clock import FakeClock
from probe.config.keyfiles import generate_signing_key
from probe.config.loader import KanariConfig
from probe.config.routes import Route
from probe.engine.core import Engine, PollSettings
from probe.engine.factory import CanaryFactory
from probe.hops import Channel
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord
from probe.metrics.metric_set import Metrics, geometric_buckets
from probe.sandbox.harness import demo_overrides, load_for_sandbox, tailor
from probe.sandbox.manifest import build_manifest
from probe.sandbox.settings import SandboxSettings
from probe.sandbox.world import World as SandboxWorld

CONFIGURATIONS = ("learned", "fixed")
EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "kanari.yaml"


def sandbox_world(work: Path, clock: FakeClock, seed: int) -> SandboxWorld:
    """The sandbox's world (its municipalities, vendors, keys, delays and people), never served: the soak
    takes its assignments and its behaviour, and the configuration its manifest gives."""
    settings = SandboxSettings(listen="127.0.0.1:0", state_dir=work / "sandbox", seed=seed)
    return SandboxWorld.build(settings, "http://127.0.0.1:1", clock)


def soak_config(work: Path, world: SandboxWorld, municipalities: tuple[str, ...]) -> KanariConfig:
    """The demo configuration on ``municipalities`` at the example configuration's timing."""
    manifest = build_manifest(world)
    marker = work / "marker-ed25519.pem"
    if not marker.exists():
        generate_signing_key(marker)
    overrides: dict[str, Any] = demo_overrides(manifest, str(work / "unused.sqlite3"))
    overrides["signing"] = {"key_file": str(marker), "key_id": "kanari-soak"}
    merge(overrides, PRODUCTION_TIMING)
    merge(overrides, shipped_learning())
    config = load_for_sandbox(DEMO_CONFIG, overrides)
    return tailor(config, manifest, municipalities=",".join(municipalities))


def shipped_learning() -> dict[str, Any]:
    """The example configuration's ``channels.<ch>.learning``, so ``learned`` learns as shipped."""
    document = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    channels = document.get("channels", {})
    return {
        "channels": {
            name: {"learning": channel["learning"]}
            for name, channel in channels.items()
            if isinstance(channel, dict) and "learning" in channel
        }
    }


def routes_for(config: KanariConfig, configuration: str) -> tuple[Route, ...]:
    """The routes of ``configuration``: as configured (``learned``), or with fixed wall-clock deadlines."""
    if configuration == "learned":
        return config.routes
    if configuration == "fixed":
        return tuple(dataclasses.replace(r, learning=None, office_hours=None) for r in config.routes)
    raise ValueError(f"unknown configuration {configuration!r}; known: {', '.join(CONFIGURATIONS)}")


class CheapFactory(CanaryFactory):
    """The real factory (a fresh id, the signed marker the engine verifies, the ledger record) with one
    fixed synthetic child: the soak's upstreams never build the report, whose content (PDF, ASiC-E, CMS:
    about 3 ms a canary) ``make bench`` measures, and drawing a fødselsnummer per canary would cost more
    than the rest of the canary's simulated life."""

    def __init__(self, signer: MarkerSigner, rng: random.Random) -> None:
        super().__init__(signer, rng)
        self._child = synthetic_fnr(rng, dt.date(2016, 5, 17))

    def subject(self, record: CanaryRecord, route: Route) -> CanarySubject:
        """The report subject of ``record``, always about the same fictional child."""
        return CanarySubject(
            canary_id=record.id,
            channel=record.channel,
            kommunenummer=route.kommunenummer,
            kommunenavn=route.municipality_name,
            bydelsnummer=route.bydel or "00",
            bydelsnavn=route.municipality_name,
            marker=record.marker,
            created_at=record.created_at,
            child_fnr=self._child,
        )


def build_engine(
    config: KanariConfig,
    routes: tuple[Route, ...],
    clock: FakeClock,
    *,
    adapters: Mapping[Channel, ChannelAdapter],
    readback: Mapping[str, ReadbackClient],
    ledger_path: Path,
    registry: CollectorRegistry,
    seed: int,
) -> Engine:
    """The real engine on ``routes`` with the given upstreams, a fresh SQLite ledger and metrics."""
    keys = config.keys
    if keys is None:
        raise ValueError("the soak's configuration was loaded without its keys")
    settings = config.settings
    for stale in (
        ledger_path,
        ledger_path.with_name(ledger_path.name + "-wal"),
        ledger_path.with_name(ledger_path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    metrics = Metrics(
        registry,
        geometric_buckets(min(r.poll_interval for r in routes), max(r.deadline for r in routes)),
    )
    return Engine(
        routes=routes,
        clock=clock,
        ledger=Ledger(ledger_path),
        metrics=metrics,
        adapters=adapters,
        readback=readback,
        factory=CheapFactory(MarkerSigner(keys.marker_key, keys.marker_key_id), random.Random(seed)),
        verifier=MarkerVerifier(keys.marker_public_keys, settings.signing.max_age),
        poll_settings=PollSettings.of(settings),
        seed=seed,
    )
