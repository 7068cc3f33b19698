"""A simulated week at production timing, in one process: the scenario and the world it runs in.

The real sandbox (speed 1, its realistic delays, served on loopback) and the real probe runtime share
one :class:`~probe.clock.FakeClock`. Each step advances the clock, runs the engine's send and poll ticks
and waits for the HTTP work they started, as the end-to-end harness of the tests does; the week is
compressed only in that nothing waits for a clock to tick. Timing is the example configuration's
(``config/kanari.yaml``): portal every 15 minutes with a 30-minute deadline, Altinn every hour with an
8-hour deadline, late arrivals watched for a day.

The routes: two municipalities of each of the sandbox's five vendors (20 routes, one vendor a fifth of
them). The vendor that goes down imports Altinn mail in both of its municipalities, so its outage stops
both channels; another vendor refuses every read-back DELETE for the whole run, so cleanup has to give
up on each of its registered canaries.

It measures nothing itself: :mod:`bench.simulate` runs the week and samples it, :mod:`bench.tally`
counts the requests, :mod:`bench.production` gives the figures; throughput at scale is ``python -m
bench``'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from probe.clock import FakeClock
from probe.config.keyfiles import generate_signing_key
from probe.config.loader import KanariConfig
from probe.runtime import Runtime, build_runtime
from probe.sandbox.faults import Fault, FaultName
from probe.sandbox.harness import demo_overrides, load_for_sandbox, tailor
from probe.sandbox.server import RunningSandbox, running
from probe.sandbox.settings import REPOSITORY, load_settings

HOUR = 3600.0
DAY = 24 * HOUR
DEMO_CONFIG = REPOSITORY / "config" / "sandbox"
SANDBOX_SETTINGS = DEMO_CONFIG / "sandbox.yaml"

# The example configuration's timing (config/kanari.yaml), and the probe's defaults it leaves alone
# (the demo configuration shortens blind_grace and late_window; production does not).
PRODUCTION_TIMING: dict[str, Any] = {
    "channels": {
        "portal": {"interval": "15m", "deadline": "30m", "poll_interval": "30s", "normal_latency": "10m"},
        "altinn": {"interval": "1h", "deadline": "8h", "poll_interval": "2m", "normal_latency": "4h"},
    },
    "readback": {"poll_interval": "1m", "cleanup": True},
    "blind_grace": "2m",
    "late_window": "24h",
    # Production's office hours (08:00-15:30 Oslo, working days): the sandbox's people keep them at
    # speed 1, and the deadlines of their hops count in them.
    "office_hours": {},
}


@dataclasses.dataclass(frozen=True)
class Cast:
    """Which municipalities the week runs on, by the part their vendor plays."""

    # The vendor that goes down (its municipalities import Altinn mail: both channels stop).
    down: tuple[str, ...] = ("1576", "3120")  # vidde
    # The vendor whose read-back refuses every DELETE, all week.
    refusing: tuple[str, ...] = ("1122", "1833")  # kystdata
    # Healthy vendors: fjordsys, nordlys (one of each importing Altinn mail) and papirlos (no read-back).
    others: tuple[str, ...] = ("1101", "1134", "1106", "1146", "1130", "1515")

    @property
    def municipalities(self) -> tuple[str, ...]:
        """Every municipality of the week."""
        return (*self.down, *self.refusing, *self.others)


@dataclasses.dataclass(frozen=True)
class Plan:
    """The week's timeline, in seconds from the start."""

    days: float
    outage_start: float
    outage_end: float
    # Where the steady part starts: after the warm-up and the sandbox's retention (it then forgets at
    # the rate it learns), so memory measured from there is the probe's own growth.
    steady_start: float
    # How long after the outage its aftermath (late arrivals, watches ending) is kept out of "healthy".
    recovery: float = 6 * HOUR
    step: float = 30.0
    sample_every: float = 6 * HOUR
    cast: Cast = Cast()

    @property
    def length(self) -> float:
        """The whole run."""
        return self.days * DAY

    def period(self, offset: float) -> str:
        """What part of the week ``offset`` seconds from the start is in."""
        if offset < self.steady_start:
            return "warmup"
        if self.outage_start <= offset < self.outage_end:
            return "outage"
        if self.outage_end <= offset < self.outage_end + self.recovery:
            return "recovery"
        return "healthy"

    def seconds_in(self, period: str) -> float:
        """How long the run spends in ``period``."""
        edges = (self.steady_start, self.outage_start, self.outage_end, self.outage_end + self.recovery)
        bounds = sorted({0.0, self.length, *(min(max(edge, 0.0), self.length) for edge in edges)})
        return sum(b - a for a, b in itertools.pairwise(bounds) if self.period(a) == period)


