"""One soak run: a configuration (``learned`` or ``fixed``) over the simulated span, in one process.

The fake clock advances by the shortest poll interval (30 s); at each step the engine's send and poll
ticks run and the work they started (in-process, so it finishes at once) is awaited, exactly as the
end-to-end harness and ``bench.week`` drive it. A step with nothing due costs the engine's own due-queue
lookups. Alongside, the run keeps what the alert rules read: each route's silence condition sampled every
:data:`ALERT_STEP` (``time() - kanari_last_delivered_timestamp_seconds > silence limit``), and the
``kanari_overdue`` gauge's spans as the engine sets it; and the world's healthy latencies per hop (canaries
sent with no fault near them), which the floors are computed from.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.procstat import rss_bytes
from bench.simulate import read_canaries
from probe.canary.content import CanarySubject
from probe.channels.base import ChannelAdapter
from probe.checks.readback import ReadbackClient
from probe.clock import FakeClock
from probe.config.routes import Route
from probe.hops import HUMAN_HOPS, Channel, Hop
from probe.metrics.metric_set import Metrics
from probe.sandbox.world import World as SandboxWorld
from soak import setup
from soak.plan import DAY, FaultPlan
from soak.upstreams import SimAltinn, SimPortal, SimReadback, World

# How often the silence condition is evaluated (Prometheus evaluates every minute; the alert's ``for``
# is half an hour or more, so five minutes loses nothing that could fire).
ALERT_STEP = 300.0
# A canary is healthy for the floors when no fault is on its municipality from this long before it was
# sent to this long after.
CLEAR_BEFORE, CLEAR_AFTER = 1 * DAY, 7 * DAY
STATUS_ORDER = {
    Channel.PORTAL: {"SENDT_FAGSYSTEM": Hop.FORWARDED, "LEVERT": Hop.RECEIPTED},
    Channel.ALTINN: {"Published": Hop.PUBLISHED, "Fetched": Hop.FETCHED, "Read": Hop.READ},
}


@dataclasses.dataclass
class Spans:
    """Per key, the spans during which a condition held: closed ones and the open one's start."""

    closed: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    open: dict[str, float] = dataclasses.field(default_factory=dict)

    def set(self, key: str, holds: bool, now: float) -> None:
        """The condition of ``key`` holds (or not) at ``now``."""
        if holds and key not in self.open:
            self.open[key] = now
        elif not holds and key in self.open:
            self.closed.setdefault(key, []).append((self.open.pop(key), now))

    def close(self, now: float) -> dict[str, list[tuple[float, float]]]:
        """Every span, the open ones ended at ``now``."""
        for key in list(self.open):
            self.set(key, False, now)
        return self.closed


class Recorder:
    """What the alert rules would read, taken from the metric set as the engine updates it."""

    def __init__(self, metrics: Metrics) -> None:
        self.silence_limit: dict[tuple[Channel, str], float] = {}
        self.last_delivered: dict[tuple[Channel, str], float] = {}
        self.overdue = Spans()
        self.silent = Spans()
        limit, overdue, delivered = metrics.set_silence_limit, metrics.set_overdue, metrics.set_last_delivery

        def set_silence_limit(key: tuple[Channel, str], seconds: float) -> None:
            self.silence_limit[key] = seconds
            limit(key, seconds)

        def set_overdue(key: tuple[Channel, str], hop: Hop, count: int) -> None:
            self.overdue.set(f"{key[0].value}/{key[1]}/{hop.value}", count > 0, self.now)
            overdue(key, hop, count)

        def set_last_delivery(record: Any, at: float) -> None:
            delivered(record, at)
            key = record.route_key
            self.last_delivered[key] = max(self.last_delivered.get(key, 0.0), at)

        metrics.set_silence_limit = set_silence_limit  # type: ignore[method-assign]
        metrics.set_overdue = set_overdue  # type: ignore[method-assign]
        metrics.set_last_delivery = set_last_delivery  # type: ignore[method-assign,assignment]
        self.now = 0.0

    def sample(self, routes: tuple[Route, ...], now: float) -> None:
        """Evaluate every route's silence condition at ``now``."""
        for route in routes:
            key = route.key
            last = self.last_delivered.get(key, 0.0)
            limit = self.silence_limit.get(key, route.deadline + 2 * route.interval)
            self.silent.set(f"{key[0].value}/{key[1]}", last > 0 and now - last > limit, now)


class Healthy:
    """The world's latencies to each hop of canaries sent with no fault near them (wall seconds; office
    seconds too for people's hops)."""

    def __init__(self) -> None:
        self.wall: dict[str, array.array[float]] = {}
        self.office: dict[str, array.array[float]] = {}

    def add(self, channel: Channel, hop: Hop, seconds: float, office: float | None) -> None:
        """One healthy canary reached ``hop`` ``seconds`` after it was sent."""
        name = f"{channel.value}/{hop.value}"
        self.wall.setdefault(name, array.array("d")).append(seconds)
        if office is not None:
            self.office.setdefault(name, array.array("d")).append(office)


