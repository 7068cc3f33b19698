"""What ``/metrics`` serves from the per-route collector: the text, its gzip (one member, equal to the
text once decompressed), the gzip kept while nothing changed and made again after any change, and the
render times it reports about itself.

The text itself is held to ``generate_latest`` in ``tests/bench/test_exposition.py``.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import CounterMetricFamily, Metric

from probe.metrics.exposition import (
    RENDER_BUCKETS,
    RENDER_SECONDS,
    VOLATILE_MAX_AGE,
    Exposition,
    Family,
    RouteSeries,
    Volatile,
    gzip_parts,
)

FAMILIES = {
    "sent": Family("kanari_example_sent", "counter", "Example sends.", "route"),
    "info": Family("kanari_example_info", "gauge", "Example info.", "info"),
}
LABEL_SETS = {"route": ("channel", "municipality"), "info": ("channel", "municipality", "name")}
PORTAL = ("portal", "4601")
TRONDHEIM = ("portal", "5001")
TRONDHEIM_LABELS = {"route": TRONDHEIM, "info": (*TRONDHEIM, "Trondheim")}


class Probe:
    """A registry with one ordinary counter and a per-route collector of two routes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ordinary = Counter("kanari_example_ordinary", "An ordinary counter.", registry=self.registry)
        self.series = RouteSeries(FAMILIES, LABEL_SETS)
        self.registry.register(self.series)
        for key in (PORTAL, ("altinn", "0301")):
            labels = {"route": key, "info": (*key, "Bergen")}
            self.series.add(key, labels, [("sent", (), 0.0), ("info", (), 1.0)])
        self.exposition = Exposition(self.registry, self.series)


def without_render_times(text: bytes) -> list[str]:
    """The text's lines but the render times, which every render changes."""
    return [line for line in text.decode().splitlines() if RENDER_SECONDS not in line]


