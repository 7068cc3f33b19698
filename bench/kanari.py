"""Kanari under the benchmark: ``python -m bench.kanari``, the real service in its own process.

The probe runs as in production (:class:`probe.service.ProbeService`: APScheduler ticks, the ledger on
disk with ``synchronous=FULL``, the HTTP surface) on N routes against the benchmark sandbox, pinned to
one CPU. After a warm-up it measures a window: its own CPU (``time.process_time``), the canaries it
started and resolved, every HTTP request by kind and per upstream (``Upstream.requests``), the ledger's
writes, commits and CPU, the CPU spent building canary content, and each send's lag: from its planned
instant to the moment its request is handed to the transport (after the intent's fsync, the content
build and any wait for a connection slot). Meanwhile a scraper thread gets ``/metrics`` over HTTP every
15 s as Prometheus does (``Accept-Encoding: gzip``); its own CPU is taken out of Kanari's. Finally it
holds N canaries in flight to measure memory. The figures go to ``--out`` as JSON.

Instrumentation wraps a few callables of the running probe (a counter and two clock reads each); it
adds well under 1 % to the CPU being measured, and the floors count their requests the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextvars
import dataclasses
import gc
import sqlite3
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import probe.canary.cms
import probe.channels.altinn
import probe.channels.portal
from bench.procstat import cpu_seconds, percentile, rss_bytes
from bench.scraper import Scraper
from bench.workload import Timing, add_run_arguments, bench_routes, kind_of, routes_digest, run_and_write
from probe.canary.marker import MarkerSigner
from probe.clock import SystemClock
from probe.config.keyfiles import generate_signing_key
from probe.config.loader import KanariConfig
from probe.config.registry import Registry
from probe.engine.factory import CanaryFactory
from probe.hops import Hop
from probe.lifecycle import record as lifecycle
from probe.lifecycle.record import CanaryRecord
from probe.runtime import Runtime, build_runtime
from probe.sandbox.harness import demo_overrides, load_for_sandbox, tailor
from probe.sandbox.manifest import Manifest, load_manifest
from probe.sandbox.settings import REPOSITORY
from probe.service import ProbeService

DEMO_CONFIG = REPOSITORY / "config" / "sandbox"
# The canary whose send is under way in this task (set around the channel adapter's send).
_SENDING: contextvars.ContextVar[str | None] = contextvars.ContextVar("sending", default=None)


def bench_config(manifest: Manifest, work: Path, timing: Timing) -> KanariConfig:
    """The demo configuration pointed at the benchmark sandbox, with the run's read-back timing."""
    marker = work / "marker-ed25519.pem"
    if not marker.exists():
        generate_signing_key(marker)
    overrides = demo_overrides(manifest, str(work / "unused.sqlite3"))
    overrides["signing"] = {"key_file": str(marker), "key_id": "kanari-bench"}
    overrides["readback"] = {"poll_interval": f"{timing.readback_interval:g}s", "cleanup": True}
    overrides["listen"] = "127.0.0.1:0"
    return tailor(load_for_sandbox(DEMO_CONFIG, overrides), manifest)