FULL = Plan(days=7, outage_start=3 * DAY, outage_end=4 * DAY, steady_start=2 * DAY)
# The smoke run: one municipality per vendor (10 routes), so that it fits in well under a minute.
SMOKE_CAST = Cast(down=("1576",), refusing=("1833",), others=("1101", "1146", "1130"))
SMOKE = Plan(days=2, outage_start=30 * HOUR, outage_end=36 * HOUR, steady_start=1 * DAY, cast=SMOKE_CAST)


@dataclasses.dataclass
class World:
    """The sandbox and the probe of one run, on one clock."""

    sandbox: RunningSandbox
    runtime: Runtime
    clock: FakeClock
    registry: CollectorRegistry
    start: float

    @property
    def offset(self) -> float:
        """Seconds since the run started."""
        return self.clock.now() - self.start

    async def step(self, seconds: float) -> None:
        """Advance time, run both ticks, wait for the network work they started."""
        self.clock.advance(seconds)
        engine = self.runtime.engine
        engine.send_tick()
        engine.poll_tick()
        await engine.settle()

    def fault(self, name: FaultName, municipalities: tuple[str, ...]) -> list[Fault]:
        """Switch ``name`` on for each of ``municipalities`` from now (the world's registry, in process)."""
        return [self.sandbox.world.faults.add(name, number) for number in municipalities]

    def clear(self, faults: list[Fault]) -> None:
        """Switch the given faults off now."""
        for fault in faults:
            self.sandbox.world.faults.clear(fault.id)


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``base`` in place, mapping by mapping."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


def week_config(sandbox: RunningSandbox, work: Path, cast: Cast) -> KanariConfig:
    """The demo configuration on the cast's municipalities, at production timing, pointed at ``sandbox``."""
    manifest = sandbox.manifest
    marker = work / "marker-ed25519.pem"
    if not marker.exists():
        generate_signing_key(marker)
    overrides = demo_overrides(manifest, str(work / "unused.sqlite3"))
    overrides["signing"] = {"key_file": str(marker), "key_id": "kanari-week"}
    merge(overrides, PRODUCTION_TIMING)
    config = load_for_sandbox(DEMO_CONFIG, overrides)
    return tailor(config, manifest, municipalities=",".join(cast.municipalities))


@contextlib.asynccontextmanager
async def world(work: Path, cast: Cast, *, seed: int = 7) -> AsyncIterator[World]:
    """A running sandbox on a free loopback port and a started probe on ``cast``, both at fake time."""
    clock = FakeClock()
    settings = load_settings(
        SANDBOX_SETTINGS if SANDBOX_SETTINGS.exists() else None,
        listen="127.0.0.1:0",
        speed=1.0,
        state_dir=work / "sandbox",
        access_log=False,
    )
    async with running(settings, clock) as sandbox:
        config = week_config(sandbox, work, cast)
        registry = CollectorRegistry()
        ledger = work / "ledger.sqlite3"
        for stale in (ledger, work / "ledger.sqlite3-wal", work / "ledger.sqlite3-shm"):
            stale.unlink(missing_ok=True)  # every run starts with an empty ledger
        runtime = build_runtime(config, clock, registry=registry, ledger_path=ledger, seed=seed)
        runtime.engine.start()
        try:
            yield World(sandbox, runtime, clock, registry, clock.now())
        finally:
            await runtime.close()
