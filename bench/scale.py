"""``python -m bench.scale``: the benchmark's scale figures: how the probe's costs grow with the open set
and the ledger. Each part's module docstring says what it measures and what it does not.

- ``tick_ms_<N>_open_idle`` (``_p99``, ``_max``), ``readback_match_ms_<N>_open`` and
  ``readback_tick_ms_<N>_open``: :mod:`bench.ticks`, in process on a fake clock, N = 1 000, 10 000 and
  150 000 open canaries.
- ``restart_s_<history>_<N>``, ``first_send_s_...``, ``healthz_first_s_...``: :mod:`bench.restart`, the
  real service (in a process of its own) against the running benchmark sandbox, on a synthetic ledger
  (:mod:`bench.history`) of the sandbox's routes: ``30d_714``, the production routes with a real 30 days
  (2 M rows); ``30d_20k``, 20 000 routes with the open set, counters and ``route_latest`` of 30 days but
  :data:`DAYS_20K` days of rows (30 days would be tens of millions of rows, 20 GB); ``2h_20k``, the same
  open set, counters and ``route_latest`` with two hours of closed rows: a restart that does not read
  the history takes as long on both. ``ledger_rows_*``, ``ledger_days_*``, ``ledger_bytes_*`` say what
  each ledger held.
- ``prune_max_block_ms`` and the prune's figures: :mod:`bench.backlog`, on the 714-route ledger after
  its restart, its oldest day a backlog at start.

Order, so that a measurement never shares its CPU: the process is pinned to ``--cpu`` and measures the
ticks first, with nothing else running; then the largest ledger is written on a thread pinned to the
other CPUs (where the sandbox idles meanwhile) while this one writes the others; the restarts and the
prune follow once every ledger is written. ``--smoke`` runs the same parts small (the ``notes`` say how),
within about 25 s. Without ``--state-dir`` and ``--registry`` (a running benchmark sandbox) the restart
figures cannot be measured: the others are written, the reason is printed and the exit code is 2.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.backlog import prune_backlog
from bench.history import DAY, History, build, excerpt, routes_like
from bench.history import Route as HistoryRoute
from bench.procstat import pin_to
from bench.restart import child_routes, restart_config, restart_in_child
from bench.ticks import measure
from probe.config.routes import Route
from probe.sandbox.manifest import load_manifest

DAYS_20K = 2.0
EXIT_NO_SANDBOX = 2


@dataclasses.dataclass(frozen=True)
class Restart:
    """One restart: its label in the keys, how many routes, and its ledger: ``days`` of canaries with
    counters of ``counted_days``, or an excerpt of ``closed_days`` from another restart's ledger."""

    label: str
    routes: int
    days: float
    counted_days: float | None = None
    until_send: bool = True  # else until ready: a comparison of the start alone
    excerpt_of: str | None = None
    closed_days: float | None = None

    @property
    def suffix(self) -> str:
        """The suffix of its ``ledger_*`` keys: ``714``, ``20k``, ``2h_20k``."""
        return self.label.removeprefix("30d_")

    @property
    def size(self) -> float:
        """How many rows its ledger has to be written with, in route-days."""
        return 0.0 if self.excerpt_of else self.routes * self.days


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run measures."""

    ticks: tuple[tuple[str, int], ...]  # (key label, open canaries)
    tick_count: int
    restarts: tuple[Restart, ...]  # the first one's ledger is also the prune's
    backlog: float  # seconds of that ledger's oldest history that are due for pruning
    notes: dict[str, str]


TWO_HOURS = 2 / 24
FULL = Plan(
    ticks=(("1k", 1_000), ("10k", 10_000), ("150k", 150_000)),
    tick_count=300,
    restarts=(
        Restart("30d_714", 714, 30.0),
        Restart("30d_20k", 20_000, DAYS_20K, counted_days=30.0),
        Restart(
            "2h_20k", 20_000, DAYS_20K, 30.0, until_send=False, excerpt_of="30d_20k", closed_days=TWO_HOURS
        ),
    ),
    backlog=DAY,
    notes={
        "restart_20k": (
            "restart_s_30d_20k: 20 000 routes with the open set, counters and route_latest of a 30-day "
            f"ledger, but {DAYS_20K:g} days of rows (ledger_*_20k): 30 days would be tens of millions of "
            "rows; restart_s_2h_20k is the same ledger cut to two hours of closed rows (ledger_*_2h_20k): "
            "a restart that does not read the history takes as long on both"
        ),
    },
)
SMOKE = Plan(
    ticks=(("1k", 1_000), ("10k", 10_000), ("150k", 20_000)),
    tick_count=100,
    restarts=(
        Restart("30d_714", 714, 1.0),
        Restart("30d_20k", 20_000, 1.0, counted_days=30.0),
        Restart("2h_20k", 20_000, 1.0, 30.0, until_send=False, excerpt_of="30d_20k", closed_days=TWO_HOURS),
    ),
    backlog=2 * 3600.0,
    notes={
        "smoke": (
            "smoke run: tick_ms_150k_* and readback_*_150k_open at 20 000 open; the restarts on one day "
            "of rows (30d_*, 2h_20k cut from 30d_20k) and on as many routes as the sandbox has "
            "(routes_*); a prune backlog of two hours"
        ),
    },
)


async def tick_figures(plan: Plan) -> dict[str, Any]:
    """The idle-tick and read-back figures of every size."""
    figures: dict[str, Any] = {}
    for label, count in plan.ticks:
        ticks, readback = await measure(count, plan.tick_count)
        figures[f"tick_ms_{label}_open_idle"] = ticks.median
        figures[f"tick_ms_{label}_open_idle_p99"] = ticks.p99
        figures[f"tick_ms_{label}_open_idle_max"] = ticks.max
        figures[f"readback_match_ms_{label}_open"] = readback.match
        figures[f"readback_match_max_ms_{label}_open"] = readback.match_max
        figures[f"readback_tick_ms_{label}_open"] = readback.tick
        figures[f"open_canaries_{label}"] = count
    return figures


@dataclasses.dataclass(frozen=True)
class Written:
    """A synthetic ledger and how long it took to write."""

    history: History
    seconds: float


def write(
    directory: Path, run: Restart, routes: int | tuple[HistoryRoute, ...], *, ordered_ids: bool
) -> Written:
    """``run``'s ledger in ``directory``, ending now."""
    began = time.perf_counter()
    path = directory / f"ledger-{run.label}.sqlite3"
    for stale in directory.glob(f"{path.name}*"):
        stale.unlink()
    history = build(
        path,
        routes=routes,
        days=run.days,
        end=time.time(),
        ordered_ids=ordered_ids,
        counted_days=run.counted_days,
    )
    return Written(history, time.perf_counter() - began)


