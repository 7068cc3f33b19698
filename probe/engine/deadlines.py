"""The engine's learned deadlines: every route's :class:`~probe.lifecycle.bounds.RouteBounds`, fixed into
each canary it sends, taught by each canary it delivers, restored from the ledger at start and shown as
``kanari_route_deadline_seconds`` and ``kanari_route_silence_limit_seconds``.

The silence limit of a route whose final hop counts in office time changes with the time of day (on a
Friday afternoon it spans the weekend), so it is refreshed once a minute; the silence alert waits far
longer than that.
"""

from __future__ import annotations

from collections.abc import Iterable

from probe.config.routes import Route
from probe.hops import Channel, Hop
from probe.ledger.store import LedgerStore
from probe.lifecycle.bounds import RouteBounds, route_bounds
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.slowdown import Slowdown
from probe.lifecycle.verdict import due_at, first_late, first_missing
from probe.metrics.metric_set import Metrics

SILENCE_REFRESH = 60.0


class Deadlines:
    """Every configured route's bounds, learning as canaries are delivered."""

    def __init__(self, routes: Iterable[Route], metrics: Metrics) -> None:
        self._bounds = route_bounds(routes)
        self._metrics = metrics
        self._office_final = [
            bounds for bounds in self._bounds.values() if bounds.route.in_office_time(bounds.hops[-1])
        ]
        self._silence_at = float("-inf")
        self._slowdown = Slowdown()
        # The (channel, hop, vendor) a slowdown can stretch: machine hops of learning routes.
        self._slow_groups = sorted(
            {
                (bounds.route.channel, hop, bounds.route.vendor)
                for bounds in self._bounds.values()
                if bounds.route.learning is not None
                for hop in bounds.hops
                if not bounds.route.in_office_time(hop)
            }
        )

    def of(self, key: tuple[Channel, str]) -> RouteBounds | None:
        """The bounds of a configured route (``None`` for one that left the configuration)."""
        return self._bounds.get(key)

    def due(self, route: Route, now: float) -> dict[Hop, float]:
        """When each hop of a canary sent on ``route`` at ``now`` is due."""
        bounds = self._bounds.get(route.key)
        return bounds.due(now) if bounds is not None else {}

    def restore(self, ledger: LedgerStore) -> int:
        """Learn again from each learning route's newest delivered canaries; how many were read."""
        return relearn(self._bounds.values(), ledger)

    def learned(self) -> dict[tuple[Channel, str], dict[Hop, float]]:
        """Per route, the bounds of its hops learned so far (the status page shows them)."""
        return learned_bounds(self._bounds.values())

    def delivered(self, record: CanaryRecord) -> None:
        """A canary was delivered: it tells how fast its hops' parties are now, its route learns from
        it, and its bounds are shown anew."""
        bounds = self._bounds.get(record.route_key)
        if bounds is None or bounds.route.vendor != record.vendor:
            return
        at = record.verdict_at if record.verdict_at is not None else record.created_at
        for hop, ratio in bounds.ratios(record).items():
            self._slowdown.observe(record.channel, hop, record.vendor, ratio, at)
        if bounds.learn(record):
            self._show(bounds)

    def usual_at(self, record: CanaryRecord, hop: Hop) -> float | None:
        """When ``record`` becomes overdue at ``hop`` (``None`` while its route is cold there)."""
        bounds = self._bounds.get(record.route_key)
        return bounds.usual_at(record, hop) if bounds is not None else None

    def stretch(self, record: CanaryRecord, now: float) -> tuple[Hop, float] | None:
        """A later due time for the hop ``record`` is late at, when that hop's party is slow today
        (:mod:`probe.lifecycle.slowdown`) and the stretched bound has not passed yet; else ``None``."""
        hop = first_missing(record) or first_late(record)
        bounds = self._bounds.get(record.route_key)
        if hop is None or bounds is None or now < due_at(record, hop):
            return None
        # A slow hop slows every later one (their latencies include it, diluted by their own): the
        # slowest of the hops up to this one speaks for it.
        upto = bounds.hops[: bounds.hops.index(hop) + 1] if hop in bounds.hops else (hop,)
        slowdown = max(self._slowdown.factor(record.channel, each, record.vendor, now) for each in upto)
        if slowdown <= 1.0:
            return None
        at = bounds.stretched_due(record, hop, slowdown)
        if at is None or at <= due_at(record, hop):
            return None
        return hop, at

    def show_all(self, now: float) -> None:
        """Show every route's bounds and silence limit (at start)."""
        for bounds in self._bounds.values():
            self._show(bounds)
            self._metrics.set_silence_limit(bounds.route.key, bounds.silence_limit(now))
        for channel, hop, vendor in self._slow_groups:
            self._metrics.set_slowdown(channel, hop, vendor, 1.0)
        self._silence_at = now

    def refresh(self, now: float) -> None:
        """Move the silence limits that follow office hours and show each hop's slowdown, once a
        minute."""
        if now - self._silence_at < SILENCE_REFRESH:
            return
        self._silence_at = now
        for bounds in self._office_final:
            self._metrics.set_silence_limit(bounds.route.key, bounds.silence_limit(now))
        for channel, hop, vendor in self._slow_groups:
            self._metrics.set_slowdown(channel, hop, vendor, self._slowdown.factor(channel, hop, vendor, now))

    def _show(self, bounds: RouteBounds) -> None:
        key = bounds.route.key
        for hop in bounds.hops:
            self._metrics.set_route_bound(key, hop, bounds.bound(hop))
        if bounds not in self._office_final:
            # A wall-clock limit changes only with the bounds; an office-time one at the next refresh.
            self._metrics.set_silence_limit(key, bounds.silence_limit(0.0))


def relearn(routes: Iterable[RouteBounds], ledger: LedgerStore) -> int:
    """Teach each learning route its newest delivered canaries from ``ledger``; how many were read."""
    read = 0
    for bounds in routes:
        learning = bounds.route.learning
        if learning is None:
            continue
        history = ledger.delivered_history(bounds.route.channel, bounds.route.kommunenummer, learning.samples)
        bounds.learn_all(history)
        read += len(history)
    return read


def learned_bounds(routes: Iterable[RouteBounds]) -> dict[tuple[Channel, str], dict[Hop, float]]:
    """Per route, the bound of each hop that is learned (not the cold start's configured deadline)."""
    result: dict[tuple[Channel, str], dict[Hop, float]] = {}
    for bounds in routes:
        hops = {hop: bounds.bound(hop) for hop in bounds.hops if bounds.learned(hop)}
        if hops:
            result[bounds.route.key] = hops
    return result


def learned_from_ledger(
    routes: Iterable[Route], ledger: LedgerStore
) -> dict[tuple[Channel, str], dict[Hop, float]]:
    """What the probe learned on ``routes``, worked out again from ``ledger`` (``kanari status``)."""
    bounds = list(route_bounds(routes).values())
    relearn(bounds, ledger)
    return learned_bounds(bounds)
