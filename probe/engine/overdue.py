"""Overdue canaries: past their route's usual latency to the hop they wait for, not yet past its
deadline, and not seen there by a look made after the usual latency passed (``kanari_overdue``). An
early warning (a ticket, never a page) to the owner of that hop, so an operator sees a break forming
before the verdict.

Like the judge, this looks only at the canaries that changed and those whose usual latency or deadline
passes now (:class:`~probe.engine.due.DueQueue`); the gauge moves by one per canary that becomes or
stops being overdue.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from probe.engine.deadlines import Deadlines
from probe.engine.due import DueQueue
from probe.hops import Channel, Hop
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import due_at, first_missing, source_ok_at
from probe.metrics.metric_set import Metrics

Place = tuple[tuple[Channel, str], Hop]


class Overdue:
    """Which open canaries are overdue, where, and the gauge of them."""

    def __init__(self, deadlines: Deadlines, metrics: Metrics) -> None:
        self._deadlines = deadlines
        self._metrics = metrics
        self._due = DueQueue[str]()
        self._records: dict[str, CanaryRecord] = {}
        self._overdue: dict[str, Place] = {}
        self._counts: collections.Counter[Place] = collections.Counter()

    def advance(self, changed: Iterable[CanaryRecord], now: float) -> None:
        """Reconsider the ``changed`` records and those whose usual latency or deadline passed."""
        for record in changed:
            self._consider(record, now)
        for canary_id in self._due.pop_due(now):
            due = self._records.get(canary_id)
            if due is not None:
                self._consider(due, now)

    def overdue(self, key: tuple[Channel, str], hop: Hop) -> int:
        """How many of the route's canaries are overdue at ``hop``."""
        return self._counts[(key, hop)]

    def _consider(self, record: CanaryRecord, now: float) -> None:
        hop = first_missing(record) if record.verdict is None else None
        bounds = self._deadlines.of(record.route_key)
        usual = bounds.usual_at(record, hop) if bounds is not None and hop is not None else None
        if hop is None or usual is None:
            self._forget(record)
            return
        due = due_at(record, hop)
        self._records[record.id] = record
        if now < usual:
            self._set(record, None)
            self._due.schedule(record.id, usual)
        elif now < due:
            # Overdue on the evidence of a look made once it was (the status checks make one then, the
            # read-back's next batch for ``registered``), never of an older one: a canary already
            # there, not yet seen, is no warning.
            looked = source_ok_at(record, hop)
            seen_missing = looked is not None and looked >= usual
            self._set(record, (record.route_key, hop) if seen_missing else None)
            self._due.schedule(record.id, due)
        else:
            # Past due: the verdict decides now, and the warning has done its work.
            self._forget(record)

    def _forget(self, record: CanaryRecord) -> None:
        self._set(record, None)
        self._due.cancel(record.id)
        self._records.pop(record.id, None)

    def _set(self, record: CanaryRecord, place: Place | None) -> None:
        was = self._overdue.get(record.id)
        if was == place:
            return
        if was is not None:
            del self._overdue[record.id]
            self._counts[was] -= 1
            self._metrics.set_overdue(was[0], was[1], self._counts[was])
        if place is not None:
            self._overdue[record.id] = place
            self._counts[place] += 1
            self._metrics.set_overdue(place[0], place[1], self._counts[place])
