"""The engine's ticks at scale, in process on a fake clock: what a tick costs with many canaries open.

**Idle tick** (``tick_ms_<N>_open_idle``): the wall time of :meth:`probe.engine.core.Engine.poll_tick`
with N canaries open and nothing due, median, p99 and max over a few hundred ticks one fake second
apart. The engine is the real one (real :class:`~probe.ledger.sqlite.Ledger` in a temporary directory,
real metrics on a fresh registry); the N canaries are in flight on N / 7.5 routes (20 000 at
150 000), accepted a minute before, their deadline and first status check minutes away, loaded as a
restart loads them. The first tick, which takes every loaded canary up, is not counted; the garbage of
that setup is collected before the measured ticks, and the collector stays on while they run. The
adapters count their calls: a measured tick that starts any network work fails the run, so "nothing
due" is checked, not assumed. It does not measure a tick with work due (that cost follows what is due,
not N), nor the scheduler that calls the tick.

**Read-back matching** (``readback_match_ms_<N>_open``): the wall time to apply one read-back answer,
the :class:`~probe.engine.results.RegistrationsSeen` of one (vendor, municipality) call holding 20
registrations of which 5 are open canaries waiting for ``registered`` (their markers genuine and
verified) and 15 canaries the open set no longer has, with N open, median over 20 such answers each
for another municipality. It runs the engine's :class:`~probe.engine.applying.Applier` over the
engine's own open set, as ``poll_tick`` does; ``readback_tick_ms_<N>_open`` is the ``poll_tick`` that
follows (judging the 5 delivered and committing them with ``synchronous=FULL``). It does not
include the HTTP call to the vendor, which runs as a task outside the tick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import math
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from probe.canary.content import CanarySubject
from probe.canary.marker import MarkerSigner, MarkerVerifier
from probe.channels.base import Observation, Sent
from probe.checks.readback import Registration
from probe.clock import FakeClock
from probe.config.routes import Route
from probe.engine.applying import Applier
from probe.engine.core import Engine, PollSettings
from probe.engine.factory import CanaryFactory
from probe.engine.results import RegistrationsSeen
from probe.hops import Channel, Hop, Verdict
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from probe.metrics.metric_set import Metrics, geometric_buckets

START = FakeClock().now()
KEY_ID = "kanari-scale"
MAX_ROUTES = 20_000
OPEN_PER_ROUTE = 7.5  # 150 000 open on 20 000 routes
GROUPS, WAITING, FOREIGN = 20, 5, 15
FAKE_MARKER = "KANARI1." + "e" * 158 + "." + "s" * 86


class BenchError(Exception):
    """A measurement did not hold what it claims (work was due in an idle tick)."""


@dataclasses.dataclass(frozen=True)
class TickFigures:
    """Idle ``poll_tick`` wall times in milliseconds."""

    median: float
    p99: float
    max: float
    samples: int


@dataclasses.dataclass(frozen=True)
class ReadbackFigures:
    """Applying one read-back answer (``match``) and the tick after it, milliseconds (medians)."""

    match: float
    match_max: float
    tick: float
    answers: int


@dataclasses.dataclass
class CountingAdapter:
    """A channel adapter that is never meant to be called: it counts calls and answers nothing useful."""

    channel: Channel
    can_find: bool = False
    calls: int = 0

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        self.calls += 1
        raise RuntimeError("an idle tick sent a canary")

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        self.calls += 1
        raise RuntimeError("an idle tick checked a status")

    async def find(self, route: Route, canary_id: str) -> str | None:
        self.calls += 1
        raise RuntimeError("an idle tick looked a canary up")


def routes(count: int) -> tuple[Route, ...]:
    """``count`` routes (at most 20 000): portal and Altinn alternately on municipalities ``0000``,
    ``0001``, ..., 20 routes per vendor, every 15 minutes, deadline 30 minutes, first look at 10."""
    return tuple(
        Route(
            channel=(Channel.PORTAL, Channel.ALTINN)[index % 2],
            kommunenummer=f"{index // 2:04d}",
            municipality_name=f"Syntetisk {index // 2:04d}",
            county="Syntetisk fylke",
            orgnr="999999999",
            vendor=f"vendor{index // 20:03d}",
            bydel=None,
            interval=900.0,
            deadline=1800.0,
            poll_interval=30.0,
            final_hop=(Hop.REGISTERED, Hop.FETCHED)[index % 2],
            normal_latency=600.0,
        )
        for index in range(min(count, MAX_ROUTES))
    )


def _open(route: Route, created: float, signer: MarkerSigner | None = None) -> CanaryRecord:
    """An open canary on ``route`` in flight since ``created``; with a ``signer``, its marker is genuine
    and it reached the hop before ``registered``: it waits for read-back."""
    canary_id = str(uuid.uuid4())
    marker = FAKE_MARKER
    if signer is not None:
        marker = signer.sign(canary_id, route.channel, route.kommunenummer, int(created))
    record = CanaryRecord.for_route(route, canary_id, marker, created)
    record.state, record.upstream_id = State.IN_FLIGHT, str(uuid.uuid4())
    record.hops = {Hop.ACCEPTED: created + 1.0}
    if signer is not None:
        record.hops |= {Hop.FORWARDED: created + 20.0, Hop.RECEIPTED: created + 50.0}
    return record


class Scene:
    """An engine with N canaries open; :meth:`close` releases the ledger."""

    def __init__(self, open_count: int, directory: Path) -> None:
        self.clock = FakeClock(START)
        key = Ed25519PrivateKey.generate()
        signer = MarkerSigner(key, KEY_ID)
        self.verifier = MarkerVerifier({KEY_ID: key.public_key()}, max_age_seconds=7 * 86400)
        self.routes = routes(max(2 * GROUPS, math.ceil(open_count / OPEN_PER_ROUTE)))
        self.adapters = {channel: CountingAdapter(channel) for channel in Channel}
        self.ledger = Ledger(directory / "ledger.sqlite3")
        self.metrics = Metrics(CollectorRegistry(), geometric_buckets(15.0, 3600.0))
        self.engine = Engine(
            routes=self.routes,
            clock=self.clock,
            ledger=self.ledger,
            metrics=self.metrics,
            adapters=self.adapters,
            readback={},
            factory=CanaryFactory(signer),
            verifier=self.verifier,
            poll_settings=PollSettings(
                readback_interval=60.0, blind_grace=120.0, late_window=86400.0, cleanup=True
            ),
        )
        created = START - 60.0
        portal = [route for route in self.routes if route.channel is Channel.PORTAL]
        # The read-back groups: WAITING canaries on each of the first GROUPS portal routes.
        self.groups = [[_open(route, created, signer) for _ in range(WAITING)] for route in portal[:GROUPS]]
        records = [record for group in self.groups for record in group]
        for index in range(max(0, open_count - len(records))):
            records.append(_open(self.routes[index % len(self.routes)], created))
        self.open = len(records)
        self.engine.canaries.load(records)
        self.engine.start(schedule=False)
        self.engine.poll_tick()  # takes every loaded canary up: not an idle tick
        gc.collect()

    async def _calls_checked(self) -> None:
        await asyncio.sleep(0)  # any network work a tick started runs (and is counted) now
        calls = sum(adapter.calls for adapter in self.adapters.values())
        if calls:
            raise BenchError(f"{calls} adapter calls during ticks that were to have nothing due")

    async def idle_ticks(self, count: int) -> TickFigures:
        """``count`` ticks one fake second apart with nothing due."""
        times = []
        for _ in range(count):
            self.clock.advance(1.0)
            began = time.perf_counter()
            self.engine.poll_tick()
            times.append((time.perf_counter() - began) * 1000.0)
        await self._calls_checked()
        ordered = sorted(times)
        return TickFigures(
            statistics.median(ordered),
            ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            ordered[-1],
            count,
        )

    async def readback(self) -> ReadbackFigures:
        """One read-back answer per group, each applied and then ticked."""
        applier = Applier(self.engine.canaries, self.metrics, self.verifier, self.adapters)
        matches, ticks = [], []
        for group in self.groups:
            self.clock.advance(1.0)
            now = self.clock.now()
            first = group[0]
            foreign = [Registration(str(uuid.uuid4()), FAKE_MARKER, now - 600.0) for _ in range(FOREIGN)]
            seen = RegistrationsSeen(
                first.vendor,
                first.municipality,
                tuple(group),
                (*(Registration(record.id, record.marker, now - 2.0) for record in group), *foreign),
                now - 1.0,
            )
            began = time.perf_counter()
            applier.apply([seen], now)
            matches.append((time.perf_counter() - began) * 1000.0)
            began = time.perf_counter()
            self.engine.poll_tick()
            ticks.append((time.perf_counter() - began) * 1000.0)
            if any(record.verdict is not Verdict.DELIVERED for record in group):
                raise BenchError("a read-back answer did not deliver its canaries")
        await self._calls_checked()
        return ReadbackFigures(
            statistics.median(matches), max(matches), statistics.median(ticks), len(matches)
        )

    def close(self) -> None:
        """Release the ledger."""
        self.ledger.close()


async def measure(open_count: int, ticks: int) -> tuple[TickFigures, ReadbackFigures]:
    """Idle ticks and read-back matching with ``open_count`` canaries open (in the running loop)."""
    with tempfile.TemporaryDirectory(prefix="kanari-ticks-") as directory:
        scene = Scene(open_count, Path(directory))
        try:
            await scene._calls_checked()
            return await scene.idle_ticks(ticks), await scene.readback()
        finally:
            scene.close()
