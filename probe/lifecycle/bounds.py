"""Learned deadlines: each route's bound per hop, from its own delivered history.

A broken route cannot be known before the first canary sent after the break has been outstanding longer
than a healthy one ever is; a fixed deadline waits much longer than that. So each route learns, per hop,
the latencies of the canaries it delivered (time from sending to reaching the hop: wall-clock seconds for
a machine's hop, office seconds for a person's, :meth:`probe.config.routes.Route.in_office_time`) and
bounds the hop at ``margin`` times a high quantile of them (:class:`probe.config.routes.Learning`),
clamped between the learning's ``minimum`` and the configured deadline. Until ``min_samples`` canaries
were delivered the configured deadline holds (the cold start), and so it does for a route without
learning. The quantile without the margin is the hop's *usual* latency: a canary past it is overdue.

Bounds are fixed into each canary when it is sent (:meth:`RouteBounds.due`), so a verdict does not move
with later history and the ledger says when each hop was due.
"""

from __future__ import annotations

import bisect
import collections
import math
from collections.abc import Iterable, Mapping

from probe.config.routes import Route
from probe.hops import Channel, Hop, Verdict, hops_until
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at, needed_hops

# A route is silent when nothing was delivered for its final hop's deadline plus this many send
# intervals: one interval for the canary sent just after the last delivery, one for the next's chance.
SILENT_INTERVALS = 2