def shorten(directory: Path, run: Restart, source: Written) -> Written:
    """``run``'s ledger in ``directory``: an excerpt of ``source``'s."""
    began = time.perf_counter()
    path = directory / f"ledger-{run.label}.sqlite3"
    for stale in directory.glob(f"{path.name}*"):
        stale.unlink()
    return Written(
        excerpt(source.history, path, closed_days=run.closed_days or 0.0), time.perf_counter() - began
    )


def _other_cpus(cpu: int | None) -> set[int] | None:
    """Every CPU but ``cpu`` (``None``: no pinning, or no other CPU)."""
    if cpu is None or not hasattr(os, "sched_getaffinity"):
        return None
    others = os.sched_getaffinity(0) - {cpu}
    return others or None


def _pin_thread(cpus: set[int] | None) -> None:
    """Run the calling thread only on ``cpus`` (Linux: the affinity of a thread is its own)."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def sandbox_routes(
    plan: Plan, state_dir: Path, registry_file: Path, work: Path
) -> dict[str, tuple[Route, ...]]:
    """Per restart, the benchmark's routes (at most as many as the sandbox has municipalities for)."""
    manifest = load_manifest(state_dir)
    config = restart_config(manifest, work)
    made: dict[int, tuple[Route, ...]] = {}
    routes = {}
    for run in plan.restarts:
        count = min(run.routes, 2 * len(manifest.municipalities))
        if count not in made:
            made[count] = child_routes(config, manifest, registry_file, count)
        routes[run.label] = made[count]
    return routes


def restart_figures(
    plan: Plan, sandbox: tuple[Path, Path], work: Path, ledgers: dict[str, Written]
) -> dict[str, Any]:
    """Restart the probe on each ledger, each in a process of its own."""
    figures: dict[str, Any] = {}
    for run in plan.restarts:
        written = ledgers[run.label]
        history = written.history
        measured = restart_in_child(
            sandbox, work, history.path, len(history.routes), until_send=run.until_send
        )
        figures[f"restart_s_{run.label}"] = measured.ready
        if measured.first_send is not None:
            figures[f"first_send_s_{run.label}"] = measured.first_send
        figures[f"healthz_first_s_{run.label}"] = measured.healthz_first
        figures[f"routes_{run.suffix}"] = len(history.routes)
        figures[f"open_canaries_{run.suffix}"] = measured.open_canaries
        figures[f"ledger_rows_{run.suffix}"] = history.rows
        figures[f"ledger_days_{run.suffix}"] = run.closed_days or run.days
        figures[f"ledger_counted_days_{run.suffix}"] = run.counted_days or run.days
        figures[f"ledger_bytes_{run.suffix}"] = history.path.stat().st_size
        figures[f"ledger_write_s_{run.suffix}"] = written.seconds
    return figures


