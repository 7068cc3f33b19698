"""The engine's working set of open canaries, and the one path by which their changes reach the ledger
and the metrics: ledger first, then metrics.

A change is wrapped in :meth:`OpenCanaries.changing`, which remembers which counters the record
contributed to before; :meth:`OpenCanaries.flush` writes every changed record, and the counters the
changes add, in one transaction, and only then moves the metrics. A crash between the two loses nothing:
the metrics are restored from the ledger's counters at start.

A write that fails (a full disk, an I/O error) loses nothing either: the changes stay pending and go
with the next flush that succeeds; meanwhile :attr:`OpenCanaries.writable` is false (``/readyz`` says
not ready, ``kanari_ledger_writable`` is 0), one line a minute is logged, and nothing is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from probe.config.durations import KS_RETENTION_DEFAULT
from probe.engine.due import DueQueue
from probe.engine.incident_book import IncidentBook
from probe.engine.log_throttle import LogThrottle
from probe.errors import LedgerError
from probe.hops import Channel
from probe.ledger.rows import LedgerCount, ledger_count
from probe.ledger.store import LedgerStore
from probe.lifecycle.counters import RESOLVED, CounterKey, counter_keys
from probe.lifecycle.record import UNRESOLVED, CanaryRecord, State
from probe.metrics.metric_set import Metrics

log = logging.getLogger("kanari.ledger")
_WRITE_FAILED = "ledger-write"


class OpenCanaries:
    """Open canary records by id, with batched, ordered persistence."""

    def __init__(
        self,
        ledger: LedgerStore,
        metrics: Metrics,
        now: Callable[[], float] = time.monotonic,
        *,
        ks_retention: float = KS_RETENTION_DEFAULT,
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        # Every verdict passes through flush: the incidents it changes are saved with it.
        self.incidents = IncidentBook(metrics, ks_retention)
        self.writable = True
        self._failing_since: float | None = None
        self._now = now
        self._log = LogThrottle(log, now)
        # Records changed (or added, or loaded) since the engine last asked: the only ones whose due
        # times can have moved, so a tick looks at these and at what is due, never at every record.
        self._touched: dict[str, CanaryRecord] = {}
        # Unresolved canaries per channel by creation time, kept as records change: the in-flight gauges
        # without a pass over the open set.
        self._unresolved = {channel: DueQueue[str]() for channel in Channel}
        self.records: dict[str, CanaryRecord] = {}
        self._before: dict[str, set[CounterKey]] = {}
        self._after_commit: list[Callable[[], None]] = []

    def load(self, records: list[CanaryRecord]) -> None:
        """Take the ledger's open records at start (their counters are restored separately), and the
        routes' incidents."""
        self.incidents.restore(self.ledger, records)
        for record in records:
            self.records[record.id] = record
            self._touch(record)

    def add(self, record: CanaryRecord) -> None:
        """A new canary (its first flush commits the intent)."""
        self.records[record.id] = record
        self._before.setdefault(record.id, set())
        self._touch(record)

    def discard(self, record: CanaryRecord) -> None:
        """Forget a new canary whose intent could not be committed: it was never sent, so it is neither
        in the ledger nor counted."""
        self.records.pop(record.id, None)
        self._before.pop(record.id, None)
        self._touched.pop(record.id, None)
        self._unresolved[record.channel].cancel(record.id)

    def __contains__(self, record: CanaryRecord) -> bool:
        return self.records.get(record.id) is record

    @contextmanager
    def changing(self, record: CanaryRecord) -> Iterator[CanaryRecord]:
        """Wrap every change of ``record`` so the next flush persists it and moves its counters."""
        self._before.setdefault(record.id, counter_keys(record))
        try:
            yield record
        finally:
            self._touch(record)

    def _touch(self, record: CanaryRecord) -> None:
        self._touched[record.id] = record
        if record.state in UNRESOLVED:
            self._unresolved[record.channel].schedule(record.id, record.created_at)
        else:
            self._unresolved[record.channel].cancel(record.id)

    def take_touched(self) -> list[CanaryRecord]:
        """The records changed, added or loaded since the last call, closed ones included (so that
        whoever schedules work for them can let them go)."""
        touched, self._touched = self._touched, {}
        return list(touched.values())

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` (a histogram observation, a gauge) once the current changes are committed."""
        self._after_commit.append(action)

    def flush(self) -> bool:
        """Write changed records and their new counts in one transaction, then move their metrics; drop
        closed records. False when the write failed: the changes stay pending for the next flush."""
        if not self._before and not self._after_commit:
            return True
        changed = [self.records[canary_id] for canary_id in self._before if canary_id in self.records]
        added = {record.id: counter_keys(record) - self._before[record.id] for record in changed}
        counts: dict[LedgerCount, int] = {}
        for record in changed:
            for key in added[record.id]:
                count = ledger_count(record, key)
                counts[count] = counts.get(count, 0) + 1
        judged = [record for record in changed if any(name == RESOLVED for name, _ in added[record.id])]
        pending = self.incidents.prepare(changed, judged)
        try:
            self.ledger.save(changed, counts, pending.changed)
        except LedgerError as error:
            self._failed(error)
            return False
        self._recovered()
        self.incidents.commit(pending)
        for record in changed:
            if added[record.id]:
                self.metrics.count(record, added[record.id])
            if record.state is State.CLOSED:
                del self.records[record.id]
        self._before.clear()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()
        return True

    def _failed(self, error: LedgerError) -> None:
        if self.writable:
            self.writable = False
            self._failing_since = self._now()
            self.metrics.set_ledger_writable(False)
        self._log.log(
            logging.ERROR,
            _WRITE_FAILED,
            f"{error}; nothing is sent until the ledger can be written again, and what the probe sees "
            "meanwhile is written then",
        )

    def _recovered(self) -> None:
        if self.writable:
            return
        self.writable = True
        self.metrics.set_ledger_writable(True)
        held = self._log.clear(_WRITE_FAILED)
        down = self._now() - (self._failing_since or self._now())
        log.warning("ledger writable again after %.0f s (%d failed writes not logged)", down, held)

    def unresolved(self) -> Iterator[CanaryRecord]:
        """Records without a verdict."""
        return (record for record in self.records.values() if record.state in UNRESOLVED)

    def in_flight_by_channel(self) -> dict[Channel, tuple[int, float | None]]:
        """Per channel: how many canaries are unresolved and when the oldest was created."""
        return {channel: (len(queue), queue.earliest()) for channel, queue in self._unresolved.items()}
