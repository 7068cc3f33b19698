"""Running the probe as a service: engine, scheduler and HTTP surface in one asyncio process."""

from __future__ import annotations

import asyncio
import logging

from probe.http.app import create_app
from probe.http.server import HttpServer
from probe.runtime import Runtime
from probe.scheduling.ticks import TickScheduler

log = logging.getLogger("kanari.service")

# Ticks only look at due times and start network work as tasks, so one second resolves every timing
# Kanari cares about (polls of seconds, deadlines of minutes) at negligible cost.
TICK_SECONDS = 1.0
# Sends are ticked four times as often: a send waits for the tick after its planned time, so the tick
# bounds the scheduler lag (``kanari_scheduler_lag_seconds``). At one second the lag's p99 was 0.99 s
# on an idle probe, leaving no margin under the 1 s that counts as keeping up; at 0.25 s it is a quarter
# of that, and a tick with nothing due costs a heap peek. Sends spread over four ticks also need fewer
# simultaneous connections than one burst per second.
SEND_TICK_SECONDS = 0.25
MAINTENANCE_SECONDS = 3600.0


class ProbeService:
    """The probe: engine on a scheduler, plus its HTTP surface."""

    def __init__(
        self,
        runtime: Runtime,
        listen: str | None = None,
        tick_seconds: float = TICK_SECONDS,
        send_tick_seconds: float = SEND_TICK_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.scheduler = TickScheduler()
        self._tick = tick_seconds
        self._send_tick = min(send_tick_seconds, tick_seconds)
        settings = runtime.config.settings
        basic_auth = None
        if settings.metrics.basic_auth_username and settings.metrics.basic_auth_password:
            basic_auth = (settings.metrics.basic_auth_username, settings.metrics.basic_auth_password.value())
        self._started = False
        self._app = create_app(
            runtime.metrics.served, self.readiness, runtime.jwks, basic_auth, started=lambda: self._started
        )
        self.server = HttpServer(listen or settings.listen)

    def readiness(self) -> dict[str, bool]:
        """The conditions of ``/readyz``."""
        ledger = self.runtime.engine.canaries.writable and self.runtime.ledger.writable()
        return {"scheduler": self.scheduler.running, "ledger": ledger}

    def _maintain(self) -> None:
        # Pruning runs in the background (probe.engine.maintenance): the tick only starts it.
        self.runtime.maintenance.tick()

    @property
    def url(self) -> str:
        """Where the probe's HTTP surface listens."""
        return self.server.url

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, run until ``stop`` is set, then shut down cleanly
        within a bound (the HTTP surface at most 5 s, network work at most ``SHUTDOWN_GRACE``)."""
        engine = self.runtime.engine
        # The HTTP surface first: /healthz answers while the engine resumes from the ledger (seconds at
        # 20 000 routes: every route's series, every open canary), /readyz says not ready until the
        # scheduler runs and /metrics waits for the restored counters. The resume runs on a worker
        # thread so the event loop keeps serving; nothing else touches the engine until it is done.
        await self.server.start(self._app)
        await asyncio.to_thread(engine.start)
        self._started = True
        self.scheduler.every("send", self._send_tick, engine.send_tick)
        self.scheduler.every("poll", self._tick, engine.poll_tick)
        self.scheduler.every("maintenance", MAINTENANCE_SECONDS, self._maintain)
        self.scheduler.start()
        log.info("probe running: %d routes, HTTP on %s", len(engine.routes), self.url)
        try:
            await stop.wait()
        finally:
            self.scheduler.shutdown()
            await self.server.close()
            await self.runtime.close()
