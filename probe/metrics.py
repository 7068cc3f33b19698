"""The metric set of DESIGN section 4, built on a given ``CollectorRegistry``.

Labels are bounded: ``municipality`` is the kommunenummer, ``vendor`` the vendor id; never canary ids,
URLs, person ids or error text. Every configured route's children are created at start (so a route that
has never failed shows 0, not nothing) and removed when the route leaves the configuration.

Counters that describe canaries are *derived from ledger records*: :func:`counter_keys` says which
counter children a record contributes to, the engine increments the difference when a record changes,
and :meth:`Metrics.restore` rebuilds the same totals from the ledger at start. A restart therefore
neither loses nor double-counts, and counters never go backwards (which would look like a reset to
Prometheus and spike every ``rate()``).

Per-route series (about 27 per route, 540 000 at 20 000 routes) are not prometheus_client children but
one custom collector, :class:`RouteSeries`: a child object with its own lock per series cost 30 KB of
memory per route and several seconds per scrape. The collector keeps plain numbers per route and the
route's exposition text per metric family, re-rendered only when one of its numbers changed, so
:func:`exposition` joins cached bytes. ``registry.get_sample_value`` still works (the collector also
yields ordinary metric families), and names, label names and values are exactly as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

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


RouteLabels = Literal["route", "info", "timing"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Family:
    """One per-route metric family: name (counters without ``_total``), type, help, the route labels it
    carries (``route``: channel, municipality, vendor; ``info``: the route-info set; ``timing``: channel,
    municipality) and the names of the labels after them."""

    name: str
    kind: Literal["counter", "gauge"]
    documentation: str
    labels: RouteLabels
    extra: tuple[str, ...] = ()

    @property
    def sample(self) -> str:
        """The sample name in the exposition (counters gain ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    @property
    def label_names(self) -> tuple[str, ...]:
        """Every label name, in exposition order."""
        return (*_ROUTE_LABEL_NAMES[self.labels], *self.extra)

    def header(self) -> bytes:
        """The ``# HELP`` and ``# TYPE`` lines."""
        text = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.sample} {text}\n# TYPE {self.sample} {self.kind}\n".encode()


_ROUTE_LABEL_NAMES: dict[RouteLabels, tuple[str, ...]] = {
    "route": ("channel", "municipality", "vendor"),
    "info": ("channel", "municipality", "municipality_name", "county", "vendor", "final_hop", "api_version"),
    "timing": ("channel", "municipality"),
}

# Keys are the counter names of :func:`counter_keys` (and of the ledger's ``counts``), plus the gauges.
FAMILIES: dict[str, _Family] = {
    "sent": _Family("kanari_canaries_sent", "counter", "Canaries whose send attempt concluded.", "route"),
    "send_failures": _Family(
        "kanari_send_failures",
        "counter",
        "Canary sends that failed, by bounded reason.",
        "route",
        ("reason",),
    ),
    "resolved": _Family(
        "kanari_canaries_resolved", "counter", "Canaries that reached a verdict.", "route", ("verdict",)
    ),
    "undelivered": _Family(
        "kanari_undelivered",
        "counter",
        "Lost or failed canaries by the first hop they did not reach and its owner.",
        "route",
        ("hop", "owner"),
    ),
    "late_arrivals": _Family(
        "kanari_late_arrivals", "counter", "Lost canaries that turned up after their deadline.", "route"
    ),
    "rejections": _Family(
        "kanari_rejections",
        "counter",
        "Canaries the upstream itself ended as failed: on the portal rejected by the fagsystem and "
        "sent as paper post, on Altinn status Failed.",
        "route",
    ),
    "duplicates": _Family(
        "kanari_duplicates", "counter", "Canaries registered more than once by the receiving system.", "route"
    ),
    "last_delivery_seconds": _Family(
        "kanari_last_delivery_seconds", "gauge", "Latency of the newest delivered canary.", "route"
    ),
    "last_delivered_timestamp": _Family(
        "kanari_last_delivered_timestamp_seconds",
        "gauge",
        "When the newest delivered canary arrived.",
        "route",
    ),
    "route_info": _Family(
        "kanari_route_info", "gauge", "One per monitored route, carrying its descriptive labels.", "info"
    ),
    "route_interval": _Family(
        "kanari_route_interval_seconds",
        "gauge",
        "How often the route sends a canary (so alert thresholds can follow each route's own timing).",
        "timing",
    ),
    "route_deadline": _Family(
        "kanari_route_deadline_seconds",
        "gauge",
        "How long after sending a canary on the route must reach its final hop.",
        "timing",
    ),
}
COUNTERS = tuple(name for name, family in FAMILIES.items() if family.kind == "counter")