def single_member(body: bytes) -> bytes:
    """``body`` decompressed, asserting that it is exactly one gzip member (curl and browsers read only
    the first)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = decompressor.decompress(body)
    assert decompressor.eof
    assert decompressor.unused_data == b""
    return text


def test_gzip_parts_is_one_member_of_the_joined_parts_across_batches() -> None:
    parts = [f"line {number}\n".encode() for number in range(5000)]
    assert single_member(gzip_parts(parts)) == b"".join(parts)
    assert gzip.decompress(gzip_parts([])) == b""


@pytest.mark.anyio
async def test_gzip_decompresses_to_the_text() -> None:
    probe = Probe()
    body = await probe.exposition.gzip()
    text = probe.exposition.text()
    assert without_render_times(single_member(body)) == without_render_times(text)
    assert 'kanari_example_sent_total{channel="portal",municipality="4601"} 0.0' in text.decode()
    assert "kanari_example_ordinary_total 0.0" in text.decode()


@pytest.mark.anyio
async def test_gzip_is_kept_while_nothing_changed() -> None:
    probe = Probe()
    first = await probe.exposition.gzip()
    probe.exposition.text()  # a plain scrape in between changes nothing (but the render times)
    # The very same object: not compressed again.
    assert await probe.exposition.gzip() is first


@pytest.mark.anyio
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda probe: probe.series.add_to(PORTAL, "sent", (), 1), id="route-counter"),
        pytest.param(lambda probe: probe.series.set(PORTAL, "info", 2.0), id="route-gauge"),
        pytest.param(lambda probe: probe.series.relabel(PORTAL, "info", (*PORTAL, "Os")), id="route-labels"),
        pytest.param(lambda probe: probe.series.remove(PORTAL), id="route-removed"),
        pytest.param(
            lambda probe: probe.series.add(TRONDHEIM, TRONDHEIM_LABELS, [("sent", (), 0.0)]), id="route-added"
        ),
        pytest.param(lambda probe: probe.ordinary.inc(), id="ordinary-collector"),
    ],
)
async def test_gzip_is_made_again_after_any_change(change: Callable[[Probe], object]) -> None:
    probe = Probe()
    first = await probe.exposition.gzip()
    change(probe)
    second = await probe.exposition.gzip()
    assert second is not first
    assert without_render_times(single_member(second)) == without_render_times(probe.exposition.text())
    assert without_render_times(single_member(second)) != without_render_times(single_member(first))


@pytest.mark.anyio
async def test_concurrent_scrapes_compress_once() -> None:
    probe = Probe()
    first, second = await asyncio.gather(probe.exposition.gzip(), probe.exposition.gzip())
    assert first is second


@pytest.mark.anyio
async def test_a_change_while_compressing_is_not_taken_for_compressed() -> None:
    probe = Probe()
    scrape = asyncio.create_task(probe.exposition.gzip())
    await asyncio.sleep(0)  # one turn of the loop: the scrape has its snapshot and awaits the thread
    probe.series.add_to(PORTAL, "sent", (), 1)
    before = single_member(await scrape).decode()
    assert 'kanari_example_sent_total{channel="portal",municipality="4601"} 0.0' in before
    after = single_member(await probe.exposition.gzip()).decode()
    assert 'kanari_example_sent_total{channel="portal",municipality="4601"} 1.0' in after


@pytest.mark.anyio
async def test_render_times_are_reported_by_encoding() -> None:
    probe = Probe()
    sample = probe.registry.get_sample_value
    # Both children exist before the first scrape, so the first render is counted from zero.
    assert sample(f"{RENDER_SECONDS}_count", {"encoding": "identity"}) == 0
    assert sample(f"{RENDER_SECONDS}_count", {"encoding": "gzip"}) == 0
    probe.exposition.text()
    await probe.exposition.gzip()
    await probe.exposition.gzip()  # from the cache: counted too, it is what the scraper waited for
    assert sample(f"{RENDER_SECONDS}_count", {"encoding": "identity"}) == 1
    assert sample(f"{RENDER_SECONDS}_count", {"encoding": "gzip"}) == 2
    total = sample(f"{RENDER_SECONDS}_sum", {"encoding": "identity"})
    assert total is not None
    assert total > 0
    # The buckets as configured, on the text /metrics serves.
    text = probe.exposition.text().decode()
    assert f'{RENDER_SECONDS}_count{{encoding="identity"}} 1.0' in text
    for bound in RENDER_BUCKETS:
        assert f'{RENDER_SECONDS}_bucket{{encoding="gzip",le="{bound}"}}' in text


def test_render_times_are_described_for_the_duplicate_name_check() -> None:
    probe = Probe()
    with pytest.raises(ValueError, match=RENDER_SECONDS):
        Counter(RENDER_SECONDS, "A clash.", registry=probe.registry)


class Ticking:
    """A collector whose value changes on every read (as the process's CPU time does)."""

    def __init__(self) -> None:
        self.reads = 0

    def collect(self) -> Iterator[Metric]:
        self.reads += 1
        family = CounterMetricFamily("process_example_cpu_seconds", "Example CPU time.")
        family.add_metric([], float(self.reads))
        yield family


class VolatileProbe(Probe):
    """:class:`Probe` plus a volatile collector and a clock the test moves."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 100.0
        self.ticking = Ticking()
        volatile = Volatile(self.ticking)
        self.registry.register(volatile)
        self.exposition = Exposition(self.registry, self.series, volatile, clock=lambda: self.now)


@pytest.mark.anyio
async def test_volatile_collectors_do_not_spoil_the_cache_but_never_go_stale() -> None:
    probe = VolatileProbe()
    first = await probe.exposition.gzip()
    assert "process_example_cpu_seconds_total" in single_member(first).decode()
    assert "process_example_cpu_seconds_total" in probe.exposition.text().decode()
    # Within the volatile age, its ever-changing value does not make a new body.
    probe.now += VOLATILE_MAX_AGE / 2
    assert await probe.exposition.gzip() is first
    # Past it, the body is made again with the current value, although nothing else changed.
    probe.now += VOLATILE_MAX_AGE
    second = await probe.exposition.gzip()
    assert second is not first
    assert single_member(second) != single_member(first)
    assert await probe.exposition.gzip() is second


@pytest.mark.anyio
async def test_a_change_of_the_ordinary_collectors_is_served_at_once_with_volatile_ones() -> None:
    probe = VolatileProbe()
    first = await probe.exposition.gzip()
    probe.ordinary.inc()
    second = await probe.exposition.gzip()
    assert second is not first
    assert "kanari_example_ordinary_total 1.0" in single_member(second).decode()