class Observed(World):
    """The soak's world, also keeping the healthy latencies (the floors' raw material)."""

    healthy: Healthy

    def note(self, channel: Channel, subject: CanarySubject, number: str, now: float) -> None:
        """Keep the hop latencies of the canary just sent, if no fault was near it."""
        for fault in self.plan.of(number):
            if fault.start - CLEAR_AFTER < now < fault.end + CLEAR_BEFORE:
                return
        timeline = self.timelines[f"{'ks' if channel is Channel.PORTAL else 'altinn'}-{subject.canary_id}"]
        office = self.people.office
        human = HUMAN_HOPS[channel]
        for event in timeline.events:
            hop = STATUS_ORDER[channel].get(event.status)
            if hop is not None:
                seconds = event.at - now
                self.healthy.add(
                    channel, hop, seconds, office.elapsed(now, event.at) if hop in human else None
                )
        registrations = [
            at for at, canary, _ in self.registered.get(number, ()) if canary == subject.canary_id
        ]
        if registrations:
            self.healthy.add(channel, Hop.REGISTERED, min(registrations) - now, None)


class NotingPortal(SimPortal):
    """The portal simulation, noting each healthy canary's latencies."""

    def __init__(self, world: Observed) -> None:
        super().__init__(world)
        self._observed = world

    async def send(self, route: Route, subject: CanarySubject) -> Any:
        sent = await super().send(route, subject)
        self._observed.note(Channel.PORTAL, subject, route.kommunenummer, sent.accepted_at)
        return sent


class NotingAltinn(SimAltinn):
    """The Altinn simulation, noting each healthy canary's latencies."""

    def __init__(self, world: Observed) -> None:
        super().__init__(world)
        self._observed = world

    async def send(self, route: Route, subject: CanarySubject) -> Any:
        sent = await super().send(route, subject)
        self._observed.note(Channel.ALTINN, subject, route.kommunenummer, sent.accepted_at)
        return sent


@dataclasses.dataclass
class Outcome:
    """Everything one run leaves for the analysis."""

    configuration: str
    start: float
    end: float
    routes: tuple[Route, ...]
    canaries: list[dict[str, Any]]
    healthy_wall: dict[str, list[float]]
    healthy_office: dict[str, list[float]]
    silent: dict[str, list[tuple[float, float]]]
    overdue: dict[str, list[tuple[float, float]]]
    counters: dict[str, float]
    wall_seconds: float
    rss_bytes: int
    sent: int


def counter_totals(registry: CollectorRegistry, names: tuple[str, ...]) -> dict[str, float]:
    """Totals of the given counters by ``name{municipality}``."""
    totals: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name in names:
                labels = sample.labels
                key = f"{sample.name}{{{labels.get('channel', '')}/{labels.get('municipality', '')}}}"
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


async def run(
    work: Path,
    configuration: str,
    plan: FaultPlan,
    municipalities: tuple[str, ...],
    span: tuple[float, float],
    *,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Run ``configuration`` over ``span`` (start, end) with ``plan``'s faults."""
    began = time.perf_counter()
    start, end = span
    clock = FakeClock(start)
    sandbox: SandboxWorld = setup.sandbox_world(work, clock, seed)
    if sandbox.people is None:
        raise ValueError("the soak's world needs people keeping office hours (sandbox speed 1)")
    config = setup.soak_config(work, sandbox, municipalities)
    routes = setup.routes_for(config, configuration)
    world = Observed(clock, plan, sandbox.assignments, sandbox.delays, sandbox.people)
    world.healthy = Healthy()
    altinn = NotingAltinn(world)
    adapters: dict[Channel, ChannelAdapter] = {Channel.PORTAL: NotingPortal(world), Channel.ALTINN: altinn}
    readback: dict[str, ReadbackClient] = {
        vendor.id: SimReadback(vendor.id, world)  # type: ignore[misc]
        for vendor in config.vendors.values()
        if vendor.readback is not None
    }
    registry = CollectorRegistry()
    engine = setup.build_engine(
        config, routes, clock, adapters=adapters, readback=readback,
        ledger_path=work / f"ledger-{configuration}.sqlite3", registry=registry, seed=seed,
    )  # fmt: skip
    recorder = Recorder(engine.metrics)
    engine.start()
    step = min(route.poll_interval for route in routes)
    next_sample, next_day = start + ALERT_STEP, start + DAY
    gc.freeze()
    while clock.now() < end:
        now = clock.advance(step)
        recorder.now = now
        engine.send_tick()
        engine.poll_tick()
        await engine.settle()
        if now >= next_sample:
            recorder.sample(routes, now)
            next_sample += ALERT_STEP
        if now >= next_day:
            world.forget()
            altinn.forget()
            next_day += DAY
            if progress is not None:
                progress(f"{configuration}: day {round((now - start) / DAY)}, {world.sent} sent")
    now = clock.now()
    counters = counter_totals(
        registry, ("kanari_duplicates_total", "kanari_cleanup_failures_total", "kanari_late_arrivals_total")
    )
    await engine.shutdown(5.0)
    ledger = engine.ledger
    ledger.close()
    return Outcome(
        configuration=configuration,
        start=start,
        end=now,
        routes=routes,
        canaries=read_canaries(work / f"ledger-{configuration}.sqlite3"),
        healthy_wall={k: list(v) for k, v in world.healthy.wall.items()},
        healthy_office={k: list(v) for k, v in world.healthy.office.items()},
        silent=recorder.silent.close(now),
        overdue=recorder.overdue.close(now),
        counters=counters,
        wall_seconds=time.perf_counter() - began,
        rss_bytes=rss_bytes(),
        sent=world.sent,
    )


def run_sync(*arguments: Any, **keywords: Any) -> Outcome:
    """:func:`run` in a fresh event loop (a worker process's entry)."""
    return asyncio.run(run(*arguments, **keywords))
