"""The engine's incidents: each route's state (:mod:`probe.lifecycle.incidents`), moved by every verdict,
saved with it and shown as gauges once committed.

:class:`~probe.engine.open_canaries.OpenCanaries` is the one path every verdict takes to the ledger, so
it is the one caller: at each flush it asks :meth:`IncidentBook.prepare` what the canaries judged since
the last flush do to their routes' incidents (in verdict order), saves those incidents in the same
transaction as the records, and only if that committed makes the new state current
(:meth:`IncidentBook.commit`) and moves the gauges. A failed write changes nothing here: the same
verdicts are prepared again with the next flush.

At start :meth:`IncidentBook.restore` reads each route's state back from the ledger (its newest incident,
open or not, and the delivered send times a coming verdict can still need), given the open canaries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from probe.hops import Channel
from probe.ledger.store import LedgerStore
from probe.lifecycle import incidents
from probe.lifecycle.incidents import RouteIncidents, TrackedIncident
from probe.lifecycle.record import UNRESOLVED, CanaryRecord
from probe.metrics.metric_set import Metrics

RouteKey = tuple[Channel, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Pending:
    """What one flush would make of the routes it touches, not yet committed."""

    states: dict[RouteKey, RouteIncidents]
    changed: tuple[TrackedIncident, ...]
    records: tuple[CanaryRecord, ...]


class IncidentBook:
    """Every route's incident state; ``retention`` is KS's (``ks_retention``)."""

    def __init__(self, metrics: Metrics, retention: float) -> None:
        self._metrics = metrics
        self._retention = retention
        self._routes: dict[RouteKey, RouteIncidents] = {}
        # Send times of each route's unresolved canaries, by id: the oldest bounds what is kept.
        self._unresolved: dict[RouteKey, dict[str, float]] = {}

    def restore(self, ledger: LedgerStore, records: Iterable[CanaryRecord]) -> None:
        """Take up the ledger's incidents at start; ``records`` are the open canaries being loaded."""
        self._track(records)
        since = {key: min(times.values()) for key, times in self._unresolved.items() if times}
        self._routes = ledger.incident_state(since)
        for state in self._routes.values():
            if state.last is not None and state.last.incident.open:
                self._metrics.incidents.show(state.last.incident)

    def open_incidents(self) -> list[TrackedIncident]:
        """Every route's open incident."""
        return [
            state.last
            for state in self._routes.values()
            if state.last is not None and state.last.incident.open
        ]

    def prepare(self, records: Iterable[CanaryRecord], judged: Iterable[CanaryRecord]) -> Pending:
        """What the flush of ``records`` (every changed one) does, ``judged`` being those of them that
        got their verdict since the last flush: applied in verdict order."""
        records = tuple(records)
        states: dict[RouteKey, RouteIncidents] = {}
        changed: dict[str, TrackedIncident] = {}

        def state_of(key: RouteKey) -> RouteIncidents:
            return states.get(key) or self._routes.get(key) or RouteIncidents()

        for record in records:
            states[record.route_key] = incidents.sent(state_of(record.route_key), record.created_at)
        for record in sorted(judged, key=lambda r: r.verdict_at or 0.0):
            change = incidents.judged(state_of(record.route_key), record, self._retention)
            states[record.route_key] = change.state
            for tracked in change.changed:
                changed[tracked.incident.id] = tracked
        return Pending(states, tuple(changed.values()), records)

    def commit(self, pending: Pending) -> None:
        """The flush ``pending`` was prepared for committed: its state is current, its gauges move."""
        self._track(pending.records)
        for key, state in pending.states.items():
            times = self._unresolved.get(key)
            self._routes[key] = incidents.pruned(state, min(times.values()) if times else None)
        # Only a route's newest incident can be open: it is what its gauges show (an older one that a
        # late verdict created is closed from the start).
        for key in {(t.incident.channel, t.incident.municipality) for t in pending.changed}:
            last = self._routes[key].last
            if last is not None:
                self._metrics.incidents.show(last.incident)

    def _track(self, records: Iterable[CanaryRecord]) -> None:
        for record in records:
            times = self._unresolved.setdefault(record.route_key, {})
            if record.state in UNRESOLVED:
                times[record.id] = record.created_at
            else:
                times.pop(record.id, None)
