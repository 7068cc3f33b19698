"""The metric set of DESIGN section 4, built on a given ``CollectorRegistry``.

Labels are bounded: ``municipality`` is the kommunenummer, ``vendor`` the vendor id; never canary ids,
URLs, person ids or error text. Every configured route's children are created at start (so a route that
has never failed shows 0, not nothing) and removed when the route leaves the configuration.

Counters that describe canaries are *derived from ledger records*: :func:`probe.lifecycle.counters.
counter_keys` says which counter children a record contributes to, the engine increments the difference
when a record changes, and :meth:`Metrics.restore` sets the same totals from the ledger's counters at
start. A restart therefore neither loses nor double-counts, and counters never go backwards (which would
look like a reset to Prometheus and spike every ``rate()``).

The per-route series live in one cached collector (:mod:`probe.metrics.exposition`); everything else is
an ordinary prometheus_client metric, beside prometheus_client's process metrics (``process_*``: CPU,
memory, file descriptors, start time) and ``python_info``. The engine only ever calls the methods of
:class:`Metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from probe import __version__
from probe.config.routes import Route
from probe.errors import Reason
from probe.hops import HOPS, Channel, Hop, Owner, Verdict, hops_until, owner_of
from probe.lifecycle import counters
from probe.lifecycle.bounds import SILENT_INTERVALS
from probe.lifecycle.counters import CounterKey
from probe.lifecycle.record import CanaryRecord
from probe.metrics.exposition import Exposition, RouteSeries, Series, Volatile
from probe.metrics.families import FAMILIES, LABEL_SETS
from probe.metrics.incident_gauges import IncidentGauges, incident_children


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
    """Kanari's metrics on ``registry``. The engine only calls its methods; the prometheus_client objects
    stay inside."""

    def __init__(
        self, registry: CollectorRegistry, buckets: tuple[float, ...], version: str = __version__
    ) -> None:
        # ``*_created`` series double the scrape for nothing Kanari's alerts or dashboards use. The
        # switch is prometheus_client's own and process-wide: the probe is the process's only exporter.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry
        self._series = RouteSeries(FAMILIES, LABEL_SETS)
        registry.register(self._series)
        # The process's CPU time and memory change on every read: kept out of what the gzip cache
        # compares (see Exposition), or no body would ever be served twice.
        process = Volatile(ProcessCollector(registry=None))
        registry.register(process)
        PlatformCollector(registry=registry)
        # What ``/metrics`` serves: the text, and its gzip kept while nothing changed.
        self.served = Exposition(registry, self._series, process)
        self._delivery_seconds = Histogram(
            "kanari_delivery_seconds",
            "Time from sending to the final hop of delivered canaries.",
            ["channel", "vendor"],
            buckets=buckets,
            registry=registry,
        )
        self._hop_seconds = Histogram(
            "kanari_hop_seconds",
            "Time from sending to reaching each hop.",
            ["channel", "hop"],
            buckets=buckets,
            registry=registry,
        )
        self._in_flight = Gauge(
            "kanari_in_flight", "Canaries sent and not yet resolved.", ["channel"], registry=registry
        )
        self._oldest_in_flight = Gauge(
            "kanari_oldest_in_flight_sent_timestamp_seconds",
            "When the oldest unresolved canary was sent.",
            ["channel"],
            registry=registry,
        )
        self._check_failures = Counter(
            "kanari_check_failures",
            "Checks that could not look (status or read-back), by bounded reason.",
            ["channel", "target", "reason"],
            registry=registry,
        )
        self._slowdown = Gauge(
            "kanari_slowdown_ratio",
            "How many times slower than their routes' usual latency the canaries of this vendor (or of the "
            "whole channel, the larger) delivered through the hop in the last hour; 1 when not slow. A "
            "canary late at a slow hop is given its deadline times this, never past the configured one.",
            ["channel", "hop", "vendor"],
            registry=registry,
        )
        self._heartbeat = Gauge(
            "kanari_heartbeat_timestamp_seconds", "The scheduler's last tick.", registry=registry
        )
        self._ledger_writable = Gauge(
            "kanari_ledger_writable",
            "1 while the ledger takes writes; 0 after a failed write (disk full, I/O error): nothing is sent",
            registry=registry,
        )
        self._ledger_writable.set(1)
        build_info = Gauge("kanari_build_info", "Kanari's version.", ["version"], registry=registry)
        build_info.labels(version).set(1)
        self._scheduler_lag = Histogram(
            "kanari_scheduler_lag_seconds",
            "How late sends start after their planned time; growth means the probe is saturated.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self._hop_time_reading_errors = Counter(
            "kanari_hop_time_reading_errors",
            "Upstream hop times that read earlier than the send (a wrong time zone or clock), taken as the "
            "time of the check instead.",
            ["channel", "hop"],
            registry=registry,
        )
        self._marker_rejections = Counter(
            "kanari_marker_rejections",
            "Read-back entries whose marker failed verification (forged, altered, expired, unknown key).",
            ["channel", "vendor"],
            registry=registry,
        )
        self._leader = Gauge(
            "kanari_leader",
            "1 on the replica that leads (sends, ticks, counts), 0 on a standby ready to take over.",
            registry=registry,
        )
        # A probe leads from its start unless told it stands by: on SQLite the ledger's lock already
        # makes it the only sender.
        self._leader.set(1)
        self._key_expiry = Gauge(
            "kanari_key_expiry_timestamp_seconds",
            "When each configured key's certificate expires (the earliest notAfter in its chain), by key "
            "(marker, maskinporten, business_certificate, ca_bundle). A key without a certificate (the "
            "Ed25519 marker key, a Maskinporten key registered by kid) never expires and has no series.",
            ["key"],
            registry=registry,
        )
        self._key_names: set[str] = set()
        self._rejection_pairs: set[tuple[str, str]] = set()
        self._routes: dict[tuple[Channel, str], Route] = {}
        self.incidents = IncidentGauges(self._series, self._routes)
        self._last_delivered: dict[tuple[Channel, str], float] = {}
        self._versions: dict[tuple[Channel, str], str] = {}
        for channel, hops in HOPS.items():
            for hop, _ in hops:
                self._hop_time_reading_errors.labels(channel.value, hop.value)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of the registry (what ``/metrics`` answers)."""
        return self.served.text()

    def set_routes(self, routes: Iterable[Route]) -> None:
        """Create the series of every route in ``routes`` and remove those of routes that left."""
        wanted = {route.key: route for route in routes}
        for key, route in list(self._routes.items()):
            if key not in wanted or wanted[key] != route:
                self._remove_route(route)
                del self._routes[key]
        for key, route in wanted.items():
            if key not in self._routes:
                self._add_route(route)
                self._routes[key] = route
        # Marker rejections are counted per channel and vendor: pre-created (so panels and increase()
        # start from 0) for every pair a route has, removed when no route has it any more.
        pairs = {(route.channel.value, route.vendor) for route in wanted.values()}
        for pair in self._rejection_pairs - pairs:
            self._marker_rejections.remove(*pair)
        for pair in pairs:
            self._marker_rejections.labels(*pair)
        self._rejection_pairs = pairs
        for channel in Channel:
            self._in_flight.labels(channel.value)
            self._oldest_in_flight.labels(channel.value)
            # Pre-created so that increase() sees a check failure's first occurrence too.
            for target in (channel.value, "readback"):
                for reason in Reason:
                    self._check_failures.labels(channel.value, target, reason.value)

    @staticmethod
    def _route_children(route: Route) -> list[Series]:
        """Every series a route has from the start, with its initial value."""
        children: list[Series] = [
            (counters.SENT, (), 0.0),
            (counters.LATE_ARRIVALS, (), 0.0),
            (counters.DUPLICATES, (), 0.0),
            ("last_delivery_seconds", (), 0.0),
            ("last_delivered_timestamp", (), 0.0),
            (counters.REJECTIONS, (), 0.0),
            (counters.CLEANUP_FAILURES, (), 0.0),
        ]
        children += [(counters.RESOLVED, (verdict.value,), 0.0) for verdict in Verdict]
        children += [(counters.SEND_FAILURES, (reason.value,), 0.0) for reason in Reason]
        blame = {(hop, owner) for hop, owner in HOPS[route.channel]} | {(Hop.ACCEPTED, Owner.OPS)}
        children += [(counters.UNDELIVERED, (hop.value, owner.value), 0.0) for hop, owner in sorted(blame)]
        needed = hops_until(route.channel, route.final_hop)
        children += [
            ("route_info", (), 1.0),
            ("route_interval", (), route.interval),
            ("route_silence_limit", (), route.deadline + SILENT_INTERVALS * route.interval),
        ]
        children += [("route_deadline", (hop.value,), route.deadline) for hop in needed]
        children += [("overdue", (hop.value, owner_of(route.channel, hop).value), 0.0) for hop in needed]
        children += incident_children(route)
        return children

    def _add_route(self, route: Route) -> None:
        labels = {
            "route": (route.channel.value, route.kommunenummer, route.vendor),
            "info": self.info_labels(route),
            "timing": (route.channel.value, route.kommunenummer),
        }
        self._series.add(route.key, labels, self._route_children(route))
        for hop in (hop for hop, _ in HOPS[route.channel]):
            self._hop_seconds.labels(route.channel.value, hop.value)
        self._delivery_seconds.labels(route.channel.value, route.vendor)

    def _remove_route(self, route: Route) -> None:
        self._series.remove(route.key)
        self._last_delivered.pop(route.key, None)
        self._versions.pop(route.key, None)

    @staticmethod
    def info_labels(route: Route, api_version: str = "") -> tuple[str, ...]:
        """The label values of ``kanari_route_info`` for ``route``; ``api_version`` is the version its
        canaries go in (the portal's negotiated report version, Altinn's API version; empty until the
        first canary was sent)."""
        return (
            route.channel.value,
            route.kommunenummer,
            route.municipality_name,
            route.county,
            route.vendor,
            route.final_hop.value,
            api_version,
        )

    def set_route_version(self, key: tuple[Channel, str], api_version: str | None) -> None:
        """Show the version the route's canaries are sent in (``kanari_route_info``'s ``api_version``)."""
        route = self._routes.get(key)
        if route is None or not api_version or self._versions.get(key) == api_version:
            return
        self._versions[key] = api_version
        self._series.relabel(key, "info", self.info_labels(route, api_version))

    def count(self, record: CanaryRecord, keys: Iterable[CounterKey]) -> None:
        """Add one to each counter series in ``keys`` for ``record``'s route (if still configured)."""
        route = self._routes.get(record.route_key)
        if route is None or route.vendor != record.vendor:
            return
        for name, extra in keys:
            self._series.add_to(route.key, name, extra, 1)

    def restore(self, counts: Mapping[tuple[str, str, str, str, str, str], int]) -> None:
        """Set counters from ledger totals at start (only for routes that are configured now)."""
        for (name, channel, municipality, vendor, label_a, label_b), value in counts.items():
            route = self._routes.get((Channel(channel), municipality))
            if route is None or route.vendor != vendor or value <= 0:
                continue
            extra = tuple(label for label in (label_a, label_b) if label)
            self._series.add_to(route.key, name, extra, value)

    def delivered(self, record: CanaryRecord, delivered_at: float) -> None:
        """A canary was delivered at ``delivered_at``: latency histogram and last-delivery gauges."""
        latency = max(0.0, delivered_at - record.created_at)
        self._delivery_seconds.labels(record.channel.value, record.vendor).observe(latency)
        self.set_last_delivery(record, delivered_at)

    def set_last_delivery(self, record: CanaryRecord, delivered_at: float) -> None:
        """Set the last-delivery gauges of the record's route (also used when rebuilding at start)."""
        route = self._routes.get(record.route_key)
        if route is None or route.vendor != record.vendor:
            return
        if delivered_at < self._last_delivered.get(route.key, 0.0):
            return
        self._last_delivered[route.key] = delivered_at
        self._series.set(route.key, "last_delivered_timestamp", delivered_at)
        self._series.set(route.key, "last_delivery_seconds", max(0.0, delivered_at - record.created_at))

    def set_route_bound(self, key: tuple[Channel, str], hop: Hop, seconds: float) -> None:
        """The route's current bound for ``hop`` (``kanari_route_deadline_seconds``)."""
        if key in self._routes:
            self._series.set(key, "route_deadline", seconds, (hop.value,))

    def set_silence_limit(self, key: tuple[Channel, str], seconds: float) -> None:
        """How long the route may now go without a delivery (``kanari_route_silence_limit_seconds``)."""
        if key in self._routes:
            self._series.set(key, "route_silence_limit", seconds)

    def set_overdue(self, key: tuple[Channel, str], hop: Hop, count: int) -> None:
        """How many of the route's canaries are overdue at ``hop`` (``kanari_overdue``)."""
        if key in self._routes:
            self._series.set(key, "overdue", float(count), (hop.value, owner_of(key[0], hop).value))

    def hop_reached(self, record: CanaryRecord, hop: Hop, reached_at: float) -> None:
        """A canary reached ``hop`` at ``reached_at``."""
        self._hop_seconds.labels(record.channel.value, hop.value).observe(
            max(0.0, reached_at - record.created_at)
        )

    def hop_time_reading_error(self, channel: Channel, hop: Hop) -> None:
        """An upstream stamped ``hop`` before the canary was sent."""
        self._hop_time_reading_errors.labels(channel.value, hop.value).inc()

    def check_failed(self, channel: Channel, target: str, reason: Reason) -> None:
        """A check of ``target`` (``portal``, ``altinn``, ``readback``) could not look."""
        self._check_failures.labels(channel.value, target, reason.value).inc()

    def marker_rejected(self, channel: Channel, vendor: str) -> None:
        """A read-back entry's marker failed verification."""
        self._marker_rejections.labels(channel.value, vendor).inc()

    def send_started(self, *, late_by: float) -> None:
        """A send started ``late_by`` seconds after its planned time."""
        self._scheduler_lag.observe(late_by)

    def set_in_flight(self, channel: Channel, count: int, oldest: float | None) -> None:
        """How many canaries of ``channel`` are unresolved, and when the oldest of them was sent."""
        self._in_flight.labels(channel.value).set(count)
        self._oldest_in_flight.labels(channel.value).set(oldest or 0)

    def set_slowdown(self, channel: Channel, hop: Hop, vendor: str, ratio: float) -> None:
        """How slow ``hop`` is now on ``vendor``'s routes (``kanari_slowdown_ratio``)."""
        self._slowdown.labels(channel.value, hop.value, vendor).set(ratio)

    def set_ledger_writable(self, writable: bool) -> None:
        """Whether the last ledger write succeeded."""
        self._ledger_writable.set(1 if writable else 0)

    def set_leader(self, leading: bool) -> None:
        """Whether this replica leads (sends) or stands by (``kanari_leader``)."""
        self._leader.set(1 if leading else 0)

    def set_key_expiries(self, expiries: Mapping[str, float]) -> None:
        """The expiry (Unix seconds) of each key that has one; keys left out lose their series."""
        for key in self._key_names - set(expiries):
            self._key_expiry.remove(key)
        for key, expires in expiries.items():
            self._key_expiry.labels(key).set(expires)
        self._key_names = set(expiries)

    def beat(self, now: float) -> None:
        """The scheduler ticked at ``now``."""
        self._heartbeat.set(now)
