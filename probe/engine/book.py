"""The engine's working set of open canaries, and the one path by which changes reach the ledger and the
metrics: ledger first, then metrics.

A change is wrapped in :meth:`Book.changing`, which remembers which counters the record contributed to
before; :meth:`Book.flush` writes every changed record in one transaction and only then increments the
counters that the records contribute to now and did not before. A crash between the two loses nothing:
the counters are rebuilt from the ledger at start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from probe.hops import Channel
from probe.ledger import CanaryRecord, Ledger
from probe.metrics import CounterKey, Metrics, counter_keys

OPEN_STATES = ("intent", "in_flight")


class Book:
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

    @contextmanager
    def changing(self, record: CanaryRecord) -> Iterator[CanaryRecord]:
        """Wrap every change of ``record`` so the next flush persists it and moves its counters."""
        self._before.setdefault(record.id, counter_keys(record))
        yield record

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` (a histogram observation, a gauge) once the current changes are committed."""
        self._after_commit.append(action)

    @property
    def pending(self) -> int:
        """Changed records not yet written."""
        return len(self._before)

    def flush(self) -> None:
        """Write changed records in one transaction, then move their metrics; drop closed records."""
        if not self._before and not self._after_commit:
            return
        changed = [self.records[canary_id] for canary_id in self._before if canary_id in self.records]
        self.ledger.save(changed)
        for record in changed:
            added = counter_keys(record) - self._before[record.id]
            if added:
                self.metrics.count(record, added)
            if record.state == "closed":
                del self.records[record.id]
        self._before.clear()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def unresolved(self) -> Iterator[CanaryRecord]:
        """Records without a verdict."""
        return (record for record in self.records.values() if record.state in OPEN_STATES)

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
