"""The probe as a service: its HTTP surface answers from the start, while the engine resumes from the
ledger on a worker thread (seconds at 20 000 routes), and ``/metrics`` waits for the restored counters."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

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
