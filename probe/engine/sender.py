"""Sending canaries: create them, commit their intents, then send.

The intent is on disk before any request leaves (a crash from there on finds it). The send's answer is
a :class:`~probe.engine.results.SendAnswered`, applied at the next tick with everything else; what a
failed send means is decided in :func:`probe.lifecycle.verdict.send_refused`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from probe.canary.content import CanarySubject
from probe.channels.base import ChannelAdapter
from probe.config.routes import Route
from probe.engine.deadlines import Deadlines
from probe.engine.factory import CanaryFactory
from probe.engine.open_canaries import OpenCanaries
from probe.engine.results import Result, SendAnswered
from probe.engine.tasks import Tasks
from probe.errors import LedgerError, UpstreamError
from probe.hops import Channel
from probe.lifecycle.record import CanaryRecord
from probe.metrics.metric_set import Metrics
from probe.scheduling.route_schedule import RouteSchedule


class Sender:
    """Sends due canaries; answers wait for the next tick."""

    def __init__(
        self,
        canaries: OpenCanaries,
        adapters: Mapping[Channel, ChannelAdapter],
        schedule: RouteSchedule,
        factory: CanaryFactory,
        metrics: Metrics,
        *,
        deadlines: Deadlines | None = None,
    ) -> None:
        """``deadlines`` fixes each new canary's bounds (without it, every hop is due at the configured
        deadline)."""
        self._canaries = canaries
        self._deadlines = deadlines
        self._adapters = adapters
        self._schedule = schedule
        self._factory = factory
        self._metrics = metrics
        self._tasks = Tasks()
        # Due canaries not sent because their intents could not be written (the ledger's disk full).
        self.not_sent = 0

    def start_due(self, now: float) -> list[CanaryRecord]:
        """Create the canaries of every due route, commit their intents, and start sending them."""
        return self._start(self._schedule.pop_due(now), now)

    def send_route(self, route: Route, now: float) -> CanaryRecord:
        """Send one canary on ``route`` now, outside the schedule (``kanari once``)."""
        started = self._start([(route, now)], now)
        if not started:
            raise LedgerError("the canary's intent could not be written to the ledger; nothing was sent")
        return started[0]

    def answers(self) -> list[Result]:
        """The answers that arrived since the last call."""
        return self._tasks.take()

    async def settle(self, within: float | None = None) -> int:
        """Wait for every send under way (tests, shutdown); see :meth:`Tasks.settle`."""
        return await self._tasks.settle(within)

    def _start(self, due: list[tuple[Route, float]], now: float) -> list[CanaryRecord]:
        started = []
        for route, planned in due:
            if route.channel not in self._adapters:
                continue
            bounds = self._deadlines.due(route, now) if self._deadlines is not None else None
            record, subject = self._factory.create(route, now, bounds)
            self._canaries.add(record)
            started.append((route, record, subject))
            self._metrics.send_started(late_by=max(0.0, now - planned))
        # The intents must be on disk before any request leaves: a crash from here on finds them. One
        # that cannot be written is not sent at all, and forgotten: never sent, never counted.
        if not self._canaries.flush():
            for _, record, _ in started:
                self._canaries.discard(record)
            self.not_sent += len(started)
            return []
        for route, record, subject in started:
            self._tasks.start(self._sender(route, record, subject))
        return [record for _, record, _ in started]

    def _sender(
        self, route: Route, record: CanaryRecord, subject: CanarySubject
    ) -> Callable[[], Awaitable[Result]]:
        adapter = self._adapters[route.channel]

        async def send() -> Result:
            try:
                return SendAnswered(record, await adapter.send(route, subject))
            except UpstreamError as error:
                return SendAnswered(record, error)

        return send
