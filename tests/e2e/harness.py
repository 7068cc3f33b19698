"""The probe against a real sandbox on loopback, both reading one fake clock.

Time moves only when the test says so: each :meth:`Harness.step` advances the clock, runs the engine's
ticks and waits for the HTTP work they started, so a test can assert what happens at exact instants
without sleeping, over real HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry

from probe.clock import FakeClock
from probe.config.keyfiles import generate_signing_key
from probe.config.loader import KanariConfig
from probe.hops import Channel
from probe.lifecycle.record import CanaryRecord
from probe.runtime import Runtime, build_runtime
from probe.sandbox.harness import demo_overrides, load_for_sandbox, tailor
from probe.sandbox.server import RunningSandbox, running
from probe.sandbox.settings import load_settings
from tests.conftest import ROOT
from tests.e2e.processes import merge_settings
from tests.ledger_view import all_records
from tests.reliability.proxy import FaultProxy

DEMO_CONFIG = ROOT / "config" / "sandbox"


class Harness:
    """A sandbox, a probe and a clock."""

    def __init__(
        self, sandbox: RunningSandbox, config: KanariConfig, clock: FakeClock, tmp_path: Path
    ) -> None:
        self.sandbox = sandbox
        self.config = config
        self.clock = clock
        self.tmp_path = tmp_path
        self.registry = CollectorRegistry()
        self.runtime: Runtime = build_runtime(
            config, clock, registry=self.registry, ledger_path=tmp_path / "ledger.sqlite3", seed=7
        )
        self.engine = self.runtime.engine
        self.admin = httpx.AsyncClient(base_url=sandbox.base_url)
        self.proxies: dict[str, FaultProxy] = {}

    async def step(self, seconds: float = 1.0) -> None:
        """Advance time, run both ticks, wait for the network work they started."""
        self.clock.advance(seconds)
        self.engine.send_tick()
        self.engine.poll_tick()
        await self.engine.settle()

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Step through ``seconds`` of fake time."""
        elapsed = 0.0
        while elapsed < seconds:
            await self.step(step)
            elapsed += step

    async def fault(self, name: str, municipality: str) -> str:
        """Switch a sandbox fault on; returns its id."""
        response = await self.admin.post("/admin/faults", json={"fault": name, "municipality": municipality})
        response.raise_for_status()
        return str(response.json()["id"])

    async def clear_faults(self) -> None:
        """Switch every sandbox fault off."""
        (await self.admin.delete("/admin/faults")).raise_for_status()

    def value(self, name: str, **labels: str) -> float:
        """A sample from the probe's metrics (0 when absent)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def records(self, channel: Channel | None = None, municipality: str | None = None) -> list[CanaryRecord]:
        """Ledger rows, optionally of one route."""
        return [
            record
            for record in all_records(self.runtime.ledger)
            if (channel is None or record.channel is channel)
            and (municipality is None or record.municipality == municipality)
        ]


@contextlib.asynccontextmanager
async def harness(
    tmp_path: Path,
    municipalities: str,
    *,
    interval: float | None = None,
    deadline: float | None = None,
    speed: float = 60.0,
    settings: dict[str, Any] | None = None,
    proxies: tuple[str, ...] = (),
    tls: bool = False,
) -> AsyncIterator[Harness]:
    """A running sandbox (on a free loopback port) and a probe on ``municipalities``, at fake time.

    ``settings`` are merged over kanari.yaml. ``proxies`` names upstreams (``portal``, ``altinn``,
    ``maskinporten``, ``readback:<vendor>``) whose traffic goes through a :class:`FaultProxy`, available
    as ``Harness.proxies[name]``.
    """
    clock = FakeClock()
    state_dir = tmp_path / "sandbox"
    sandbox_settings = load_settings(
        DEMO_CONFIG / "sandbox.yaml" if (DEMO_CONFIG / "sandbox.yaml").exists() else None,
        listen="127.0.0.1:0",
        speed=speed,
        state_dir=state_dir,
        tls=tls or None,
    )
    # The fake clock starts on New Year's Day, when nobody is at work: the sandbox's people open their
    # inbox around the clock here, as the probe's configuration (office_hours: null) expects. Office hours
    # have their own tests (tests/sandbox/test_people_at_work.py, the soak).
    delays = sandbox_settings.delays
    people = delays.people.model_copy(update={"office_hours": False})
    sandbox_settings = sandbox_settings.model_copy(
        update={"delays": delays.model_copy(update={"people": people})}
    )
    async with running(sandbox_settings, clock) as sandbox:
        manifest = sandbox.manifest
        marker_key = state_dir / "kanari-marker-ed25519.pem"
        generate_signing_key(marker_key)
        started = {name: FaultProxy((sandbox.host, sandbox.port)) for name in proxies}
        for proxy in started.values():
            await proxy.start()

        def via(name: str, url: str) -> str:
            proxy = started.get(name)
            return url.replace(sandbox.base_url, proxy.url) if proxy else url

        overrides = demo_overrides(manifest, str(tmp_path / "unused-ledger.sqlite3"))
        overrides["signing"] = {"key_file": str(marker_key), "key_id": "kanari-test"}
        overrides["maskinporten"]["token_url"] = via("maskinporten", manifest.maskinporten.token_url)
        overrides["channels"]["portal"]["base_url"] = via("portal", manifest.portal.base_url)
        overrides["channels"]["altinn"]["base_url"] = via("altinn", manifest.altinn.base_url)
        merge_settings(overrides, settings or {})
        base = load_for_sandbox(DEMO_CONFIG, overrides)
        config = tailor(base, manifest, municipalities=municipalities, interval=interval, deadline=deadline)
        vendors = dict(config.vendors)
        for vendor_id, vendor in vendors.items():
            if vendor.readback is not None and f"readback:{vendor_id}" in started:
                url = via(f"readback:{vendor_id}", vendor.readback.base_url)
                readback = vendor.readback.model_copy(update={"base_url": url})
                vendors[vendor_id] = vendor.model_copy(update={"readback": readback})
        probe = Harness(sandbox, dataclasses.replace(config, vendors=vendors), clock, tmp_path)
        probe.proxies = started
        probe.engine.start()
        try:
            yield probe
        finally:
            await probe.admin.aclose()
            await probe.runtime.close()
            for proxy in started.values():
                await proxy.close()
