"""Kanari under the benchmark: ``python -m bench.kanari``, the real service in its own process.

The probe runs as in production (:class:`probe.service.ProbeService`: APScheduler ticks, the ledger on
disk with ``synchronous=FULL``, the HTTP surface) on N routes against the benchmark sandbox, pinned to
one CPU. After a warm-up it measures a window: its own CPU (``time.process_time``), the canaries it
started and resolved, every HTTP request by kind and per upstream (``Upstream.requests``), the ledger's
writes, commits and CPU, the scheduler lag of every send, and the CPU spent building canary content.
Then, with the scheduler stopped, it renders ``/metrics`` (in process and over HTTP), and finally holds N
canaries in flight to measure memory. The figures go to ``--out`` as JSON.

Instrumentation wraps a few callables of the running probe (a counter and two clock reads each); it
adds well under 1 % to the CPU being measured, and the baseline carries the same request hook.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import gc
import json
import sqlite3
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import generate_latest

import probe.canary.cms
import probe.channels.portal
from bench.procstat import cpu_seconds, pin_to, rss_bytes
from bench.workload import Timing, add_run_arguments, bench_routes, kind_of
from probe.canary.marker import MarkerSigner
from probe.clock import SystemClock
from probe.config.keyfiles import generate_signing_key
from probe.config.loader import KanariConfig
from probe.config.registry import Registry
from probe.engine.factory import CanaryFactory
from probe.hops import Hop
from probe.lifecycle import record as lifecycle
from probe.runtime import Runtime, build_runtime
from probe.sandbox.harness import demo_overrides, load_for_sandbox, tailor
from probe.sandbox.manifest import Manifest, load_manifest
from probe.sandbox.settings import REPOSITORY
from probe.service import ProbeService

DEMO_CONFIG = REPOSITORY / "config" / "sandbox"


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
        metrics = runtime.metrics
        started = metrics.send_started

        def send_started(*, late_by: float) -> None:
            self.lags.append((time.time(), late_by))
            started(late_by=late_by)

        setattr(metrics, "send_started", send_started)  # noqa: B010 - instance attribute over the method
        ledger = runtime.ledger
        setattr(ledger, "save", self.meter.wrap("ledger", ledger.save))  # noqa: B010
        for name in ("render_pdf", "build_asice", "portal_report"):
            original = getattr(probe.channels.portal, name)
            setattr(probe.channels.portal, name, self.meter.wrap("content", original))
        probe.canary.cms.encrypt = self.meter.wrap("content", probe.canary.cms.encrypt)

        async def count(request: httpx.Request) -> None:
            self.requests[kind_of(request.method, request.url.path)] += 1

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


def _by_upstream(runtime: Runtime) -> dict[str, int]:
    totals: collections.Counter[str] = collections.Counter()
    for key, upstream in runtime.upstreams.items():
        totals["readback" if key.startswith("readback:") else key] += upstream.requests
    return dict(totals)


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    return {key: after.get(key, 0) - before.get(key, 0) for key in sorted(set(after) | set(before))}


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


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


async def scrape(runtime: Runtime, url: str, repeats: int = 5) -> dict[str, Any]:
    """``/metrics``: the render time in process (median of ``repeats``) and the size over HTTP."""
    times = []
    body = b""
    for _ in range(repeats):
        started = time.perf_counter()
        body = runtime.metrics.exposition()
        times.append(time.perf_counter() - started)
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        response = await client.get(f"{url}/metrics")
        http_seconds = time.perf_counter() - started
    # The same-run baseline: prometheus_client's own exposition of the same registry (one run: at
    # 20 000 routes it takes seconds).
    started = time.perf_counter()
    generate_latest(runtime.registry)
    generate_latest_seconds = time.perf_counter() - started
    return {
        "generate_latest_seconds": generate_latest_seconds,
        "render_seconds": sorted(times)[len(times) // 2],
        "render_seconds_first": times[0],
        "bytes": len(body),
        "http_bytes": len(response.content),
        "http_seconds": http_seconds,
        "series": sum(1 for line in body.splitlines() if line and not line.startswith(b"#")),
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

    await asyncio.sleep(arguments.warmup)
    window_start = time.time()
    before = instruments.snapshot()
    await asyncio.sleep(arguments.window)
    after = instruments.snapshot()
    window_end = time.time()

    # Let the window's last canaries finish, then stop the schedule for the measurements below.
    await asyncio.sleep(arguments.drain)
    service.scheduler.shutdown()
    await runtime.engine.settle()
    window_lags = [lag for at, lag in instruments.lags if window_start <= at < window_end]
    result: dict[str, Any] = {
        "routes": len(routes),
        "interval": timing.interval,
        "poll_interval": timing.poll_interval,
        "window": after.wall - before.wall,
        "startup_seconds": startup,
        "cpu": after.cpu - before.cpu,
        "started": after.started - before.started,
        "requests": _delta(after.requests, before.requests),
        "upstreams": _delta(after.upstreams, before.upstreams),
        "ledger_writes": after.writes - before.writes,
        "ledger_commits": after.commits - before.commits,
        "meter_cpu": _delta(after.meter_cpu, before.meter_cpu),
        "meter_wall": _delta(after.meter_wall, before.meter_wall),
        "lag_p50": _percentile(window_lags, 0.50),
        "lag_p99": _percentile(window_lags, 0.99),
        "lag_max": max(window_lags, default=0.0),
        "ledger": verdicts(ledger_path, window_start, window_end),
        "scrape": await scrape(runtime, service.url),
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
    arguments = parser.parse_args()
    pin_to(arguments.cpu)
    result = asyncio.run(run(arguments))
    arguments.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
