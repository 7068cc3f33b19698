"""A Prometheus collector for very many per-route series, with a cached text exposition.

Per-route series (about 27 per route, 540 000 at 20 000 routes) are not prometheus_client children but
one custom collector, :class:`RouteSeries`: a child object with its own lock per series cost 30 KB of
memory per route and several seconds per scrape. The collector keeps plain numbers per route and the
route's exposition text per metric family, re-rendered only when one of its numbers changed, so a scrape
joins cached bytes. ``registry.get_sample_value`` still works (the collector also yields ordinary metric
families), and names, label names and values are exactly as prometheus_client would write them.

The collector knows nothing of Kanari's metrics: its families and their label sets are given to it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

Series = tuple[str, tuple[str, ...], float]
"""(family, label values after the route's, value): one series of one route."""


@dataclasses.dataclass(frozen=True, slots=True)
class Family:
    """One per-route metric family: name (counters without ``_total``), type, help, the names of the
    route's labels it carries (one of the label sets), and the names of the labels after them."""

    name: str
    kind: Literal["counter", "gauge"]
    documentation: str
    labels: str
    extra: tuple[str, ...] = ()

    @property
    def sample(self) -> str:
        """The sample name in the exposition (counters gain ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def header(self) -> bytes:
        """The ``# HELP`` and ``# TYPE`` lines."""
        text = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.sample} {text}\n# TYPE {self.sample} {self.kind}\n".encode()


def _value_text(value: float) -> str:
    """A sample value as prometheus_client writes it (Go's float formatting)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _escape(value: str) -> str:
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _RouteState:
    """One route's numbers and label values."""

    __slots__ = ("labels", "values")

    def __init__(self, labels: Mapping[str, tuple[str, ...]], families: Iterable[str]) -> None:
        self.labels = dict(labels)
        # family -> (label values after the route's) -> value; insertion order is exposition order.
        self.values: dict[str, dict[tuple[str, ...], float]] = {name: {} for name in families}


class RouteSeries:
    """The collector of every per-route series.

    Per family it keeps each route's rendered lines, in route order, and the routes whose numbers
    changed since: a scrape re-renders only those and joins the rest as they are, so its cost is a
    ``bytes.join`` per family plus the changed routes, whatever the number of routes.
    """

    def __init__(self, families: Mapping[str, Family], label_sets: Mapping[str, tuple[str, ...]]) -> None:
        self._families = dict(families)
        self._label_sets = dict(label_sets)
        self._routes: dict[Hashable, _RouteState] = {}
        self._text: dict[str, dict[Hashable, bytes]] = {name: {} for name in families}
        self._changed: dict[str, set[Hashable]] = {name: set() for name in families}
        self._headers = {name: family.header() for name, family in families.items()}
        # Label names per family, and the order prometheus_client writes them in (sorted by name).
        self._order = {}
        for name in families:
            names = self.label_names(name)
            self._order[name] = (names, sorted(range(len(names)), key=names.__getitem__))
        self._silent = False

    def label_names(self, name: str) -> tuple[str, ...]:
        """Every label name of family ``name``, in exposition order."""
        family = self._families[name]
        return (*self._label_sets[family.labels], *family.extra)

    def add(self, key: Hashable, labels: Mapping[str, tuple[str, ...]], series: Iterable[Series]) -> None:
        """Start showing route ``key``, with its values of each label set and the given series.

        Its text is rendered now, at start, rather than by the first scrape: rendering 20 000 routes
        takes a second or two, which must not hold up the event loop while canaries are under way."""
        state = _RouteState(labels, self._families)
        for name, extra, value in series:
            state.values[name][extra] = value
        self._routes[key] = state
        for name in self._families:
            self._text[name][key] = self._render(state, name)
            self._changed[name].discard(key)

    def relabel(self, key: Hashable, labels: str, values: tuple[str, ...]) -> None:
        """Give a route's series of one label set new label values (its info labels changed)."""
        state = self._routes[key]
        state.labels[labels] = values
        for name, family in self._families.items():
            if family.labels == labels:
                self._changed[name].add(key)

    def remove(self, key: Hashable) -> None:
        """Stop showing a route's series."""
        if self._routes.pop(key, None) is not None:
            for name in self._families:
                del self._text[name][key]
                self._changed[name].discard(key)

    def add_to(self, key: Hashable, name: str, extra: tuple[str, ...], amount: float) -> None:
        """Add ``amount`` to one counter series of a route (creating it if it did not exist)."""
        values = self._routes[key].values[name]
        values[extra] = values.get(extra, 0.0) + amount
        self._changed[name].add(key)

    def set(self, key: Hashable, name: str, value: float, extra: tuple[str, ...] = ()) -> None:
        """Set one gauge series of a route."""
        self._routes[key].values[name][extra] = value
        self._changed[name].add(key)

    def exposition(self, head: bytes = b"") -> bytes:
        """Every per-route series in the text format, after ``head`` (joined once: the text of 20 000
        routes is 50 MB, and every copy of it shows in the scrape time)."""
        parts: list[bytes] = [head]
        for name in self._families:
            text = self._text[name]
            for key in self._changed[name]:
                text[key] = self._render(self._routes[key], name)
            self._changed[name].clear()
            parts.append(self._headers[name])
            parts.extend(text.values())
        return b"".join(parts)

    def _render(self, state: _RouteState, name: str) -> bytes:
        """The family's sample lines of one route."""
        family = self._families[name]
        names, order = self._order[name]
        route_labels = state.labels[family.labels]
        sample = family.sample
        lines = []
        for extra, value in state.values[name].items():
            values = (*route_labels, *extra)
            labels = ",".join([f'{names[i]}="{_escape(values[i])}"' for i in order])
            lines.append(f"{sample}{{{labels}}} {_value_text(value)}\n")
        return "".join(lines).encode()

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
        return [self._family(name) for name in self._families]

    def _family(self, name: str) -> Metric:
        family = self._families[name]
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        return kind(family.name, family.documentation, labels=self.label_names(name))

    def collect(self) -> Iterator[Metric]:
        """Every series as ordinary metric families (``get_sample_value``, ``generate_latest``)."""
        if self._silent:
            return
        for name, family in self._families.items():
            metric = self._family(name)
            for state in self._routes.values():
                route_labels = state.labels[family.labels]
                for extra, value in state.values[name].items():
                    metric.add_metric([*route_labels, *extra], value)  # type: ignore[attr-defined]
            yield metric


def exposition(registry: CollectorRegistry, series: RouteSeries) -> bytes:
    """The Prometheus text exposition of ``registry``, whose per-route series are ``series``:
    ``generate_latest`` for the ordinary collectors, and the cached text of the per-route ones."""
    with series.silenced():
        ordinary = generate_latest(registry)
    return series.exposition(ordinary)