def _value_text(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's float formatting)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _escape(value: str) -> str:
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


# Label names per family, and the order prometheus_client writes them in (sorted by name).
_LABEL_ORDER = {
    name: (family.label_names, sorted(range(len(family.label_names)), key=family.label_names.__getitem__))
    for name, family in FAMILIES.items()
}


class _RouteState:
    """One route's numbers and label values."""

    __slots__ = ("labels", "values")

    def __init__(self, route: Route) -> None:
        self.labels: dict[RouteLabels, tuple[str, ...]] = {
            "route": (route.channel.value, route.kommunenummer, route.vendor),
            "info": Metrics.info_labels(route),
            "timing": (route.channel.value, route.kommunenummer),
        }
        # family -> (label values after the route's) -> value; insertion order is exposition order.
        self.values: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in FAMILIES}

    def render(self, name: str) -> bytes:
        """The family's sample lines of this route."""
        family = FAMILIES[name]
        names, order = _LABEL_ORDER[name]
        route_labels = self.labels[family.labels]
        sample = family.sample
        lines = []
        for extra, value in self.values[name].items():
            values = (*route_labels, *extra)
            labels = ",".join([f'{names[i]}="{_escape(values[i])}"' for i in order])
            lines.append(f"{sample}{{{labels}}} {_value_text(value)}\n")
        return "".join(lines).encode()


class RouteSeries:
    """The collector of every per-route series (see the module docstring).

    Per family it keeps each route's rendered lines, in route order, and the routes whose numbers
    changed since: a scrape re-renders only those and joins the rest as they are, so its cost is a
    ``bytes.join`` per family plus the changed routes, whatever the number of routes.
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[Channel, str], _RouteState] = {}
        self._text: dict[str, dict[tuple[Channel, str], bytes]] = {name: {} for name in FAMILIES}
        self._changed: dict[str, set[tuple[Channel, str]]] = {name: set() for name in FAMILIES}
        self._headers = {name: family.header() for name, family in FAMILIES.items()}
        self._silent = False

    def add(self, route: Route, series: Iterable[tuple[str, tuple[str, ...], float]]) -> None:
        """Start showing ``route`` with the given (family, extra label values, value) series.

        Its text is rendered now, at start, rather than by the first scrape: rendering 20 000 routes
        takes a second or two, which must not hold up the event loop while canaries are under way."""
        state = _RouteState(route)
        for name, extra, value in series:
            state.values[name][extra] = value
        self._routes[route.key] = state
        for name in FAMILIES:
            self._text[name][route.key] = state.render(name)
            self._changed[name].discard(route.key)

    def relabel(self, key: tuple[Channel, str], labels: RouteLabels, values: tuple[str, ...]) -> None:
        """Give a route's series of one label set new label values (its info labels changed)."""
        state = self._routes[key]
        state.labels[labels] = values
        for name, family in FAMILIES.items():
            if family.labels == labels:
                self._changed[name].add(key)

    def remove(self, key: tuple[Channel, str]) -> None:
        """Stop showing a route's series."""
        if self._routes.pop(key, None) is not None:
            for name in FAMILIES:
                del self._text[name][key]
                self._changed[name].discard(key)

    def add_to(self, key: tuple[Channel, str], name: str, extra: tuple[str, ...], amount: float) -> None:
        """Add ``amount`` to one counter series of a route (creating it if it did not exist)."""
        values = self._routes[key].values[name]
        values[extra] = values.get(extra, 0.0) + amount
        self._changed[name].add(key)

    def set(self, key: tuple[Channel, str], name: str, value: float, extra: tuple[str, ...] = ()) -> None:
        """Set one gauge series of a route."""
        self._routes[key].values[name][extra] = value
        self._changed[name].add(key)

    def exposition(self, head: bytes = b"") -> bytes:
        """Every per-route series in the text format, after ``head`` (joined once: the text of 20 000
        routes is 50 MB, and every copy of it shows in the scrape time)."""
        parts: list[bytes] = [head]
        for name in FAMILIES:
            text = self._text[name]
            for key in self._changed[name]:
                text[key] = self._routes[key].render(name)
            self._changed[name].clear()
            parts.append(self._headers[name])
            parts.extend(text.values())
        return b"".join(parts)

    @contextlib.contextmanager
    def silenced(self) -> Iterator[None]:
        """While inside, :meth:`collect` yields nothing (:func:`exposition` renders the rest of the
        registry with ``generate_latest`` and this collector from its cache)."""
        self._silent = True
        try:
            yield
        finally:
            self._silent = False

    def describe(self) -> list[Metric]:
        """The families this collector produces (for the registry's duplicate-name check)."""
        return [self._family(name) for name in FAMILIES]

    def _family(self, name: str) -> Metric:
        family = FAMILIES[name]
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        return kind(family.name, family.documentation, labels=family.label_names)

    def collect(self) -> Iterator[Metric]:
        """Every series as ordinary metric families (``get_sample_value``, ``generate_latest``)."""
        if self._silent:
            return
        for name, family in FAMILIES.items():
            metric = self._family(name)
            for state in self._routes.values():
                route_labels = state.labels[family.labels]
                for extra, value in state.values[name].items():
                    metric.add_metric([*route_labels, *extra], value)  # type: ignore[attr-defined]
            yield metric