async def run(arguments: argparse.Namespace, plan: Plan) -> tuple[dict[str, Any], bool]:
    """Every figure of ``plan``; whether the restart figures could be measured (with a sandbox)."""
    work: Path = arguments.work.resolve()
    directory = work / "ledgers"
    directory.mkdir(parents=True, exist_ok=True)
    sandbox = arguments.state_dir is not None and arguments.registry is not None
    first = plan.restarts[0]
    figures: dict[str, Any] = {}
    began = time.perf_counter()
    timeline: dict[str, float] = {}  # seconds from the start at which each phase ended
    others = _other_cpus(arguments.cpu)  # before pinning: then this thread has only its CPU
    pin_to(arguments.cpu)
    # The largest ledger on a thread pinned to the other CPUs (with none, it shares this one).
    background = ThreadPoolExecutor(max_workers=1, initializer=_pin_thread, initargs=(others,))
    try:
        # First, with nothing else running in the process (a thread writing a ledger would take the GIL
        # now and then).
        figures |= await tick_figures(plan)
        timeline["ticks"] = time.perf_counter() - began
        ledgers: dict[str, Written] = {}
        largest: dict[str, Future[Written]] = {}
        if sandbox:
            routes = sandbox_routes(plan, arguments.state_dir, arguments.registry, work)
            timeline["routes"] = time.perf_counter() - began
            # The restarts' ledgers other than the prune's are never pruned: their ids may ascend.
            jobs = {r.label: (routes_like(routes[r.label]), r.label != first.label) for r in plan.restarts}
            ordered = sorted(
                (r for r in plan.restarts if not r.excerpt_of), key=lambda r: r.size, reverse=True
            )
            largest = {
                r.label: background.submit(
                    write, directory, r, jobs[r.label][0], ordered_ids=jobs[r.label][1]
                )
                for r in ordered[:1]
            }
            for r in ordered[1:]:
                ledgers[r.label] = write(directory, r, jobs[r.label][0], ordered_ids=jobs[r.label][1])
        else:  # the prune's ledger only, on routes of its own
            ledgers[first.label] = write(directory, first, first.routes, ordered_ids=False)
        ledgers |= {label: future.result() for label, future in largest.items()}
        for r in plan.restarts if sandbox else ():
            if r.excerpt_of:
                ledgers[r.label] = shorten(directory, r, ledgers[r.excerpt_of])
        timeline["ledgers"] = time.perf_counter() - began
        if sandbox:
            figures |= restart_figures(plan, (arguments.state_dir, arguments.registry), work, ledgers)
            timeline["restarts"] = time.perf_counter() - began
        pruned = await prune_backlog(ledgers[first.label].history, plan.backlog)
        timeline["prune"] = time.perf_counter() - began
        figures |= {f"prune_{key}": value for key, value in dataclasses.asdict(pruned).items()}
        figures["prune_backlog_days"] = plan.backlog / DAY
    finally:
        background.shutdown(wait=True, cancel_futures=True)
        if not arguments.keep:
            shutil.rmtree(directory, ignore_errors=True)
    figures["timeline_s"] = timeline
    figures["notes"] = dict(plan.notes)
    return figures, sandbox


def main(argv: list[str] | None = None, plan: Plan | None = None) -> int:
    """Command-line entry (``plan``: another plan than ``--smoke`` chooses, for tests)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True, help="where the ledgers and the log go")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON figures go")
    parser.add_argument("--smoke", action="store_true", help="the same parts, small (about 25 s)")
    parser.add_argument("--cpu", type=int, help="the CPU to pin the measurements to")
    parser.add_argument("--state-dir", type=Path, help="a running benchmark sandbox's state (restart)")
    parser.add_argument("--registry", type=Path, help="the registry that sandbox was built on (restart)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic ledgers in --work")
    arguments = parser.parse_args(argv)
    arguments.work.mkdir(parents=True, exist_ok=True)
    log = logging.FileHandler(arguments.work / "scale.log")
    log.setLevel(logging.WARNING)
    logging.getLogger().addHandler(log)
    began = time.perf_counter()
    try:
        figures, restarted = asyncio.run(run(arguments, plan or (SMOKE if arguments.smoke else FULL)))
    finally:
        logging.getLogger().removeHandler(log)
        log.close()
    figures["wall_s"] = time.perf_counter() - began
    arguments.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if not restarted:
        print(
            "bench.scale: no --state-dir and --registry of a running benchmark sandbox: the restart "
            "figures were not measured (the others are in --out)",
            file=sys.stderr,
        )
        return EXIT_NO_SANDBOX
    return 0


if __name__ == "__main__":
    sys.exit(main())
