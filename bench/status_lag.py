"""Whether rendering the status page blocks probing: the event loop's lag with and without pages rendering.

The probe's event loop runs the engine; the status page is served by the same loop but read and rendered
on :class:`~probe.http.status.site.StatusSite`'s worker thread (the loop only routes the request and
awaits the answer). What can still reach the loop is the GIL the worker holds while it builds views and
renders templates. This measures that on the real path: the probe's own ASGI app
(:func:`probe.http.app.create_app`) with the status site mounted, asked for the national page and one
vendor's page in a loop through ``httpx.ASGITransport`` (the same loop, no sockets), every render
uncached and every vendor render re-reading its 7- and 30-day counts (the clock moved past both caches
each time: the worst case; in production the counts are read once a minute). Meanwhile a task sleeps
:data:`TICK` seconds over and over and records how late it wakes: the lag any engine tick would see.
The baseline is the same task on the same loop with nothing rendering, measured just before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx

from probe.clock import FakeClock
from probe.http.app import create_app
from probe.http.status.site import CACHE_SECONDS, WINDOW_CACHE_SECONDS, StatusSite

# How long the watching task sleeps each time (an engine tick is about this order).
TICK = 0.010


@dataclasses.dataclass
class Lag:
    """How late the watching task woke, in milliseconds, over one phase."""

    p99: float
    worst: float
    wakes: int


@dataclasses.dataclass
class LoopFigures:
    """The loop's lag alone (baseline) and while pages render, and how many pages were rendered."""

    idle: Lag
    rendering: Lag
    renders: int
    seconds: float


def _lag(lates: list[float]) -> Lag:
    ordered = sorted(lates)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0
    return Lag(p99 * 1000, (ordered[-1] if ordered else 0.0) * 1000, len(ordered))


async def _watch(until: float) -> list[float]:
    """Sleep :data:`TICK` until ``until`` (perf_counter), recording how late each wake was."""
    lates = []
    while time.perf_counter() < until:
        began = time.perf_counter()
        await asyncio.sleep(TICK)
        lates.append(max(0.0, time.perf_counter() - began - TICK))
    return lates


async def _render(client: httpx.AsyncClient, clock: FakeClock, vendor: str, until: float) -> int:
    """Ask for the national and the vendor page until ``until``, every render uncached."""
    pages = 0
    while time.perf_counter() < until:
        clock.advance(max(CACHE_SECONDS, WINDOW_CACHE_SECONDS) + 1)
        for path in ("/status", f"/status/vendor/{vendor}"):
            response = await client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
            pages += 1
    return pages


async def _measure(site: StatusSite, clock: FakeClock, vendor: str, seconds: float) -> LoopFigures:
    app = create_app(lambda: b"", lambda: {"ok": True}, {"keys": []}, status=site)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://probe"
        ) as client:
            await client.get("/status")  # the worker's connection opened and the templates compiled first
            idle = await _watch(time.perf_counter() + seconds)
            until = time.perf_counter() + seconds
            renders_before = site.renders
            lates, _ = await asyncio.gather(_watch(until), _render(client, clock, vendor, until))
            renders = site.renders - renders_before
    finally:
        await site.close()
    return LoopFigures(_lag(idle), _lag(lates), renders, seconds)


def loop_lag(site: StatusSite, clock: FakeClock, vendor: str, seconds: float) -> LoopFigures:
    """The loop's lag for ``seconds`` idle, then ``seconds`` while ``site`` (reading ``clock``) renders;
    closes ``site``."""
    return asyncio.run(_measure(site, clock, vendor, seconds))