class HopLatencies:
    """A bounded window of one hop's latencies, kept sorted for its quantiles."""

    def __init__(self, size: int) -> None:
        self._order: collections.deque[float] = collections.deque()
        self._sorted: list[float] = []
        self._size = size

    def __len__(self) -> int:
        return len(self._order)

    def add(self, latency: float) -> None:
        """Keep ``latency``, forgetting the oldest beyond the window."""
        self._order.append(latency)
        bisect.insort(self._sorted, latency)
        if len(self._order) > self._size:
            oldest = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (nearest rank: a latency that was seen; ``q`` of 1 is the largest)."""
        rank = max(1, math.ceil(q * len(self._sorted)))
        return self._sorted[min(rank, len(self._sorted)) - 1]


class RouteBounds:
    """One route's learned latencies per hop and the bounds they give.

    ``shared`` holds, per hop, the latencies of every route through the same parties (channel and
    vendor, :func:`route_bounds`): a machine's long tail is the party's, not the municipality's, and the
    longest wait for people's next look at the inbox is a matter of the working day; a route's own few
    days rarely hold either. The hop's usual latency is then the larger of the route's own quantile and
    the shared one.
    """

    def __init__(self, route: Route, shared: Mapping[Hop, HopLatencies] | None = None) -> None:
        self.route = route
        self._hops = hops_until(route.channel, route.final_hop)
        size = route.learning.samples if route.learning else 0
        self._latencies = {hop: HopLatencies(size) for hop in self._hops}
        self._shared = {hop: latencies for hop, latencies in (shared or {}).items() if hop in self._hops}

    def latency(self, record: CanaryRecord, hop: Hop) -> float | None:
        """How long after sending ``record`` reached ``hop``, on the hop's clock; ``None`` if it did not."""
        reached = record.hops.get(hop)
        if reached is None:
            return None
        office = self.route.office_hours
        if office is not None and self.route.in_office_time(hop):
            return office.elapsed(record.created_at, reached)
        return max(0.0, reached - record.created_at)

    def learn(self, record: CanaryRecord) -> bool:
        """Take in a canary that was delivered (in time, every needed hop seen); ``False`` if it says
        nothing about the route's healthy latency (not delivered, sent unconfirmed, another final hop)."""
        if (
            self.route.learning is None
            or record.verdict is not Verdict.DELIVERED
            or record.unconfirmed
            or delivered_at(record) is None
            or needed_hops(record) != self._hops
        ):
            return False
        for hop in self._hops:
            latency = self.latency(record, hop)
            if latency is not None:
                self._latencies[hop].add(latency)
                shared = self._shared.get(hop)
                if shared is not None:
                    shared.add(latency)
        return True

    def learn_all(self, records: Iterable[CanaryRecord]) -> None:
        """Take in a history, oldest first (a restart's view of the ledger)."""
        for record in sorted(records, key=lambda r: r.created_at):
            self.learn(record)

    def learned(self, hop: Hop) -> bool:
        """Whether ``hop``'s bound comes from history rather than the configured deadline."""
        learning = self.route.learning
        return learning is not None and len(self._latencies.get(hop, ())) >= learning.min_samples

    def usual(self, hop: Hop) -> float | None:
        """The hop's usual latency (the learning quantile, no margin); ``None`` while cold."""
        learning = self.route.learning
        if learning is None or not self.learned(hop):
            return None
        own = self._latencies[hop].quantile(learning.quantile)
        shared = self._shared.get(hop)
        return own if shared is None else max(own, shared.quantile(learning.quantile))

    def bound(self, hop: Hop, slowdown: float = 1.0) -> float:
        """How long after sending ``hop`` may take on this route, on the hop's clock; ``slowdown`` times
        longer while the hop's party is slow (:mod:`probe.lifecycle.slowdown`), never past the deadline."""
        learning = self.route.learning
        usual = self.usual(hop)
        if learning is None or usual is None:
            return self.route.deadline
        margin = learning.office_margin if self.route.in_office_time(hop) else learning.margin
        return min(self.route.deadline, max(learning.minimum, usual * margin * slowdown))

    def ratios(self, record: CanaryRecord) -> dict[Hop, float]:
        """For a delivered canary, how many times its route's median latency it took to each learned
        machine hop (what it says about its parties' speed; taken before it is learned)."""
        ratios: dict[Hop, float] = {}
        for hop in self._hops:
            if self.route.in_office_time(hop) or not self.learned(hop):
                continue
            latency = self.latency(record, hop)
            median = self._latencies[hop].quantile(0.5)
            if latency is not None and median > 0:
                ratios[hop] = latency / median
        return ratios

    def stretched_due(self, record: CanaryRecord, hop: Hop, slowdown: float) -> float | None:
        """When ``hop`` is due for ``record`` while the hop is ``slowdown`` times slower than usual;
        ``None`` where a slowdown changes nothing (a person's hop, a cold or fixed bound)."""
        if self.route.in_office_time(hop) or not self.learned(hop):
            return None
        return self.instant(record.created_at, hop, self.bound(hop, slowdown))

    def instant(self, created_at: float, hop: Hop, seconds: float) -> float:
        """The instant ``seconds`` after ``created_at`` on ``hop``'s clock."""
        office = self.route.office_hours
        if office is not None and self.route.in_office_time(hop):
            return office.advance(created_at, seconds)
        return created_at + seconds

    def due(self, created_at: float) -> dict[Hop, float]:
        """When each hop of a canary sent at ``created_at`` is due (fixed into the canary)."""
        return {hop: self.instant(created_at, hop, self.bound(hop)) for hop in self._hops}

    def usual_at(self, record: CanaryRecord, hop: Hop) -> float | None:
        """When ``record`` becomes overdue at ``hop`` (its usual latency passed); ``None`` while cold."""
        usual = self.usual(hop)
        return None if usual is None else self.instant(record.created_at, hop, usual)

    def silence_limit(self, now: float) -> float:
        """How long, in wall seconds before ``now``, the route may have gone without a delivery: the
        final hop's bound as it falls now (ending now, across closed office hours for a person's hop),
        plus :data:`SILENT_INTERVALS` send intervals, plus the route's ``normal_latency``: the last
        delivery is dated when its canary arrived, which Kanari learns only at the canary's first check,
        up to ``normal_latency`` after it was sent (an Altinn canary fetched on Monday morning may be
        seen hours later)."""
        final = self._hops[-1]
        bound = self.bound(final)
        office = self.route.office_hours
        span = bound
        if office is not None and self.route.in_office_time(final):
            span = now - office.rewind(now, bound)
        return span + SILENT_INTERVALS * self.route.interval + (self.route.normal_latency or 0.0)

    @property
    def hops(self) -> tuple[Hop, ...]:
        """The hops a canary on the route must reach."""
        return self._hops


def route_bounds(routes: Iterable[Route]) -> dict[tuple[Channel, str], RouteBounds]:
    """Every route's bounds, the learning routes of one channel and vendor sharing each hop's latencies
    (a window as long as all their own windows together; a hop counted in office time on some routes
    and on the wall clock on others is shared only among routes that count it alike)."""
    routes = list(routes)
    sizes: dict[tuple[Channel, str, Hop, bool], int] = collections.Counter()
    for route in routes:
        if route.learning is not None:
            for hop in hops_until(route.channel, route.final_hop):
                sizes[(route.channel, route.vendor, hop, route.in_office_time(hop))] += route.learning.samples
    shared = {group: HopLatencies(size) for group, size in sizes.items()}
    return {
        route.key: RouteBounds(
            route,
            {
                hop: shared[(route.channel, route.vendor, hop, route.in_office_time(hop))]
                for hop in hops_until(route.channel, route.final_hop)
                if route.learning is not None
            },
        )
        for route in routes
    }