class CpuMeter:
    """CPU and wall seconds spent inside wrapped callables, by bucket (the thread's own CPU: the
    engine runs everything it measures on the event loop's thread)."""

    def __init__(self) -> None:
        self.cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.wall: collections.defaultdict[str, float] = collections.defaultdict(float)

    def wrap(self, bucket: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` with its time added to ``bucket``."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.cpu[bucket] += time.thread_time() - cpu
                self.wall[bucket] += time.perf_counter() - wall

        return timed


@dataclasses.dataclass
class Snapshot:
    """Cumulative figures at one instant."""

    wall: float
    cpu: float
    started: int
    requests: dict[str, int]
    upstreams: dict[str, int]
    writes: int
    commits: int
    meter_cpu: dict[str, float]
    meter_wall: dict[str, float]


class Instruments:
    """What the runner hooks into a built runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.lags: list[tuple[float, float]] = []
        self.requests: collections.Counter[str] = collections.Counter()
        self.meter = CpuMeter()
        self._planned: dict[str, float] = {}
        metrics = runtime.metrics
        sender = runtime.engine.sender
        created: list[CanaryRecord] = []
        factory_create = sender._factory.create

        def create(route: Any, now: float, due: Any = None) -> Any:
            record, subject = factory_create(route, now, due)
            created.append(record)
            return record, subject

        started = metrics.send_started

        def send_started(*, late_by: float) -> None:
            record = created.pop()
            self._planned[record.id] = record.created_at - late_by
            started(late_by=late_by)

        # The canary's identity and signed marker are content too (the floors count them so).
        setattr(sender._factory, "create", self.meter.wrap("content", create))  # noqa: B010
        setattr(metrics, "send_started", send_started)  # noqa: B010
        for adapter in sender._adapters.values():
            setattr(adapter, "send", _marking(adapter.send))  # noqa: B010
        ledger = runtime.ledger
        setattr(ledger, "save", self.meter.wrap("ledger", ledger.save))  # noqa: B010
        for name in ("render_pdf", "build_asice", "portal_report"):
            original = getattr(probe.channels.portal, name)
            setattr(probe.channels.portal, name, self.meter.wrap("content", original))
        probe.canary.cms.encrypt = self.meter.wrap("content", probe.canary.cms.encrypt)
        altinn = probe.channels.altinn
        setattr(altinn, "altinn_correspondence", self.meter.wrap("content", altinn.altinn_correspondence))  # type: ignore[attr-defined]  # noqa: B010

        async def count(request: httpx.Request) -> None:
            kind = kind_of(request.method, request.url.path)
            self.requests[kind] += 1
            canary = _SENDING.get()
            if kind == "send" and canary is not None and canary in self._planned:
                self.lags.append((time.time(), time.time() - self._planned.pop(canary)))

        for client in runtime.clients:
            client.event_hooks["request"].append(count)

    def snapshot(self) -> Snapshot:
        """The figures now."""
        return Snapshot(
            wall=time.perf_counter(),
            cpu=cpu_seconds(),
            started=len(self.lags),
            requests=dict(self.requests),
            upstreams=_by_upstream(self.runtime),
            writes=self.runtime.ledger.writes,
            commits=self.runtime.ledger.commits,
            meter_cpu=dict(self.meter.cpu),
            meter_wall=dict(self.meter.wall),
        )


def _marking(send: Callable[..., Any]) -> Callable[..., Any]:
    """``send(route, subject)`` with the canary's id in :data:`_SENDING` while its requests are made."""

    async def marked(route: Any, subject: Any) -> Any:
        _SENDING.set(subject.canary_id)
        return await send(route, subject)

    return marked


def _by_upstream(runtime: Runtime) -> dict[str, int]:
    totals: collections.Counter[str] = collections.Counter()
    for key, upstream in runtime.upstreams.items():
        totals["readback" if key.startswith("readback:") else key] += upstream.requests
    return dict(totals)


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    return {key: after.get(key, 0) - before.get(key, 0) for key in sorted(set(after) | set(before))}


def verdicts(ledger: Path, since: float, until: float) -> dict[str, Any]:
    """Verdicts reached in ``[since, until)`` and what the window's canaries needed, from the ledger."""
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        by_verdict = dict(
            db.execute(
                "SELECT verdict, COUNT(*) FROM canaries WHERE verdict_at >= ? AND verdict_at < ? "
                "GROUP BY verdict",
                (since, until),
            ).fetchall()
        )
        created = "created_at >= ? AND created_at < ?"
        registered_final = db.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT vendor || '/' || municipality) FROM canaries "
            f"WHERE {created} AND final_hop = ?",
            (since, until, Hop.REGISTERED.value),
        ).fetchone()
        # Municipalities whose first portal canary of this process falls in the window: each costs one
        # bydeler and one krypteringsnokler call, the protocol's minimum for a cold cache.
        first_portal = db.execute(
            "SELECT COUNT(*) FROM (SELECT municipality, MIN(created_at) AS first FROM canaries "
            "WHERE channel = 'portal' GROUP BY municipality) WHERE first >= ? AND first < ?",
            (since, until),
        ).fetchone()[0]
        sent = db.execute(f"SELECT COUNT(*) FROM canaries WHERE {created}", (since, until)).fetchone()[0]
    finally:
        db.close()
    return {
        "verdicts": by_verdict,
        "sent": sent,
        "registered_final": registered_final[0],
        "registered_groups": registered_final[1],
        "cold_portal_municipalities": first_portal,
    }


def hold_in_flight(runtime: Runtime, routes: int) -> dict[str, Any]:
    """Memory for N canaries in flight (one per route), put there by the engine's own record path
    (factory, book, ledger), with no HTTP: the state an in-flight canary keeps between polls is its
    record, its ledger row and the engine's index entries. Python's own allocations are counted with
    ``tracemalloc`` (RSS barely moves: freed pages from the run are reused), RSS is reported beside."""
    engine = runtime.engine
    gc.collect()
    before = rss_bytes()
    tracemalloc.start()
    traced_before = tracemalloc.get_traced_memory()[0]
    factory = CanaryFactory(MarkerSigner(Ed25519PrivateKey.generate(), "kanari-bench"))
    now = time.time()
    for route in engine.routes[:routes]:
        record, _ = factory.create(route, now)
        engine.canaries.add(record)
        with engine.canaries.changing(record):
            lifecycle.accept(record, str(uuid.uuid4()), now, None)
    engine.canaries.flush()
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    after = rss_bytes()
    return {"in_flight": routes, "rss_before": before, "rss_after": after, "python_bytes": traced}


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    """One benchmark run of Kanari; returns its figures."""
    work: Path = arguments.work.resolve()
    work.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before the probe starts
    manifest = load_manifest(arguments.state_dir)
    timing = Timing(arguments.interval, arguments.deadline, arguments.poll, arguments.poll)
    config = bench_config(manifest, work, timing)
    routes = bench_routes(config, manifest, Registry.load(arguments.registry), arguments.routes, timing)
    ledger_path = work / f"kanari-{arguments.routes}-{uuid.uuid4().hex[:8]}.sqlite3"
    rss_start = rss_bytes()
    started = time.perf_counter()
    runtime = build_runtime(config, SystemClock(), routes=routes, ledger_path=ledger_path, seed=1)
    instruments = Instruments(runtime)
    service = ProbeService(runtime, "127.0.0.1:0")
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    while not service.scheduler.running:
        if task.done():
            await task
        await asyncio.sleep(0.01)
    startup = time.perf_counter() - started
    rss_idle = rss_bytes()
    scraper = Scraper(service.url)
    scraper.start()

    await asyncio.sleep(arguments.warmup)
    window_start = time.time()
    before = instruments.snapshot()
    await asyncio.sleep(arguments.window)
    after = instruments.snapshot()
    window_end = time.time()

    # Let the window's last canaries finish, then stop the schedule for the measurements below.
    await asyncio.sleep(arguments.drain)
    await asyncio.to_thread(scraper.finish)
    service.scheduler.shutdown()
    await runtime.engine.settle()
    window_lags = [lag for at, lag in instruments.lags if window_start <= at < window_end]
    result: dict[str, Any] = {
        "routes": len(routes),
        "routes_digest": routes_digest(routes),
        "interval": timing.interval,
        "poll_interval": timing.poll_interval,
        "window": after.wall - before.wall,
        "startup_seconds": startup,
        # The scraper thread stands for Prometheus: its CPU is not Kanari's.
        "cpu": after.cpu - before.cpu - scraper.cpu_between(window_start, window_end),
        "started": after.started - before.started,
        "requests": _delta(after.requests, before.requests),
        "upstreams": _delta(after.upstreams, before.upstreams),
        "ledger_writes": after.writes - before.writes,
        "ledger_commits": after.commits - before.commits,
        "meter_cpu": _delta(after.meter_cpu, before.meter_cpu),
        "meter_wall": _delta(after.meter_wall, before.meter_wall),
        "lag_p50": percentile(window_lags, 0.50),
        "lag_p99": percentile(window_lags, 0.99),
        "lag_max": max(window_lags, default=0.0),
        "ledger": verdicts(ledger_path, window_start, window_end),
        "scrape": scraper.figures(),
        "rss_start": rss_start,
        "rss_idle": rss_idle,
        "rss_steady": rss_bytes(),
        "scheduler_errors": service.scheduler.errors,
    }
    if arguments.memory:
        result["memory"] = hold_in_flight(runtime, len(routes))
    stop.set()
    await task
    return result


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_run_arguments(parser)
    parser.add_argument("--drain", type=float, default=3.0)
    parser.add_argument("--memory", action="store_true")
    run_and_write(parser, run)


if __name__ == "__main__":
    main()
