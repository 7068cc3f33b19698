"""The engine: resumes from the ledger, then sends, follows and judges canaries on every tick.

Ticks are plain methods taking no arguments and reading the injected clock, so the scheduler calls them
in production and tests call them directly at exact fake times (``settle`` waits for the network work a
tick started, which the next tick then applies).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from probe.canary.marker import MarkerVerifier
from probe.channels.base import ChannelAdapter
from probe.clock import Clock
from probe.config.routes import Route
from probe.engine.book import Book
from probe.engine.canaries import CanaryFactory
from probe.engine.polling import Poller, PollSettings
from probe.engine.schedule import RouteSchedule
from probe.engine.sending import Sender
from probe.engine.verdict import delivered_at
from probe.hops import Channel
from probe.ledger import CanaryRecord, Ledger
from probe.metrics import Metrics
from probe.readback import ReadbackClient

log = logging.getLogger("kanari.engine")


class Engine:
    """Kanari's core loop over a fixed set of routes."""

    def __init__(
        self,
        *,
        routes: tuple[Route, ...],
        clock: Clock,
        ledger: Ledger,
        metrics: Metrics,
        adapters: Mapping[Channel, ChannelAdapter],
        readback: Mapping[str, ReadbackClient],
        factory: CanaryFactory,
        verifier: MarkerVerifier,
        poll_settings: PollSettings,
        retention: float,
        seed: int = 0,
    ) -> None:
        self.routes = routes
        self.clock = clock
        self.ledger = ledger
        self.metrics = metrics
        self.book = Book(ledger, metrics)
        self._adapters = adapters
        self._factory = factory
        self._retention = retention
        self._seed = seed
        self._routes_by_key = {route.key: route for route in routes}
        self.poller = Poller(
            book=self.book,
            adapters=adapters,
            readback=readback,
            routes=self._routes_by_key,
            verifier=verifier,
            metrics=metrics,
            settings=poll_settings,
        )
        self.schedule: RouteSchedule | None = None
        self.sender: Sender | None = None

    def start(self, *, schedule: bool = True) -> None:
        """Resume from the ledger: metrics rebuilt, open canaries taken up, the schedule restored.

        A canary whose intent was committed but whose send answer was not (the probe died in between)
        is never sent again: Altinn is asked for it by ``sendersReference``; on the portal it becomes
        *unconfirmed* and only read-back can show it arrived.
        """
        now = self.clock.now()
        self.metrics.set_routes(self.routes)
        self.metrics.restore(self.ledger.counts())
        for key, api_version in self.ledger.latest_versions().items():
            self.metrics.set_route_version(key, api_version)
        for record in self.ledger.newest_delivered():
            arrived = delivered_at(record)
            self.metrics.set_last_delivery(
                record, arrived if arrived is not None else record.verdict_at or now
            )
        open_records = self.ledger.open_records()
        self.book.load(open_records)
        for record in open_records:
            if record.state == "intent":
                self._resume_unanswered(record)
        self.book.flush()
        routes = self.routes if schedule else ()
        self.schedule = RouteSchedule(routes, now, self.ledger.last_created(), seed=self._seed)
        self.sender = Sender(self.book, self._adapters, self.schedule, self._factory, self.metrics)
        self.update_gauges()
        log.info("engine started: %d routes, %d open canaries", len(self.routes), len(open_records))

    def _resume_unanswered(self, record: CanaryRecord) -> None:
        adapter = self._adapters.get(record.channel)
        with self.book.changing(record):
            record.state = "in_flight"
            record.unconfirmed = adapter is None or not adapter.can_find
        log.warning(
            "resuming canary %s (%s/%s) whose send was not answered before a restart: %s",
            record.id, record.channel.value, record.municipality,
            "tracked by read-back only" if record.unconfirmed else "looking it up",
        )  # fmt: skip

    def _require_sender(self) -> Sender:
        if self.sender is None:
            raise RuntimeError("Engine.start() has not run")
        return self.sender

    def send_tick(self) -> None:
        """Record send answers that arrived, then send every canary that is due."""
        sender = self._require_sender()
        now = self.clock.now()
        sender.apply_answers(now)
        # No flush here: ``start_due`` flushes before any request leaves, so the answers and the new
        # intents share one transaction (one fsync per tick instead of two), in the same order.
        sender.start_due(now)

    def poll_tick(self) -> None:
        """Apply check results, decide verdicts, start the checks and cleanups that are due."""
        now = self.clock.now()
        if self.sender is not None:
            self.sender.apply_answers(now)
        self.poller.apply(now)
        self.book.flush()
        self.poller.start_due(now)
        self.poller.start_cleanup(now)
        self.update_gauges()
        self.metrics.heartbeat.set(now)

    def maintenance_tick(self) -> None:
        """Fold old closed canaries into totals and delete them (bounded ledger size)."""
        removed = self.ledger.prune(self.clock.now() - self._retention)
        if removed:
            log.info("pruned %d closed canaries older than the retention", removed)

    def update_gauges(self) -> None:
        """In-flight counts and the oldest in-flight canary per channel."""
        for channel, (count, oldest) in self.book.in_flight_by_channel().items():
            self.metrics.in_flight.labels(channel.value).set(count)
            self.metrics.oldest_in_flight.labels(channel.value).set(oldest or 0)

    def send_now(self, route: Route) -> CanaryRecord:
        """Send one canary on ``route`` immediately (``kanari once``)."""
        sender = self._require_sender()
        return sender.send_route(route, self.clock.now())

    async def settle(self) -> None:
        """Wait for the network work the last ticks started (tests, ``kanari once``, shutdown)."""
        if self.sender is not None:
            await self.sender.settle()
        await self.poller.settle()

    def route(self, key: tuple[Channel, str]) -> Route | None:
        """A configured route by (channel, kommunenummer)."""
        return self._routes_by_key.get(key)
