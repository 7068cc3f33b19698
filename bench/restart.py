"""Restarting the probe on a full ledger: how long until it answers, is ready and sends again.

What it measures: the real service (:class:`probe.service.ProbeService` on a runtime from
:func:`probe.runtime.build_runtime`, system clock, the ledger on disk with ``synchronous=FULL``) on the
benchmark's routes (:func:`bench.workload.bench_routes`, against the running benchmark sandbox), started
on a synthetic ledger (:mod:`bench.history`) of exactly those routes that ends when it was written, a
minute or two before: a restart after a short outage. ``t = 0`` is just before ``build_runtime``
(which opens the ledger); from then two threads of their own ask ``/healthz`` and ``/readyz`` over HTTP
every 50 ms, each request waiting as long as the probe takes to answer it. ``healthz_first_s`` and
``restart_s`` are when each first answered 200 (late by up to 50 ms), ``first_send_s`` when the first
send request (a report POST to KS or Altinn, not a token request) left, read from an HTTP client hook;
it includes the wait for the first route that is due (one is every 15 min / N: 1.3 s at 714 routes,
45 ms at 20 000).
In between, the engine answers its start questions from the ledger (counters, route versions, last
deliveries, open canaries, where each route's schedule resumes) and builds its metric series; ready
then, it takes every open canary up in its first poll tick, and sends. The HTTP surface runs on the
same event loop, so it answers when the loop is free.

What it does not measure: reading the configuration (done before ``t = 0``); a cold page cache (the
file was just written, so it is in memory, as after a crash but not after a reboot); what follows the
first send (the open canaries' checks and cleanups going out). Each restart runs in a process of its
own (:func:`restart_in_child`) that exits at once when it has measured, like a crash, so that no
shutdown is waited for and nothing of it is left running for the next one.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.kanari import bench_config
from bench.workload import Timing, bench_routes, kind_of
from probe.clock import SystemClock
from probe.config.loader import KanariConfig
from probe.config.registry import Registry
from probe.config.routes import Route
from probe.lifecycle.record import State
from probe.runtime import Runtime, build_runtime
from probe.sandbox.manifest import Manifest, load_manifest
from probe.service import ProbeService

# Production timing, as the synthetic ledger was written with it: a canary per route every 15 minutes,
# deadline 15 minutes, status checks every 30 s; read-back every 15 s, the slowest the demo
# configuration's channel deadlines (which the configuration is validated against) allow.
TIMING = Timing(interval=900.0, deadline=900.0, poll_interval=30.0, readback_interval=15.0)
POLL_SECONDS = 0.05
TIMEOUT = 180.0
SHUTDOWN_GRACE = 1.0


class RestartError(Exception):
    """The probe did not become ready or did not send in time, or stopped on its own."""


@dataclasses.dataclass(frozen=True)
class RestartFigures:
    """Seconds from ``t = 0`` to each event, and what the probe resumed."""

    ready: float
    first_send: float | None
    healthz_first: float
    open_canaries: int


def restart_config(manifest: Manifest, work: Path) -> KanariConfig:
    """The benchmark's configuration with the production defaults a 30-day ledger was written under:
    lost canaries watched for a day, unknown after two minutes of blindness, kept 30 days."""
    work.mkdir(parents=True, exist_ok=True)  # where the marker key is made
    config = bench_config(manifest, work, TIMING)
    settings = config.settings.model_copy(
        update={"late_window": 86_400.0, "blind_grace": 120.0, "retention": 30 * 86_400.0}
    )
    return dataclasses.replace(config, settings=settings)


def open_count(path: Path) -> int:
    """How many canaries the ledger at ``path`` holds open (through its partial index: no scan)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM canaries WHERE state != '{State.CLOSED}'").fetchone()[0])
    finally:
        db.close()


