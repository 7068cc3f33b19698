"""Judging, on every tick: each open canary's verdict once it is due, a late arrival once a watched
canary turns up, and closing a canary once nothing is left to do for it. A tick looks only at the
canaries that changed and those whose deadline, blind grace or watch ends then.

The verdicts themselves are decided in :func:`probe.lifecycle.verdict.decide`; this walks the open
canaries and applies them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from probe.engine.cleanup import Cleanup
from probe.engine.due import DueQueue
from probe.engine.open_canaries import OpenCanaries
from probe.engine.watch import WATCHED, Watch
from probe.hops import Hop, Verdict
from probe.lifecycle import record as lifecycle
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import arrived_late, decide, delivered_at, judged_at
from probe.metrics.metric_set import Metrics


class Judge:
    """Applies due verdicts, late arrivals and closings."""

    def __init__(
        self,
        canaries: OpenCanaries,
        *,
        metrics: Metrics,
        watch: Watch,
        cleanup: Cleanup,
        blind_grace: float,
        settled: Callable[[CanaryRecord], None],
        delivered: Callable[[CanaryRecord], None] = lambda record: None,
        stretch: Callable[[CanaryRecord, float], tuple[Hop, float] | None] = lambda record, now: None,
    ) -> None:
        """``settled`` is told of each canary that was judged or closed (its checks can forget it),
        ``delivered`` of each delivered one once committed (its route learns from it); ``stretch``
        gives a late hop a later due time while its party is slow, before the canary is judged."""
        self._canaries = canaries
        self._metrics = metrics
        self._watch = watch
        self._cleanup = cleanup
        self._blind_grace = blind_grace
        self._settled = settled
        self._delivered = delivered
        self._stretch = stretch
        # Set by the engine's start: see ``decide``'s ``looking_since``.
        self.looking_since: float | None = None
        self._due = DueQueue[str]()

    def advance(self, changed: Iterable[CanaryRecord], now: float) -> None:
        """Judge, mark late and close whatever is due at ``now``: the ``changed`` records and those
        whose deadline, blind grace or watch ended; nothing else is looked at."""
        for record in changed:
            self._consider(record, now)
        for canary_id in self._due.pop_due(now):
            due = self._canaries.records.get(canary_id)
            if due is not None:
                self._consider(due, now)

    def _consider(self, record: CanaryRecord, now: float) -> None:
        if record.state in (State.INTENT, State.CLOSED):
            return
        if record.verdict is None:
            self._judge(record, now)
            if record.verdict is None:
                self._due.schedule(record.id, self._next_judgment(record, now))
            return
        if record.verdict in WATCHED and record.late_at is None and arrived_late(record):
            with self._canaries.changing(record):
                lifecycle.arrive_late(record, now)
        if not self._cleanup.pending(record) and self._watch.over(record, now):
            with self._canaries.changing(record):
                lifecycle.close(record)
            self._due.cancel(record.id)
            self._cleanup.forget(record)
            self._settled(record)
        elif record.verdict in WATCHED and record.late_at is None:
            self._due.schedule(record.id, self._watch.watched_until(record))

    def _next_judgment(self, record: CanaryRecord, now: float) -> float:
        """When an open canary's verdict can next change with time alone (results change it sooner)."""
        due = judged_at(record)
        if now < due:
            return due
        blind_from = max(due, self.looking_since or due)
        return max(now, blind_from + self._blind_grace)

    def _judge(self, record: CanaryRecord, now: float) -> None:
        stretched = self._stretch(record, now)
        if stretched is not None:
            with self._canaries.changing(record):
                lifecycle.extend_due(record, *stretched)
        decision = decide(record, now, self._blind_grace, self.looking_since)
        if decision is None:
            return
        with self._canaries.changing(record):
            lifecycle.resolve(record, decision, now)
            if decision.verdict is Verdict.DELIVERED:
                arrived = delivered_at(record)
                if arrived is not None:
                    self._canaries.after_commit(functools.partial(self._metrics.delivered, record, arrived))
                self._canaries.after_commit(functools.partial(self._delivered, record))
        self._settled(record)
