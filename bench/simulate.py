"""Running the week of :mod:`bench.week` and keeping what it showed: request counts, samples of memory
and of the open set, the probe's cleanup-failure counter and the ledger's canaries.

Faults are switched in the world's own registry at exact instants: ``vendor.delete_refused`` on the
refusing vendor's municipalities for the whole run, ``vendor.down`` on the other vendor's from the
outage's start to its end. Every ``sample_every`` of simulated time (and at the end) it samples the
process's resident memory, after a garbage collection so that the figure is what is kept, not what
waits to be freed, and the number of canaries the engine holds open.

It measures no wall time but the run's own, and judges nothing (:mod:`bench.production` does).
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procstat import rss_bytes
from bench.tally import JudgedIndex, RequestTally, upstream_totals
from bench.week import DAY, Plan, World, world
from probe.ledger.sqlite import Ledger
from probe.sandbox.faults import Fault, FaultName

COLUMNS = (
    "id",
    "channel",
    "municipality",
    "vendor",
    "created_at",
    "verdict",
    "verdict_at",
    "blamed_hop",
    "blamed_owner",
    "upstream_id",
    "late_at",
    "cleanup_failed_at",
)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One sample: simulated hours since the start, resident memory, open canaries."""

    hours: float
    rss_bytes: int
    open_canaries: int


@dataclasses.dataclass
class Observation:
    """Everything one run showed."""

    plan: Plan
    start: float
    tally: RequestTally
    samples: list[Sample]
    canaries: list[dict[str, Any]]
    cleanup_failures: dict[str, float]
    upstream_requests: dict[str, int]
    # Per channel: interval + deadline of the routes that go down, the longest a detection may take.
    detection_bounds: dict[str, float]
    vendors: dict[str, str]
    # The probe's and the sandbox's log lines of WARNING and above, by logger and level.
    log_lines: dict[str, int]
    wall_seconds: float


def read_canaries(ledger: Path) -> list[dict[str, Any]]:
    """Every canary row of the ledger, as dicts of :data:`COLUMNS`."""
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM canaries").fetchall()
    finally:
        db.close()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def cleanup_failures(run: World) -> dict[str, float]:
    """``kanari_cleanup_failures_total`` by vendor."""
    totals: dict[str, float] = {}
    for metric in run.registry.collect():
        for sample in metric.samples:
            if sample.name == "kanari_cleanup_failures_total":
                vendor = sample.labels["vendor"]
                totals[vendor] = totals.get(vendor, 0.0) + sample.value
    return totals


def sample(run: World) -> Sample:
    """Memory and open set now."""
    gc.collect()
    return Sample(run.offset / 3600.0, rss_bytes(), len(run.runtime.engine.canaries.records))


def detection_bounds(run: World, down: tuple[str, ...]) -> dict[str, float]:
    """Per channel, the shortest interval + deadline among the routes of ``down``."""
    bounds: dict[str, float] = {}
    for route in run.runtime.config.routes:
        if route.kommunenummer in down:
            key = route.channel.value
            bounds[key] = min(bounds.get(key, float("inf")), route.interval + route.deadline)
    return bounds


class LogCount(logging.Handler):
    """Counts the probe's and the sandbox's log lines of WARNING and above, by logger and level."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: collections.Counter[str] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count ``record``."""
        self.lines[f"{record.name} {record.levelname}"] += 1


async def simulate(work: Path, plan: Plan, *, progress: Callable[[float], None] | None = None) -> Observation:
    """Run ``plan`` in ``work``; ``progress`` is told the simulated hours every simulated day."""
    started = time.perf_counter()
    cast = plan.cast
    logs = LogCount()
    logging.getLogger().addHandler(logs)
    try:
        async with world(work, cast) as run:
            tally = RequestTally(lambda: plan.period(run.offset), JudgedIndex(run.runtime))
            tally.attach(run.runtime)
            samples = await _run(run, plan, progress)
            failures = cleanup_failures(run)
            requests = upstream_totals(run.runtime)
            bounds = detection_bounds(run, cast.down)
            manifest = run.sandbox.manifest
            vendors = {number: manifest.municipalities[number].vendor for number in cast.municipalities}
            assert isinstance(run.runtime.ledger, Ledger), "the simulation runs on the SQLite ledger"
            ledger = run.runtime.ledger.path
            start = run.start
    finally:
        logging.getLogger().removeHandler(logs)
    return Observation(
        plan=plan,
        start=start,
        tally=tally,
        samples=samples,
        canaries=read_canaries(ledger),
        cleanup_failures=failures,
        upstream_requests=requests,
        detection_bounds=bounds,
        vendors=vendors,
        log_lines=dict(sorted(logs.lines.items())),
        wall_seconds=time.perf_counter() - started,
    )


async def _run(run: World, plan: Plan, progress: Callable[[float], None] | None = None) -> list[Sample]:
    """Step through ``plan`` with its faults; the samples taken on the way."""
    cast = plan.cast
    run.fault(FaultName.VENDOR_DELETE_REFUSED, cast.refusing)
    down: list[Fault] | None = None
    samples = [sample(run)]
    steps = round(plan.length / plan.step)
    per_sample = max(1, round(plan.sample_every / plan.step))
    per_day = round(DAY / plan.step)
    for index in range(1, steps + 1):
        if down is None and run.offset >= plan.outage_start:
            down = run.fault(FaultName.VENDOR_DOWN, cast.down)
        if down and run.offset >= plan.outage_end:
            run.clear(down)
            down = []
        await run.step(plan.step)
        if index % per_sample == 0 or index == steps:
            samples.append(sample(run))
        if progress is not None and index % per_day == 0:
            progress(run.offset / 3600.0)
    return samples