class Poller(threading.Thread):
    """Asks ``path`` every 50 ms from its start until it answers 200 once (a request waits as long as
    the probe takes to answer: its event loop is busy during the start)."""

    def __init__(self, path: str, began: float) -> None:
        super().__init__(name=f"restart-poller{path.replace('/', '-')}", daemon=True)
        self.url: str | None = None  # set once the probe's socket is bound
        self.first: float | None = None
        self._path = path
        self._began = began
        self._halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=TIMEOUT) as client:
            while not self._halt.is_set() and self.first is None:
                if self.url is not None and self._answers(client, self.url + self._path):
                    self.first = time.perf_counter() - self._began
                    return
                self._halt.wait(POLL_SECONDS)

    @staticmethod
    def _answers(client: httpx.Client, url: str) -> bool:
        try:
            return client.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop asking (a request under way is left to finish or fail)."""
        self._halt.set()


async def restart(
    config: KanariConfig,
    routes: tuple[Route, ...],
    ledger: Path,
    *,
    until_send: bool = True,
    stop: bool = True,
) -> RestartFigures:
    """Start the probe on the ledger at ``ledger`` and time it until ready (and, ``until_send``, until
    it sends); then stop it, with ``stop`` (else leave it running: a child process that exits next)."""
    open_canaries = open_count(ledger)
    began = time.perf_counter()
    healthz, readyz = Poller("/healthz", began), Poller("/readyz", began)
    for poller in (healthz, readyz):
        poller.start()
    first_send: list[float] = []

    async def on_request(request: httpx.Request) -> None:
        if not first_send and kind_of(request.method, request.url.path) == "send":
            first_send.append(time.perf_counter() - began)

    try:
        runtime = build_runtime(config, SystemClock(), routes=routes, ledger_path=ledger, seed=1)
        for client in runtime.clients:
            client.event_hooks["request"].append(on_request)
        # The measurement ends at the first send: the answers still under way are not waited for.
        setattr(runtime, "close", functools.partial(Runtime.close, runtime, SHUTDOWN_GRACE))  # noqa: B010
        service = ProbeService(runtime, "127.0.0.1:0")
        healthz.url = readyz.url = service.url
        stopping = asyncio.Event()
        task = asyncio.create_task(service.run(stopping))
        try:
            deadline = began + TIMEOUT
            while not ((first_send or not until_send) and healthz.first and readyz.first):
                if task.done():
                    await task
                    raise RestartError("the probe stopped on its own during the restart")
                if time.perf_counter() > deadline:
                    raise RestartError(f"not ready and sending {TIMEOUT:g} s after the start")
                await asyncio.sleep(0.01)
        finally:
            if stop:
                stopping.set()
                await task
    finally:
        for poller in (healthz, readyz):
            poller.stop()
    if healthz.first is None or readyz.first is None:
        raise RestartError("the probe never answered")
    return RestartFigures(readyz.first, first_send[0] if first_send else None, healthz.first, open_canaries)


def restart_in_child(
    sandbox: tuple[Path, Path], work: Path, ledger: Path, routes: int, *, until_send: bool
) -> RestartFigures:
    """:func:`restart` in a process of its own (``python -m bench.restart``) that exits as soon as it
    has measured, like a crash: no shutdown to wait for, nothing left running for the next one."""
    out = ledger.with_suffix(".restart.json")
    command = [
        sys.executable, "-m", "bench.restart", "--state-dir", str(sandbox[0]), "--registry", str(sandbox[1]),
        "--work", str(work), "--ledger", str(ledger), "--routes", str(routes), "--out", str(out),
    ]  # fmt: skip
    if not until_send:
        command.append("--ready-only")
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=TIMEOUT + 60.0)
    if done.returncode != 0 or not out.exists():
        raise RestartError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return RestartFigures(**json.loads(out.read_text(encoding="utf-8")))


def child_routes(config: KanariConfig, manifest: Manifest, registry: Path, count: int) -> tuple[Route, ...]:
    """The benchmark's first ``count`` routes on the sandbox (the ledger's routes)."""
    if count > 2 * len(manifest.municipalities):
        raise RestartError(f"the sandbox has {len(manifest.municipalities)} municipalities, not {count // 2}")
    return bench_routes(config, manifest, Registry.load(registry), count, TIMING)


def main() -> None:
    """The child of :func:`restart_in_child`."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="the benchmark sandbox's state")
    parser.add_argument("--registry", type=Path, required=True, help="the registry it was built on")
    parser.add_argument("--work", type=Path, required=True, help="where the configuration's files go")
    parser.add_argument("--ledger", type=Path, required=True, help="the ledger to start on")
    parser.add_argument("--routes", type=int, required=True, help="how many of the benchmark's routes")
    parser.add_argument("--ready-only", action="store_true", help="stop measuring once ready")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON figures go")
    arguments = parser.parse_args()
    log = arguments.work / f"restart-{arguments.ledger.stem}.log"
    logging.basicConfig(filename=log, level=logging.WARNING)
    manifest = load_manifest(arguments.state_dir)
    config = restart_config(manifest, arguments.work)
    routes = child_routes(config, manifest, arguments.registry, arguments.routes)
    figures = asyncio.run(
        restart(config, routes, arguments.ledger, until_send=not arguments.ready_only, stop=False)
    )
    arguments.out.write_text(json.dumps(dataclasses.asdict(figures)), encoding="utf-8")
    logging.shutdown()
    os._exit(0)  # at once, the probe still running: the measurement is over


if __name__ == "__main__":
    main()
