"""A Prometheus collector for very many per-route series, with a cached text exposition, and what
``/metrics`` serves from it: that text, or its gzip.

Per-route series (about 27 per route, 540 000 at 20 000 routes) are not prometheus_client children but
one custom collector, :class:`RouteSeries`: a child object with its own lock per series cost 30 KB of
memory per route and several seconds per scrape. The collector keeps plain numbers per route and the
route's exposition text per metric family, re-rendered only when one of its numbers changed, so a scrape
joins cached bytes. ``registry.get_sample_value`` still works (the collector also yields ordinary metric
families), and names, label names and values are exactly as prometheus_client would write them.

The collector knows nothing of Kanari's metrics: its families and their label sets are given to it. It
reports one metric of its own, ``kanari_metrics_render_seconds``: how long producing ``/metrics`` took,
by content encoding, so an operator sees the exposition's cost beside the scrape timeout.

:class:`Exposition` is what ``/metrics`` serves: the text, or the text compressed with gzip in a worker
thread (ISA-L's deflate releases the GIL, so the event loop keeps running canaries meanwhile). The gzip
body is kept with the state it was made from and served again while nothing changed, so a scrape between
two changes (concurrent scrapes, a retry, the benchmark) costs a comparison, not a compression. While
canaries run the heartbeat alone changes the text every second, so in steady state each scrape compresses
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Literal, Protocol

from isal import isal_zlib
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

Series = tuple[str, tuple[str, ...], float]
"""(family, label values after the route's, value): one series of one route."""

Encoding = Literal["identity", "gzip"]
"""The content encodings ``/metrics`` answers in."""

RENDER_SECONDS = "kanari_metrics_render_seconds"
# From a gzip cache hit (a few milliseconds: the ordinary collectors are rendered to compare) through 714
# routes (10 ms as text, 20 ms as gzip) and 20 000 routes (0.1 s as text, 0.2 to 0.3 s as gzip) up to
# Prometheus' default scrape timeout of 10 s.
RENDER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# gzip by Intel's ISA-L (python-isal, the maintained binding the pycompression project also ships
# xopen and dnaio with) at its level 1: on 77 MB of Kanari-shaped exposition text it gives 4.4 MB in
# 45 ms where zlib's level 1 gives 4.6 MB in 183 ms (zlib-ng's level 1: 6.0 MB in 69 ms); zlib's level 6
# and 9 (prometheus_client's default) take three and nine times zlib's level 1. At 20 000 routes the
# compression was most of a scrape's 0.3 s: it is the part of /metrics that grows with the text.
GZIP_LEVEL = 1
# Window bits for a gzip member (16 + the largest window): the compressor writes the header and the CRC.
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# Route texts are joined this many at a time (about 250 KB) on their way into the compressor: the whole
# text is never copied at once, and the GIL, which a join holds, is free again after each batch.
_BATCH = 1024


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
        # Counts every change of a number, a label or the set of routes: the text is what it was while
        # it stays the same (:class:`Exposition` keeps its gzip body by it).
        self._generation = 0
        # Not registered anywhere: :meth:`collect` yields it, so it lives and dies with the collector.
        self._render_seconds = Histogram(
            RENDER_SECONDS,
            "Time to produce /metrics, by content encoding (gzip compresses in a worker thread, or answers "
            "from its cache while nothing changed).",
            ["encoding"],
            buckets=RENDER_BUCKETS,
            registry=None,
        )
        for encoding in ("identity", "gzip"):
            self._render_seconds.labels(encoding)

    @property
    def generation(self) -> int:
        """How many changes the series have seen: while it stays, so does their text."""
        return self._generation

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
        self._generation += 1

    def relabel(self, key: Hashable, labels: str, values: tuple[str, ...]) -> None:
        """Give a route's series of one label set new label values (its info labels changed)."""
        state = self._routes[key]
        state.labels[labels] = values
        for name, family in self._families.items():
            if family.labels == labels:
                self._changed[name].add(key)
        self._generation += 1

    def remove(self, key: Hashable) -> None:
        """Stop showing a route's series."""
        if self._routes.pop(key, None) is not None:
            for name in self._families:
                del self._text[name][key]
                self._changed[name].discard(key)
            self._generation += 1

    def add_to(self, key: Hashable, name: str, extra: tuple[str, ...], amount: float) -> None:
        """Add ``amount`` to one counter series of a route (creating it if it did not exist)."""
        values = self._routes[key].values[name]
        values[extra] = values.get(extra, 0.0) + amount
        self._changed[name].add(key)
        self._generation += 1

    def set(self, key: Hashable, name: str, value: float, extra: tuple[str, ...] = ()) -> None:
        """Set one gauge series of a route."""
        self._routes[key].values[name][extra] = value
        self._changed[name].add(key)
        self._generation += 1

    def discard(self, key: Hashable, name: str, extra: tuple[str, ...] = ()) -> None:
        """Stop showing one series of a route (a gauge that exists only while something is true)."""
        state = self._routes.get(key)
        if state is not None and state.values[name].pop(extra, None) is not None:
            self._changed[name].add(key)
            self._generation += 1

    def exposition(self, head: bytes = b"") -> bytes:
        """Every per-route series in the text format, after ``head`` (joined once: the text of 20 000
        routes is 58 MB, and every copy of it shows in the scrape time)."""
        return b"".join(self.parts(head))

    def parts(self, head: bytes = b"") -> list[bytes]:
        """The pieces of :meth:`exposition`, in order: ``head``, the render times, then per family its
        header and each route's lines. Bytes are immutable, so the list stays what it was however the
        numbers change after: a worker thread may compress it while the event loop goes on."""
        parts: list[bytes] = [head, generate_latest(self._render_seconds)]
        for name in self._families:
            text = self._text[name]
            for key in self._changed[name]:
                text[key] = self._render(self._routes[key], name)
            self._changed[name].clear()
            parts.append(self._headers[name])
            parts.extend(text.values())
        return parts

    def observe_render(self, encoding: Encoding, seconds: float) -> None:
        """Producing ``/metrics`` in ``encoding`` took ``seconds``."""
        self._render_seconds.labels(encoding).observe(seconds)

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
        return [*(self._family(name) for name in self._families), *self._render_seconds.describe()]

    def _family(self, name: str) -> Metric:
        family = self._families[name]
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        return kind(family.name, family.documentation, labels=self.label_names(name))

    def collect(self) -> Iterator[Metric]:
        """Every series as ordinary metric families (``get_sample_value``, ``generate_latest``)."""
        if self._silent:
            return
        yield from self._render_seconds.collect()
        for name, family in self._families.items():
            metric = self._family(name)
            for state in self._routes.values():
                route_labels = state.labels[family.labels]
                for extra, value in state.values[name].items():
                    metric.add_metric([*route_labels, *extra], value)  # type: ignore[attr-defined]
            yield metric


class _Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class Volatile:
    """Collectors whose numbers change on every read (the process's CPU time and memory), registered
    like any other but left out of what :class:`Exposition` compares to keep a gzip body: it keeps one
    at most :data:`VOLATILE_MAX_AGE` for them instead."""

    def __init__(self, *collectors: _Collector) -> None:
        self._collectors = collectors
        self._silent = False

    @contextlib.contextmanager
    def silenced(self) -> Iterator[None]:
        """While inside, :meth:`collect` yields nothing."""
        self._silent = True
        try:
            yield
        finally:
            self._silent = False

    def collect(self) -> Iterator[Metric]:
        """The collectors' metric families (none while silenced)."""
        if self._silent:
            return
        for collector in self._collectors:
            yield from collector.collect()


# How old the volatile part of a kept gzip body may be: concurrent scrapes and retries within a second
# share one compression, and a standby, whose other numbers stay the same for hours, still shows its
# CPU and memory as of the last second.
VOLATILE_MAX_AGE = 1.0


def _ordinary(registry: CollectorRegistry, series: RouteSeries, volatile: Volatile | None = None) -> bytes:
    """``generate_latest`` of every collector of ``registry`` but ``series`` (and ``volatile``)."""
    with series.silenced(), volatile.silenced() if volatile is not None else contextlib.nullcontext():
        return generate_latest(registry)


def exposition(registry: CollectorRegistry, series: RouteSeries) -> bytes:
    """The Prometheus text exposition of ``registry``, whose per-route series are ``series``:
    ``generate_latest`` for the ordinary collectors, and the cached text of the per-route ones."""
    started = time.perf_counter()
    text = series.exposition(_ordinary(registry, series))
    series.observe_render("identity", time.perf_counter() - started)
    return text


def gzip_parts(parts: Sequence[bytes]) -> bytes:
    """The concatenation of ``parts`` as one gzip member, at :data:`GZIP_LEVEL`.

    One member, not one per part: curl and browsers decode only the first member of a multi-member
    body (curl fails outright), though Prometheus reads them all. Meant for a worker thread."""
    compressor = isal_zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    compressed = [
        compressor.compress(b"".join(parts[start : start + _BATCH])) for start in range(0, len(parts), _BATCH)
    ]
    compressed.append(compressor.flush())
    return b"".join(compressed)


class Exposition:
    """What ``/metrics`` serves for ``registry``, whose per-route series are ``series``: the text
    (:func:`exposition`) or its gzip, kept while nothing changed.

    "Nothing changed" is the ordinary collectors' text (a few kilobytes, rendered anyway) and the
    per-route series' :attr:`RouteSeries.generation`. The render times are left out of it: every
    render changes them, so no body would ever be served twice; a body served again shows them as of
    the render that made it. So are the ``volatile`` collectors (process metrics): a body is kept for
    them at most :data:`VOLATILE_MAX_AGE` seconds of ``clock``.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        series: RouteSeries,
        volatile: Volatile | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._series = series
        self._volatile = volatile
        self._clock = clock
        self._made_from: tuple[int, bytes] | None = None
        self._made_at = 0.0
        self._gzip = b""
        # Concurrent scrapes compress once: the second waits for the first and then finds its body
        # current (unless something changed meanwhile).
        self._lock = asyncio.Lock()

    def text(self) -> bytes:
        """The text exposition."""
        return exposition(self._registry, self._series)

    async def gzip(self) -> bytes:
        """The text exposition, gzip-compressed: from the cache while nothing changed, else compressed
        in a worker thread from the cached route texts (the whole text is never joined on the loop)."""
        started = time.perf_counter()
        async with self._lock:
            ordinary = _ordinary(self._registry, self._series, self._volatile)
            state = (self._series.generation, ordinary)
            now = self._clock()
            stale = self._volatile is not None and now - self._made_at >= VOLATILE_MAX_AGE
            if state != self._made_from or stale:
                head = ordinary
                if self._volatile is not None:
                    head += generate_latest(self._volatile)
                parts = self._series.parts(head)
                self._gzip = await asyncio.to_thread(gzip_parts, parts)
                self._made_from = state
                self._made_at = now
            body = self._gzip
        self._series.observe_render("gzip", time.perf_counter() - started)
        return body
