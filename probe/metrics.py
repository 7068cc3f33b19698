"""The metric set of DESIGN section 4, built on a given ``CollectorRegistry``.

Labels are bounded: ``municipality`` is the kommunenummer, ``vendor`` the vendor id; never canary ids,
URLs, person ids or error text. Every configured route's children are created at start (so a route that
has never failed shows 0, not nothing) and removed when the route leaves the configuration.

Counters that describe canaries are *derived from ledger records*: :func:`counter_keys` says which
counter children a record contributes to, the engine increments the difference when a record changes,
and :meth:`Metrics.restore` rebuilds the same totals from the ledger at start. A restart therefore
neither loses nor double-counts, and counters never go backwards (which would look like a reset to
Prometheus and spike every ``rate()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from probe import __version__
from probe.config.routes import Route
from probe.errors import Reason
from probe.hops import HOPS, Channel, Hop, Owner, Verdict
from probe.ledger import CanaryRecord

# ``*_created`` series double the scrape for nothing Kanari's alerts or dashboards use.
disable_created_metrics()  # type: ignore[no-untyped-call]

CounterKey = tuple[str, tuple[str, ...]]
"""(counter name without prefix, label values after channel/municipality/vendor)."""


def counter_keys(record: CanaryRecord) -> set[CounterKey]:
    """The canary counters ``record`` contributes one to. Fields only ever get set, so the set only
    grows; ``probe.ledger.Ledger.counts`` computes the same from SQL."""
    keys: set[CounterKey] = set()
    if record.state != "intent":
        keys.add(("sent", ()))
    if record.failure_reason is not None:
        keys.add(("send_failures", (record.failure_reason,)))
    if record.verdict is not None:
        keys.add(("resolved", (record.verdict.value,)))
        if record.verdict in (Verdict.LOST, Verdict.FAILED) and record.blamed_hop and record.blamed_owner:
            keys.add(("undelivered", (record.blamed_hop.value, record.blamed_owner.value)))
        if record.verdict is Verdict.FAILED and record.failure_reason is None:
            keys.add(("rejections", ()))
    if record.late_at is not None:
        keys.add(("late_arrivals", ()))
    if record.duplicate:
        keys.add(("duplicates", ()))
    return keys


def geometric_buckets(smallest: float, largest: float) -> tuple[float, ...]:
    """Bucket bounds doubling from ``smallest`` (the poll period: nothing is resolved finer) up to
    ``largest`` (the longest deadline: nothing delivered takes longer), plus ``largest`` itself."""
    bounds = []
    bound = smallest
    while bound < largest:
        bounds.append(round(bound, 3))
        bound *= 2
    bounds.append(round(largest, 3))
    return tuple(bounds)


class Metrics:
    """Kanari's metrics on ``registry``."""

    def __init__(
        self, registry: CollectorRegistry, buckets: tuple[float, ...], version: str = __version__
    ) -> None:
        route = ["channel", "municipality", "vendor"]
        self.registry = registry
        self.sent = Counter(
            "kanari_canaries_sent", "Canaries whose send attempt concluded.", route, registry=registry
        )
        self.send_failures = Counter(
            "kanari_send_failures",
            "Canary sends that failed, by bounded reason.",
            [*route, "reason"],
            registry=registry,
        )
        self.resolved = Counter(
            "kanari_canaries_resolved",
            "Canaries that reached a verdict.",
            [*route, "verdict"],
            registry=registry,
        )
        self.undelivered = Counter(
            "kanari_undelivered",
            "Lost or failed canaries by the first hop they did not reach and its owner.",
            [*route, "hop", "owner"],
            registry=registry,
        )
        self.late_arrivals = Counter(
            "kanari_late_arrivals",
            "Lost canaries that turned up after their deadline.",
            route,
            registry=registry,
        )
        self.rejections = Counter(
            "kanari_rejections",
            "Canaries the upstream itself ended as failed: on the portal rejected by the fagsystem and "
            "sent as paper post, on Altinn status Failed.",
            route,
            registry=registry,
        )
        self.duplicates = Counter(
            "kanari_duplicates",
            "Canaries registered more than once by the receiving system.",
            route,
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "kanari_delivery_seconds",
            "Time from sending to the final hop of delivered canaries.",
            ["channel", "vendor"],
            buckets=buckets,
            registry=registry,
        )
        self.hop_seconds = Histogram(
            "kanari_hop_seconds",
            "Time from sending to reaching each hop.",
            ["channel", "hop"],
            buckets=buckets,
            registry=registry,
        )
        self.last_delivery_seconds = Gauge(
            "kanari_last_delivery_seconds",
            "Latency of the newest delivered canary.",
            route,
            registry=registry,
        )
        self.last_delivered_timestamp = Gauge(
            "kanari_last_delivered_timestamp_seconds",
            "When the newest delivered canary arrived.",
            route,
            registry=registry,
        )
        self.in_flight = Gauge(
            "kanari_in_flight", "Canaries sent and not yet resolved.", ["channel"], registry=registry
        )
        self.oldest_in_flight = Gauge(
            "kanari_oldest_in_flight_sent_timestamp_seconds",
            "When the oldest unresolved canary was sent.",
            ["channel"],
            registry=registry,
        )
        self.check_failures = Counter(
            "kanari_check_failures",
            "Checks that could not look (status or read-back), by bounded reason.",
            ["channel", "target", "reason"],
            registry=registry,
        )
        self.route_info = Gauge(
            "kanari_route_info",
            "One per monitored route, carrying its descriptive labels.",
            ["channel", "municipality", "municipality_name", "county", "vendor", "final_hop"],
            registry=registry,
        )
        self.route_interval = Gauge(
            "kanari_route_interval_seconds",
            "How often the route sends a canary (so alert thresholds can follow each route's own timing).",
            ["channel", "municipality"],
            registry=registry,
        )
        self.route_deadline = Gauge(
            "kanari_route_deadline_seconds",
            "How long after sending a canary on the route must reach its final hop.",
            ["channel", "municipality"],
            registry=registry,
        )
        self.heartbeat = Gauge(
            "kanari_heartbeat_timestamp_seconds", "The scheduler's last tick.", registry=registry
        )
        self.build_info = Gauge("kanari_build_info", "Kanari's version.", ["version"], registry=registry)
        self.build_info.labels(version).set(1)
        self.scheduler_lag = Histogram(
            "kanari_scheduler_lag_seconds",
            "How late sends start after their planned time; growth means the probe is saturated.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.marker_rejections = Counter(
            "kanari_marker_rejections",
            "Read-back entries whose marker failed verification (forged, altered, expired, unknown key).",
            ["channel", "vendor"],
            registry=registry,
        )
        self._routes: dict[tuple[Channel, str], Route] = {}
        # Every labelled child made for a route, so removing the route removes exactly those.
        self._children: dict[tuple[Channel, str], set[tuple[Counter | Gauge, tuple[str, ...]]]] = {}
        self._last_delivered: dict[tuple[Channel, str], float] = {}
        self._counters: dict[str, Counter] = {
            "sent": self.sent,
            "send_failures": self.send_failures,
            "resolved": self.resolved,
            "undelivered": self.undelivered,
            "late_arrivals": self.late_arrivals,
            "duplicates": self.duplicates,
            "rejections": self.rejections,
        }

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Create the children of every route in ``routes`` and remove those of routes that left."""
        wanted = {route.key: route for route in routes}
        for key, route in list(self._routes.items()):
            if key not in wanted or wanted[key] != route:
                self._remove_route(route)
                del self._routes[key]
        for key, route in wanted.items():
            if key not in self._routes:
                self._add_route(route)
                self._routes[key] = route
        for channel in Channel:
            self.in_flight.labels(channel.value)
            self.oldest_in_flight.labels(channel.value)
            # Pre-created so that increase() sees a check failure's first occurrence too.
            for target in (channel.value, "readback"):
                for reason in Reason:
                    self.check_failures.labels(channel.value, target, reason.value)

    def _route_children(self, route: Route) -> list[tuple[Counter | Gauge, tuple[str, ...]]]:
        labels = (route.channel.value, route.kommunenummer, route.vendor)
        children: list[tuple[Counter | Gauge, tuple[str, ...]]] = [
            (self.sent, labels),
            (self.late_arrivals, labels),
            (self.duplicates, labels),
            (self.last_delivery_seconds, labels),
            (self.last_delivered_timestamp, labels),
            (self.rejections, labels),
        ]
        children += [(self.resolved, (*labels, verdict.value)) for verdict in Verdict]
        children += [(self.send_failures, (*labels, reason.value)) for reason in Reason]
        blame = {(hop, owner) for hop, owner in HOPS[route.channel]} | {(Hop.ACCEPTED, Owner.OPS)}
        children += [(self.undelivered, (*labels, hop.value, owner.value)) for hop, owner in sorted(blame)]
        return children

    def _add_route(self, route: Route) -> None:
        children = set(self._route_children(route))
        children.add((self.route_info, self._info_labels(route)))
        for metric, labels in children:
            metric.labels(*labels)
        self.route_info.labels(*self._info_labels(route)).set(1)
        timing = (route.channel.value, route.kommunenummer)
        self.route_interval.labels(*timing).set(route.interval)
        self.route_deadline.labels(*timing).set(route.deadline)
        children |= {(self.route_interval, timing), (self.route_deadline, timing)}
        self._children[route.key] = children
        for hop in (hop for hop, _ in HOPS[route.channel]):
            self.hop_seconds.labels(route.channel.value, hop.value)
        self.delivery_seconds.labels(route.channel.value, route.vendor)

    def _remove_route(self, route: Route) -> None:
        for metric, labels in self._children.pop(route.key, set()):
            metric.remove(*labels)
        self._last_delivered.pop(route.key, None)

    @staticmethod
    def _info_labels(route: Route) -> tuple[str, ...]:
        return (
            route.channel.value,
            route.kommunenummer,
            route.municipality_name,
            route.county,
            route.vendor,
            route.final_hop.value,
        )

    def count(self, record: CanaryRecord, keys: Iterable[CounterKey]) -> None:
        """Add one to each counter child in ``keys`` for ``record``'s route (if still configured)."""
        route = self._routes.get(record.route_key)
        if route is None or route.vendor != record.vendor:
            return
        labels = (record.channel.value, record.municipality, record.vendor)
        for name, extra in keys:
            self._increment(route, name, (*labels, *extra), 1)

    def _increment(self, route: Route, name: str, labels: tuple[str, ...], value: int) -> None:
        counter = self._counters[name]
        counter.labels(*labels).inc(value)
        self._children[route.key].add((counter, labels))

    def restore(self, counts: Mapping[tuple[str, str, str, str, str, str], int]) -> None:
        """Set counters from ledger totals at start (only for routes that are configured now)."""
        for (name, channel, municipality, vendor, label_a, label_b), value in counts.items():
            route = self._routes.get((Channel(channel), municipality))
            if route is None or route.vendor != vendor or value <= 0:
                continue
            extra = tuple(label for label in (label_a, label_b) if label)
            self._increment(route, name, (channel, municipality, vendor, *extra), value)

    def delivered(self, record: CanaryRecord, delivered_at: float) -> None:
        """A canary was delivered at ``delivered_at``: latency histogram and last-delivery gauges."""
        latency = max(0.0, delivered_at - record.created_at)
        self.delivery_seconds.labels(record.channel.value, record.vendor).observe(latency)
        self.set_last_delivery(record, delivered_at)

    def set_last_delivery(self, record: CanaryRecord, delivered_at: float) -> None:
        """Set the last-delivery gauges of the record's route (also used when rebuilding at start)."""
        route = self._routes.get(record.route_key)
        if route is None or route.vendor != record.vendor:
            return
        if delivered_at < self._last_delivered.get(route.key, 0.0):
            return
        self._last_delivered[route.key] = delivered_at
        labels = (record.channel.value, record.municipality, record.vendor)
        self.last_delivered_timestamp.labels(*labels).set(delivered_at)
        self.last_delivery_seconds.labels(*labels).set(max(0.0, delivered_at - record.created_at))

    def hop_reached(self, record: CanaryRecord, hop: Hop, reached_at: float) -> None:
        """A canary reached ``hop`` at ``reached_at``."""
        self.hop_seconds.labels(record.channel.value, hop.value).observe(
            max(0.0, reached_at - record.created_at)
        )
