"""Sending canaries: commit the intent, send, record the answer — and decide what a failed send means.

A send that failed *before* the upstream could act on it (refused connection, TLS failure, an HTTP
error answer) resolves the canary at once:

- ``auth`` (Kanari's own token or credentials) and other ``http_4xx`` (Kanari's request refused):
  ``failed`` at hop ``accepted``, owner ``ops`` — the probe's side, never a vendor page.
- ``rate_limited``: ``unknown`` — the upstream asked Kanari to wait, so the route could not be tested.
- ``connect``, ``tls``, ``http_5xx``: ``failed`` at ``accepted``, owner of that hop (``ks``/``digdir``).

A send that may have been acted on (read timeout, connection reset mid-answer, an unparseable 2xx) is
never repeated blindly: on Altinn it is looked up by ``sendersReference``; on the portal, whose ids KS
chooses, it becomes *unconfirmed* and only read-back can show it arrived (so it can be delivered or
unknown, never lost).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping

from probe import diagnostics
from probe.canary.content import CanarySubject
from probe.channels.base import ChannelAdapter, Sent
from probe.config.routes import Route
from probe.engine.book import Book
from probe.engine.canaries import CanaryFactory
from probe.engine.schedule import RouteSchedule
from probe.engine.verdict import Decision
from probe.errors import Reason, UpstreamError
from probe.hops import Channel, Hop, Owner, Verdict, owner_of
from probe.ledger import CanaryRecord
from probe.metrics import Metrics

log = logging.getLogger("kanari.send")

OPS_REASONS = frozenset({Reason.AUTH, Reason.HTTP_4XX})


def send_failure_decision(channel: Channel, reason: Reason) -> Decision:
    """The verdict of a canary whose send was refused before the upstream acted on it."""
    if reason is Reason.RATE_LIMITED:
        return Decision(Verdict.UNKNOWN)
    owner = Owner.OPS if reason in OPS_REASONS else owner_of(channel, Hop.ACCEPTED)
    return Decision(Verdict.FAILED, Hop.ACCEPTED, owner)


def apply_decision(record: CanaryRecord, decision: Decision, now: float) -> None:
    """Record a verdict on ``record`` (call inside :meth:`Book.changing`); a verdict other than
    delivered gets one log line with the blamed hop, its owner and what the upstreams said."""
    record.state = "resolved"
    record.verdict = decision.verdict
    record.verdict_at = now
    record.blamed_hop = decision.blamed_hop
    record.blamed_owner = decision.blamed_owner
    if decision.late and record.late_at is None:
        record.late_at = now
    if decision.verdict is not Verdict.DELIVERED:
        log.warning(
            "verdict %s: route=%s/%s canary=%s hop=%s owner=%s upstream_id=%s detail=%s",
            decision.verdict.value, record.channel.value, record.municipality, record.id,
            decision.blamed_hop.value if decision.blamed_hop else "-",
            decision.blamed_owner.value if decision.blamed_owner else "-",
            record.upstream_id or "-", record.diagnostics or "-",
        )  # fmt: skip


class Sender:
    """Sends due canaries; answers are applied at the next tick, in one transaction."""

    def __init__(
        self,
        book: Book,
        adapters: Mapping[Channel, ChannelAdapter],
        schedule: RouteSchedule,
        factory: CanaryFactory,
        metrics: Metrics,
    ) -> None:
        self._book = book
        self._adapters = adapters
        self._schedule = schedule
        self._factory = factory
        self._metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()
        self._answers: list[tuple[CanaryRecord, Sent | UpstreamError]] = []

    @property
    def busy(self) -> int:
        """Sends under way."""
        return len(self._tasks)

    def start_due(self, now: float) -> list[CanaryRecord]:
        """Create the canaries of every due route, commit their intents, and start sending them."""
        return self._start(self._schedule.pop_due(now), now)

    def send_route(self, route: Route, now: float) -> CanaryRecord:
        """Send one canary on ``route`` now, outside the schedule (``kanari once``)."""
        return self._start([(route, now)], now)[0]

    def _start(self, due: list[tuple[Route, float]], now: float) -> list[CanaryRecord]:
        started = []
        for route, planned in due:
            if route.channel not in self._adapters:
                continue
            record, subject = self._factory.create(route, now)
            self._book.add(record)
            started.append((route, record, subject))
            self._metrics.scheduler_lag.observe(max(0.0, now - planned))
        # The intents must be on disk before any request leaves: a crash from here on finds them.
        self._book.flush()
        for route, record, subject in started:
            task = asyncio.get_running_loop().create_task(self._send(route, record, subject))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return [record for _, record, _ in started]

    async def _send(self, route: Route, record: CanaryRecord, subject: CanarySubject) -> None:
        try:
            answer: Sent | UpstreamError = await self._adapters[route.channel].send(route, subject)
        except UpstreamError as error:
            answer = error
        self._answers.append((record, answer))

    async def settle(self) -> None:
        """Wait for every send under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def apply_answers(self, now: float) -> int:
        """Record the answers that arrived since the last tick; returns how many."""
        answers, self._answers = self._answers, []
        for record, answer in answers:
            with self._book.changing(record):
                if isinstance(answer, Sent):
                    record.state = "in_flight"
                    record.upstream_id = answer.upstream_id
                    record.api_version = answer.api_version
                    self._book.after_commit(
                        functools.partial(
                            self._metrics.set_route_version, record.route_key, answer.api_version
                        )
                    )
                    accepted_at = min(max(answer.accepted_at, record.created_at), now)
                    record.hops[Hop.ACCEPTED] = accepted_at
                    self._book.after_commit(
                        functools.partial(self._metrics.hop_reached, record, Hop.ACCEPTED, accepted_at)
                    )
                else:
                    self._failed(record, answer, now)
        return len(answers)

    def _failed(self, record: CanaryRecord, error: UpstreamError, now: float) -> None:
        record.failure_reason = error.reason.value
        record.diagnostics = diagnostics.join([record.diagnostics, error.detail])
        log.warning(
            "send failed: route=%s/%s canary=%s reason=%s maybe_processed=%s detail=%s",
            record.channel.value, record.municipality, record.id, error.reason.value, error.maybe_processed,
            error.detail or "-",
        )  # fmt: skip
        if error.maybe_processed:
            record.state = "in_flight"
            # Altinn can be asked by sendersReference; the portal cannot, so read-back must show it.
            record.unconfirmed = not self._adapters[record.channel].can_find
            return
        apply_decision(record, send_failure_decision(record.channel, error.reason), now)
