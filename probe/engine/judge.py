"""Judging, on every tick: each open canary's verdict once it is due, a late arrival once a watched
canary turns up, and closing a canary once nothing is left to do for it.

The verdicts themselves are decided in :func:`probe.lifecycle.verdict.decide`; this walks the open
canaries and applies them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from probe.engine.cleanup import Cleanup
from probe.engine.open_canaries import OpenCanaries
from probe.engine.watch import WATCHED, Watch
from probe.hops import Verdict
from probe.lifecycle import record as lifecycle
from probe.lifecycle.record import CanaryRecord, State
from probe.lifecycle.verdict import decide, delivered_at
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
    ) -> None:
        """``settled`` is told of each canary that was judged or closed (its checks can forget it)."""
        self._canaries = canaries
        self._metrics = metrics
        self._watch = watch
        self._cleanup = cleanup
        self._blind_grace = blind_grace
        self._settled = settled
        # Set by the engine's start: see ``decide``'s ``looking_since``.
        self.looking_since: float | None = None

    def advance(self, now: float) -> None:
        """Judge, mark late and close whatever is due at ``now``."""
        for record in list(self._canaries.records.values()):
            if record.state is State.INTENT:
                continue
            if record.verdict is None:
                self._judge(record, now)
                continue
            if record.verdict in WATCHED and record.late_at is None:
                arrived = delivered_at(record)
                if arrived is not None and arrived > record.deadline_at:
                    with self._canaries.changing(record):
                        lifecycle.arrive_late(record, now)
            if not self._cleanup.pending(record) and self._watch.over(record, now):
                with self._canaries.changing(record):
                    lifecycle.close(record)
                self._cleanup.forget(record)
                self._settled(record)

    def _judge(self, record: CanaryRecord, now: float) -> None:
        decision = decide(record, now, self._blind_grace, self.looking_since)
        if decision is None:
            return
        with self._canaries.changing(record):
            lifecycle.resolve(record, decision, now)
            if decision.verdict is Verdict.DELIVERED:
                arrived = delivered_at(record)
                if arrived is not None:
                    self._canaries.after_commit(functools.partial(self._metrics.delivered, record, arrived))
        self._settled(record)
