"""Running the probe as a service: engine, scheduler and HTTP surface in one asyncio process.

With the SQLite ledger the probe leads from its start (the ledger's lock makes it the only sender). With
the PostgreSQL ledger it is one of several replicas (:mod:`probe.leadership.lease`): it serves HTTP at
once and stands by (``kanari_leader 0``, ``/readyz`` 200 naming the role, only the standby's metrics:
:mod:`probe.leadership.standby`), tries the lease every tick, and on taking it resumes from the
ledger like a restart and starts ticking. Every tick first asks whether the lease still holds by this
replica's own clock: a leader that cannot renew stops sending before its lease could run out. A leader
whose lease another took (fenced) stops the process (exit 1): what it had in memory may be behind the
ledger, and its supervisor restarts it as a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from probe.http.app import create_app
from probe.http.server import HttpServer
from probe.http.status.site import StatusLedger, StatusSite
from probe.leadership.lease import Role, Step
from probe.leadership.standby import RoleExposition
from probe.ledger.postgres import PostgresLedger
from probe.ledger.sqlite import Ledger
from probe.ledger.store import LedgerStore
from probe.metrics.exposition import Exposition
from probe.render.links import runbook_url
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


def status_reader(ledger: LedgerStore) -> Callable[[], StatusLedger]:
    """How the status page opens a read-only connection of its own to ``ledger`` (SQLite: the same file;
    PostgreSQL: the same database), never sharing the engine's."""
    if isinstance(ledger, PostgresLedger):
        target = ledger.target
        return lambda: PostgresLedger(target, holder="status-page", epoch=lambda: None, create=False)
    if isinstance(ledger, Ledger):
        path = ledger.path
        return lambda: Ledger.open_read_only(path)
    raise TypeError(f"no read-only view of a {type(ledger).__name__} ledger for the status page")


def status_site(runtime: Runtime, basic_auth: tuple[str, str] | None) -> StatusSite:
    """The status page of ``runtime``'s routes, behind ``basic_auth`` (that of ``/metrics``)."""
    alerting = runtime.config.settings.alerting
    return StatusSite(
        runtime.engine.routes,
        {vendor.id: vendor.name for vendor in runtime.config.vendors.values()},
        status_reader(runtime.ledger),
        runtime.engine.clock,
        lambda alert: runbook_url(alerting, alert),
        basic_auth=basic_auth,
        deadlines=runtime.engine.deadlines.learned,
    )


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
        self._engine_started = False
        self.leadership = runtime.leadership
        # True once a leader found its lease taken by another replica: it stops, and exits 1.
        self.lost_lease = False
        exposition: Exposition | RoleExposition = runtime.metrics.served
        if self.leadership is not None:
            exposition = RoleExposition(runtime.registry, runtime.metrics.served, self._leads)
        self.status = status_site(runtime, basic_auth)
        self._app = create_app(
            exposition,
            self.readiness,
            runtime.jwks,
            basic_auth,
            started=lambda: self._started,
            role=lambda: self.role.value,
            status=self.status,
        )
        self.server = HttpServer(listen or settings.listen)

    @property
    def role(self) -> Role:
        """Leader once the engine runs and while the lease holds (SQLite: always), else standby."""
        return Role.LEADER if self._leads() else Role.STANDBY

    def _leads(self) -> bool:
        leading = self.leadership is None or self.leadership.leading()
        return self._engine_started and leading

    def readiness(self) -> dict[str, bool]:
        """The conditions of ``/readyz``: a leader's scheduler runs and its ledger takes writes; a
        standby is ready once its ledger answers (it is ready to take over, not to send)."""
        if self.leadership is not None and self.role is Role.STANDBY:
            return {"ledger": self.runtime.ledger.connected()}
        ledger = self.runtime.engine.canaries.writable and self.runtime.ledger.writable()
        return {"scheduler": self.scheduler.running, "ledger": ledger}

    def _gated(self, tick: Callable[[], None]) -> Callable[[], None]:
        """``tick``, run only while this replica leads by its own clock; the gauge follows."""

        def gated() -> None:
            leading = self._leads()
            self.runtime.metrics.set_leader(leading)
            if leading:
                tick()

        return gated

    def _maintain(self) -> None:
        # Pruning runs in the background (probe.engine.maintenance): the tick only starts it.
        self.runtime.maintenance.tick()

    @property
    def url(self) -> str:
        """Where the probe's HTTP surface listens."""
        return self.server.url

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, run until ``stop`` is set (or the lease is lost), then shut down cleanly
        within a bound (the HTTP surface at most 5 s, network work at most ``SHUTDOWN_GRACE``)."""
        # The HTTP surface first: /healthz answers while the engine resumes from the ledger (seconds at
        # 20 000 routes: every route's series, every open canary), /readyz says not ready until the
        # scheduler runs and /metrics waits for the restored counters (a standby shows its own).
        await self.server.start(self._app)
        try:
            if self.leadership is None:
                await self._lead()
                await stop.wait()
            else:
                self.runtime.metrics.set_leader(False)
                self._started = True
                log.info("standing by: HTTP on %s, lease %g s", self.url, self.leadership.seconds)
                await self._keep_lease(stop)
        finally:
            await self._shutdown()

    async def _keep_lease(self, stop: asyncio.Event) -> None:
        """Renew the lease every third of it (leader), or try to take it every tick (standby), until
        ``stop`` or until it is lost: a dead leader's lease runs out ``lease`` after its last renewal, and
        a standby then leads within one tick."""
        assert self.leadership is not None
        while not stop.is_set():
            # A worker thread: the database may take up to its statement timeout to answer.
            step = await asyncio.to_thread(self.leadership.step)
            if step is Step.LOST:
                self.lost_lease = True
                return
            if step is Step.TOOK:
                await self._lead()
            if self._engine_started:
                self.runtime.metrics.set_leader(self._leads())
            with contextlib.suppress(TimeoutError):
                pause = (
                    self.leadership.interval if self._leads() else min(self._tick, self.leadership.interval)
                )
                await asyncio.wait_for(stop.wait(), pause)

    async def _lead(self) -> None:
        """Resume from the ledger (a worker thread, so the loop keeps serving), then start ticking."""
        engine = self.runtime.engine
        await asyncio.to_thread(engine.start)
        self._engine_started = self._started = True
        self.runtime.metrics.set_leader(True)
        self.scheduler.every("send", self._send_tick, self._gated(engine.send_tick))
        self.scheduler.every("poll", self._tick, self._gated(engine.poll_tick))
        self.scheduler.every("maintenance", MAINTENANCE_SECONDS, self._gated(self._maintain))
        self.scheduler.start()
        log.info("probe running: %d routes, HTTP on %s", len(engine.routes), self.url)

    async def _shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown()
        await self.server.close()
        await self.status.close()
        # Fenced, nothing it still has may be committed or sent: no grace for requests under way.
        await (self.runtime.close(0.0) if self.lost_lease else self.runtime.close())
        if self.leadership is not None:
            await asyncio.to_thread(self.leadership.release)
            self.leadership.close()
