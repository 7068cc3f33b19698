"""A typed wrapper around APScheduler 3 (which has no type hints); nothing else touches APScheduler.

Three jobs drive the engine: ``send`` and ``poll`` every tick, ``maintenance`` hourly. Each is set
deliberately:

- ``max_instances=1``: a tick never overlaps itself (ticks are short: network work runs as tasks).
- ``coalesce=True``: after a stall, missed runs collapse into one instead of a burst.
- ``misfire_grace_time=None``: a late run is still run, however late; skipping it would silently stop
  sending, and the routes' own due times (not the tick) decide what is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("kanari.scheduler")

JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}


class TickScheduler:
    """Runs tick functions on fixed intervals inside the running asyncio loop."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
        self._scheduler.add_listener(self._on_error, EVENT_JOB_ERROR)
        self.errors = 0

    def every(self, name: str, seconds: float, tick: Callable[[], None]) -> None:
        """Run ``tick`` every ``seconds`` (first run right after start), in the event loop."""

        # APScheduler runs plain functions in a thread pool; a coroutine runs in the event loop, which
        # the engine (and its asyncio tasks) needs.
        async def job() -> None:
            tick()

        self._scheduler.add_job(
            job, IntervalTrigger(seconds=seconds), id=name, name=name, next_run_time=dt.datetime.now(dt.UTC)
        )

    def start(self) -> None:
        """Start inside the running event loop; every job runs once immediately, then on its interval."""
        self._scheduler.start()

    @property
    def running(self) -> bool:
        """True while the scheduler runs its jobs."""
        return bool(self._scheduler.running)

    def shutdown(self) -> None:
        """Stop running jobs (jobs already running finish on their own)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _on_error(self, event: JobExecutionEvent) -> None:
        # A crashing tick must be visible but must not stop the schedule: the next tick runs anyway.
        self.errors += 1
        log.error("tick %s failed: %r", event.job_id, event.exception)
