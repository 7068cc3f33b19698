"""The engine: resumes from the ledger, then sends, follows and judges canaries on every tick.

One canary's way through it: the :class:`~probe.engine.sender.Sender` creates it (intent committed) and
sends it; :class:`~probe.engine.status_checks.StatusChecks`, :class:`~probe.engine.readback_batches.
ReadbackBatches` and :class:`~probe.engine.cleanup.Cleanup` start the network work that follows it; what
that work finds comes back as results that the :class:`~probe.engine.applying.Applier` applies; the
:class:`~probe.engine.judge.Judge` gives the verdict, marks a late arrival and closes it. Every change goes
through :class:`~probe.engine.open_canaries.OpenCanaries` to the ledger first, then to the metrics.

Ticks are plain methods taking no arguments and reading the injected clock, so the scheduler calls them
in production and tests call them directly at exact fake times (``settle`` waits for the network work a
tick started, which the next tick then applies).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping

from probe.canary.marker import MarkerVerifier
from probe.channels.base import ChannelAdapter
from probe.checks.readback import ReadbackClient
from probe.clock import Clock
from probe.config.durations import KS_RETENTION_DEFAULT
from probe.config.models import ProbeSettings
from probe.config.routes import Route
from probe.engine.applying import Applier
from probe.engine.cleanup import Cleanup
from probe.engine.deadlines import Deadlines
from probe.engine.factory import CanaryFactory
from probe.engine.judge import Judge
from probe.engine.open_canaries import OpenCanaries
from probe.engine.overdue import Overdue
from probe.engine.readback_batches import ReadbackBatches
from probe.engine.sender import Sender
from probe.engine.status_checks import StatusChecks
from probe.engine.tasks import Tasks
from probe.engine.watch import Watch, watch_budget
from probe.hops import Channel
from probe.ledger.store import LedgerStore
from probe.lifecycle import record as lifecycle
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import delivered_at
from probe.metrics.metric_set import Metrics
from probe.scheduling.route_schedule import RouteSchedule

log = logging.getLogger("kanari.engine")


@dataclasses.dataclass(frozen=True)
class PollSettings:
    """Timing that is not per route."""

    readback_interval: float
    blind_grace: float
    late_window: float
    cleanup: bool
    ks_retention: float = KS_RETENTION_DEFAULT

    @classmethod
    def of(cls, settings: ProbeSettings) -> PollSettings:
        """The timing ``kanari.yaml`` gives (the probe's runtime and the soak build the engine alike)."""
        return cls(
            readback_interval=settings.readback.poll_interval,
            blind_grace=settings.blind_grace,
            late_window=settings.late_window,
            cleanup=settings.readback.cleanup,
            ks_retention=settings.ks_retention,
        )


class Engine:
    """Kanari's core loop over a fixed set of routes."""

    def __init__(
        self,
        *,
        routes: tuple[Route, ...],
        clock: Clock,
        ledger: LedgerStore,
        metrics: Metrics,
        adapters: Mapping[Channel, ChannelAdapter],
        readback: Mapping[str, ReadbackClient],
        factory: CanaryFactory,
        verifier: MarkerVerifier,
        poll_settings: PollSettings,
        seed: int = 0,
    ) -> None:
        self.routes = routes
        self.clock = clock
        self.ledger = ledger
        self.metrics = metrics
        self.canaries = OpenCanaries(ledger, metrics, clock.now, ks_retention=poll_settings.ks_retention)
        self.schedule = RouteSchedule(seed=seed)
        self._adapters = adapters
        self._routes_by_key = {route.key: route for route in routes}
        self.deadlines = Deadlines(routes, metrics)
        self.overdue = Overdue(self.deadlines, metrics)
        self.sender = Sender(
            self.canaries, adapters, self.schedule, factory, metrics, deadlines=self.deadlines
        )
        self._tasks = Tasks(clock.now)
        watch = Watch(poll_settings.late_window, watch_budget(routes))
        self._status = StatusChecks(
            self._tasks, adapters, self._routes_by_key, watch, usual_at=self.deadlines.usual_at
        )
        self._readback = ReadbackBatches(self._tasks, readback, watch, poll_settings.readback_interval)
        self._cleanup = Cleanup(
            self._tasks, readback, poll_settings.readback_interval, enabled=poll_settings.cleanup
        )
        self._judge = Judge(
            self.canaries,
            metrics=metrics,
            watch=watch,
            cleanup=self._cleanup,
            blind_grace=poll_settings.blind_grace,
            settled=self._status.forget,
            delivered=self.deadlines.delivered,
            stretch=self.deadlines.stretch,
        )
        self._applier = Applier(self.canaries, metrics, verifier, adapters)

    def start(self, *, schedule: bool = True) -> None:
        """Resume from the ledger: metrics rebuilt, open canaries taken up, the schedule restored.

        A canary whose intent was committed but whose send answer was not (the probe died in between)
        is never sent again: Altinn is asked for it by ``sendersReference``; on the portal it becomes
        *unconfirmed* and only read-back can show it arrived.
        """
        now = self.clock.now()
        self._judge.looking_since = now
        self.metrics.set_routes(self.routes)
        self.metrics.restore(self.ledger.counts())
        for key, api_version in self.ledger.latest_versions().items():
            self.metrics.set_route_version(key, api_version)
        learned_from = self.deadlines.restore(self.ledger)
        self.deadlines.show_all(now)
        for record in self.ledger.newest_delivered():
            arrived = delivered_at(record)
            self.metrics.set_last_delivery(
                record, arrived if arrived is not None else record.verdict_at or now
            )
        open_records = self.ledger.open_records()
        self.canaries.load(open_records)
        for record in open_records:
            if record.state is State.INTENT:
                self._resume_unanswered(record)
        self.canaries.flush()
        self.schedule.plan(self.routes if schedule else (), now, self.ledger.last_created())
        self.update_gauges()
        log.info(
            "engine started: %d routes, %d open canaries, deadlines learned from %d delivered",
            len(self.routes), len(open_records), learned_from,
        )  # fmt: skip

    def _resume_unanswered(self, record: CanaryRecord) -> None:
        adapter = self._adapters.get(record.channel)
        with self.canaries.changing(record):
            lifecycle.unanswered(record, findable=adapter is not None and adapter.can_find)
        log.warning(
            "resuming canary %s (%s/%s) whose send was not answered before a restart: %s",
            record.id, record.channel.value, record.municipality,
            "tracked by read-back only" if record.unconfirmed else "looking it up",
        )  # fmt: skip

    def send_tick(self) -> None:
        """Record send answers that arrived, then send every canary that is due."""
        now = self.clock.now()
        self._applier.apply(self.sender.answers(), now)
        # No flush here: ``start_due`` flushes before any request leaves, so the answers and the new
        # intents share one transaction (one fsync per tick instead of two), in the same order.
        self.sender.start_due(now)

    def poll_tick(self) -> None:
        """Apply results, decide verdicts, start the checks and cleanups that are due."""
        now = self.clock.now()
        self._applier.apply(self.sender.answers(), now)
        self._applier.apply(self._tasks.take(), now)
        changed = self.canaries.take_touched()
        self._judge.advance(changed, now)
        self.canaries.flush()
        # What the judge changed counts too; every part then looks only at changed and due canaries.
        changed = list({record.id: record for record in [*changed, *self.canaries.take_touched()]}.values())
        # Read-back first: a canary whose status check starts now is still in this round's batch.
        self._readback.start_due(changed, now)
        self._status.start_due(changed, now)
        self._cleanup.start_due(changed, now)
        self.overdue.advance(changed, now)
        self.deadlines.refresh(now)
        self.update_gauges()
        self.metrics.beat(now)

    def update_gauges(self) -> None:
        """In-flight counts and the oldest in-flight canary per channel."""
        for channel, (count, oldest) in self.canaries.in_flight_by_channel().items():
            self.metrics.set_in_flight(channel, count, oldest)

    def send_now(self, route: Route) -> CanaryRecord:
        """Send one canary on ``route`` immediately (``kanari once``)."""
        return self.sender.send_route(route, self.clock.now())

    async def settle(self) -> None:
        """Wait for the network work the last ticks started (tests, ``kanari once``)."""
        await self.sender.settle()
        await self._tasks.settle()

    async def shutdown(self, grace: float) -> None:
        """Stop within ``grace`` seconds whatever the upstreams do, and keep every answer that came.

        Network work still under way after ``grace`` is cancelled: a cancelled send stays an intent and
        is resumed at the next start like one interrupted by a crash (looked up, never sent again).
        Every answer and result that did arrive, during shutdown too, is recorded before the ledger
        closes, so an answered send is not resumed as unconfirmed.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        cancelled = await self.sender.settle(within=grace)
        cancelled += await self._tasks.settle(within=until - loop.time())
        now = self.clock.now()
        self._applier.apply(self.sender.answers(), now)
        self._applier.apply(self._tasks.take(), now)
        self.canaries.flush()
        if cancelled:
            log.warning(
                "shutdown: %d requests still unanswered after %g s were cancelled; "
                "their canaries are resumed at the next start",
                cancelled,
                grace,
            )

    def route(self, key: tuple[Channel, str]) -> Route | None:
        """A configured route by (channel, kommunenummer)."""
        return self._routes_by_key.get(key)