# The route collector of each registry that has one, so :func:`exposition` finds it from the registry.
_ROUTE_SERIES: weakref.WeakKeyDictionary[CollectorRegistry, RouteSeries] = weakref.WeakKeyDictionary()


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``: ``generate_latest`` for ordinary collectors, and
    the cached text of Kanari's per-route collector when the registry has one."""
    series = _ROUTE_SERIES.get(registry)
    if series is None:
        return generate_latest(registry)
    with series.silenced():
        ordinary = generate_latest(registry)
    return series.exposition(ordinary)


class Metrics:
    """Kanari's metrics on ``registry``."""

    def __init__(
        self, registry: CollectorRegistry, buckets: tuple[float, ...], version: str = __version__
    ) -> None:
        self.registry = registry
        self.routes = RouteSeries()
        registry.register(self.routes)
        _ROUTE_SERIES[registry] = self.routes
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
        self.hop_time_reading_errors = Counter(
            "kanari_hop_time_reading_errors",
            "Upstream hop times that read earlier than the send (a wrong time zone or clock), taken as the "
            "time of the check instead.",
            ["channel", "hop"],
            registry=registry,
        )
        self.marker_rejections = Counter(
            "kanari_marker_rejections",
            "Read-back entries whose marker failed verification (forged, altered, expired, unknown key).",
            ["channel", "vendor"],
            registry=registry,
        )
        self._routes: dict[tuple[Channel, str], Route] = {}
        self._last_delivered: dict[tuple[Channel, str], float] = {}
        self._versions: dict[tuple[Channel, str], str] = {}
        for channel, hops in HOPS.items():
            for hop, _ in hops:
                self.hop_time_reading_errors.labels(channel.value, hop.value)

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
        for channel in Channel:
            self.in_flight.labels(channel.value)
            self.oldest_in_flight.labels(channel.value)
            # Pre-created so that increase() sees a check failure's first occurrence too.
            for target in (channel.value, "readback"):
                for reason in Reason:
                    self.check_failures.labels(channel.value, target, reason.value)

    @staticmethod
    def _route_children(route: Route) -> list[tuple[str, tuple[str, ...], float]]:
        """Every series a route has from the start, with its initial value."""
        children: list[tuple[str, tuple[str, ...], float]] = [
            ("sent", (), 0.0),
            ("late_arrivals", (), 0.0),
            ("duplicates", (), 0.0),
            ("last_delivery_seconds", (), 0.0),
            ("last_delivered_timestamp", (), 0.0),
            ("rejections", (), 0.0),
        ]
        children += [("resolved", (verdict.value,), 0.0) for verdict in Verdict]
        children += [("send_failures", (reason.value,), 0.0) for reason in Reason]
        blame = {(hop, owner) for hop, owner in HOPS[route.channel]} | {(Hop.ACCEPTED, Owner.OPS)}
        children += [("undelivered", (hop.value, owner.value), 0.0) for hop, owner in sorted(blame)]
        children += [
            ("route_info", (), 1.0),
            ("route_interval", (), route.interval),
            ("route_deadline", (), route.deadline),
        ]
        return children

    def _add_route(self, route: Route) -> None:
        self.routes.add(route, self._route_children(route))
        for hop in (hop for hop, _ in HOPS[route.channel]):
            self.hop_seconds.labels(route.channel.value, hop.value)
        self.delivery_seconds.labels(route.channel.value, route.vendor)

    def _remove_route(self, route: Route) -> None:
        self.routes.remove(route.key)
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
        self.routes.relabel(key, "info", self.info_labels(route, api_version))

    def hop_time_reading_error(self, channel: Channel, hop: Hop) -> None:
        """An upstream stamped ``hop`` before the canary was sent."""
        self.hop_time_reading_errors.labels(channel.value, hop.value).inc()

    def count(self, record: CanaryRecord, keys: Iterable[CounterKey]) -> None:
        """Add one to each counter series in ``keys`` for ``record``'s route (if still configured)."""
        route = self._routes.get(record.route_key)
        if route is None or route.vendor != record.vendor:
            return
        for name, extra in keys:
            self.routes.add_to(route.key, name, extra, 1)

    def restore(self, counts: Mapping[tuple[str, str, str, str, str, str], int]) -> None:
        """Set counters from ledger totals at start (only for routes that are configured now)."""
        for (name, channel, municipality, vendor, label_a, label_b), value in counts.items():
            route = self._routes.get((Channel(channel), municipality))
            if route is None or route.vendor != vendor or value <= 0:
                continue
            extra = tuple(label for label in (label_a, label_b) if label)
            self.routes.add_to(route.key, name, extra, value)

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
        self.routes.set(route.key, "last_delivered_timestamp", delivered_at)
        self.routes.set(route.key, "last_delivery_seconds", max(0.0, delivered_at - record.created_at))

    def hop_reached(self, record: CanaryRecord, hop: Hop, reached_at: float) -> None:
        """A canary reached ``hop`` at ``reached_at``."""
        self.hop_seconds.labels(record.channel.value, hop.value).observe(
            max(0.0, reached_at - record.created_at)
        )
