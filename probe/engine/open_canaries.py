"""The engine's working set of open canaries, and the one path by which their changes reach the ledger
and the metrics: ledger first, then metrics.

A change is wrapped in :meth:`OpenCanaries.changing`, which remembers which counters the record
contributed to before; :meth:`OpenCanaries.flush` writes every changed record, and the counters the
changes add, in one transaction, and only then moves the metrics. A crash between the two loses nothing:
the metrics are restored from the ledger's counters at start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from probe.hops import Channel
from probe.ledger.rows import LedgerCount, ledger_count
from probe.ledger.sqlite import Ledger
from probe.lifecycle.counters import CounterKey, counter_keys
from probe.lifecycle.record import UNRESOLVED, CanaryRecord, State
from probe.metrics.metric_set import Metrics


class OpenCanaries:
    """Open canary records by id, with batched, ordered persistence."""

    def __init__(self, ledger: Ledger, metrics: Metrics) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self.records: dict[str, CanaryRecord] = {}
        self._before: dict[str, set[CounterKey]] = {}
        self._after_commit: list[Callable[[], None]] = []

    def load(self, records: list[CanaryRecord]) -> None:
        """Take the ledger's open records at start (their counters are restored separately)."""
        for record in records:
            self.records[record.id] = record

    def add(self, record: CanaryRecord) -> None:
        """A new canary (its first flush commits the intent)."""
        self.records[record.id] = record
        self._before.setdefault(record.id, set())

    def __contains__(self, record: CanaryRecord) -> bool:
        return self.records.get(record.id) is record

    @contextmanager
    def changing(self, record: CanaryRecord) -> Iterator[CanaryRecord]:
        """Wrap every change of ``record`` so the next flush persists it and moves its counters."""
        self._before.setdefault(record.id, counter_keys(record))
        yield record

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` (a histogram observation, a gauge) once the current changes are committed."""
        self._after_commit.append(action)

    def flush(self) -> None:
        """Write changed records and their new counts in one transaction, then move their metrics; drop
        closed records."""
        if not self._before and not self._after_commit:
            return
        changed = [self.records[canary_id] for canary_id in self._before if canary_id in self.records]
        added = {record.id: counter_keys(record) - self._before[record.id] for record in changed}
        counts: dict[LedgerCount, int] = {}
        for record in changed:
            for key in added[record.id]:
                count = ledger_count(record, key)
                counts[count] = counts.get(count, 0) + 1
        self.ledger.save(changed, counts)
        for record in changed:
            if added[record.id]:
                self.metrics.count(record, added[record.id])
            if record.state is State.CLOSED:
                del self.records[record.id]
        self._before.clear()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def unresolved(self) -> Iterator[CanaryRecord]:
        """Records without a verdict."""
        return (record for record in self.records.values() if record.state in UNRESOLVED)

    def in_flight_by_channel(self) -> dict[Channel, tuple[int, float | None]]:
        """Per channel: how many canaries are unresolved and when the oldest was created."""
        summary: dict[Channel, tuple[int, float | None]] = dict.fromkeys(Channel, (0, None))
        for record in self.unresolved():
            count, oldest = summary[record.channel]
            summary[record.channel] = (
                count + 1,
                record.created_at if oldest is None else min(oldest, record.created_at),
            )
        return summary
