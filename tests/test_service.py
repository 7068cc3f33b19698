"""The probe as a service: its HTTP surface answers from the start, while the engine resumes from the
ledger on a worker thread (seconds at 20 000 routes), and ``/metrics`` waits for the restored counters."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from probe.errors import LedgerError
from probe.leadership.lease import Leadership
from probe.service import ProbeService
from tests.e2e.harness import harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_health_answers_and_metrics_wait_while_the_engine_resumes(tmp_path: Path) -> None:
    async with harness(tmp_path, "4601") as probe:
        resumed = threading.Event()
        resuming = threading.Event()

        def slow_start() -> None:
            resuming.set()
            assert resumed.wait(30), "the test never let the resume finish"

        setattr(probe.engine, "start", slow_start)  # noqa: B010 - a resume that takes its time
        service = ProbeService(probe.runtime, "127.0.0.1:0")
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=5) as http:
                for _ in range(500):
                    if resuming.is_set():
                        break
                    await asyncio.sleep(0.01)
                assert resuming.is_set()
                # The event loop serves while the resume runs on its thread.
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/readyz")).status_code == 503
                assert (await http.get("/metrics")).status_code == 503
                resumed.set()
                for _ in range(500):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.01)
                assert (await http.get("/readyz")).status_code == 200
                assert b"kanari_" in (await http.get("/metrics")).content
        finally:
            resumed.set()
            stop.set()
            await asyncio.wait_for(running, 30)


class ScriptedLease:
    """A lease store the test scripts: the epoch a take gives (None: held by another), whether a
    renewal holds, or an unreachable database."""

    def __init__(self) -> None:
        self.epoch: int | None = None
        self.renews = True
        self.down = False

    def _reach(self) -> None:
        if self.down:
            raise LedgerError("lease query failed: connection refused")

    def acquire(self, holder: str, seconds: float) -> int | None:
        self._reach()
        return self.epoch

    def renew(self, holder: str, epoch: int, seconds: float) -> bool:
        self._reach()
        return self.renews

    def release(self, holder: str, epoch: int) -> None:
        self._reach()

    def close(self) -> None:
        pass


class Monotonic:
    """Real monotonic time plus what the test adds (a pause the replica did not notice)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


def counted(tick: Callable[[], None], name: str, ticks: list[str]) -> Callable[[], None]:
    """``tick``, noting each call in ``ticks``."""

    def run() -> None:
        ticks.append(name)
        tick()

    return run


async def has_role(http: httpx.AsyncClient, expected: str) -> bool:
    """Whether the replica's ``/readyz`` answers 200 naming ``expected`` as its role."""
    answer = await http.get("/readyz")
    return answer.status_code == 200 and answer.json()["role"] == expected


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_replica_stands_by_leads_stops_by_its_own_clock_and_stops_when_fenced(tmp_path: Path) -> None:
    async with harness(tmp_path, "4601") as probe:
        store, clock = ScriptedLease(), Monotonic()
        probe.runtime.leadership = Leadership(store, 3.0, holder="test", monotonic=clock)
        ticks: list[str] = []
        for name in ("send_tick", "poll_tick"):
            tick = getattr(probe.engine, name)
            setattr(probe.engine, name, counted(tick, name, ticks))
        service = ProbeService(probe.runtime, "127.0.0.1:0")
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=5) as http:

                def role(expected: str) -> Awaitable[bool]:
                    return has_role(http, expected)

                async def metrics() -> str:
                    return (await http.get("/metrics")).text

                # Another holds the lease: a ready standby showing only its role, build and process.
                await eventually(lambda: role("standby"), "a standby")
                assert (await http.get("/readyz")).json()["conditions"] == {"ledger": True}
                shown = await metrics()
                assert "kanari_leader 0.0" in shown
                assert "kanari_canaries_sent_total" not in shown
                assert "kanari_heartbeat_timestamp_seconds" not in shown
                assert not ticks
                # The lease comes free: it takes it, resumes and ticks.
                store.epoch = 1
                await eventually(lambda: role("leader"), "the takeover")
                await eventually(lambda: asyncio.sleep(0, result="poll_tick" in ticks), "a tick")
                shown = await metrics()
                assert "kanari_leader 1.0" in shown
                assert "kanari_canaries_sent_total" in shown
                # The database goes away and the lease's time runs out by this replica's clock: it stops
                # ticking (and so sending) and shows itself as a standby, before anyone could take over.
                store.down = True
                clock.skipped = 3.0
                await eventually(lambda: role("standby"), "standing by on its own clock")
                ticked = len(ticks)
                # Over a second and a half (six send ticks, a poll tick and more): none runs.
                until = time.monotonic() + 1.5
                while time.monotonic() < until:
                    assert len(ticks) == ticked
                    await asyncio.sleep(0.05)
                assert "kanari_leader 0.0" in await metrics()
                # Reached again, and another took the lease meanwhile: fenced, it stops for good.
                store.down, store.renews = False, False
                await asyncio.wait_for(running, 15)
                assert service.lost_lease
                assert len(ticks) == ticked
        finally:
            stop.set()
            if not running.done():
                await asyncio.wait_for(running, 30)


async def test_a_standby_tries_the_lease_every_tick_not_every_third_of_it(tmp_path: Path) -> None:
    # A 30 s lease is renewed every 10 s, but a standby asks at every 1 s tick: a dead leader's lease
    # that has just run out is taken within a tick, so the takeover comes within the lease plus one tick.
    async with harness(tmp_path, "4601") as probe:
        store = ScriptedLease()
        probe.runtime.leadership = Leadership(store, 30.0, holder="test")
        service = ProbeService(probe.runtime, "127.0.0.1:0")
        stop = asyncio.Event()
        running = asyncio.create_task(service.run(stop))
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=5) as http:

                def role(expected: str) -> Awaitable[bool]:
                    return has_role(http, expected)

                await eventually(lambda: role("standby"), "a standby")
                store.epoch = 1  # the lease runs out now
                freed = time.monotonic()
                await eventually(lambda: role("leader"), "the takeover")
                # One tick, plus the engine's resume and a poll of /readyz: far below the 10 s renewal.
                assert time.monotonic() - freed < 3.0
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
