"""The per-route collector's cached exposition says exactly what prometheus_client would say.

``Metrics.exposition`` renders Kanari's per-route series from cached text for speed; these tests
hold it to ``generate_latest`` over the same registry (as sets of lines, since family order is free in
the text format) through every kind of change: counts, restores, gauges, a route that changes and one
that leaves, and label values that need escaping.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probe.config.routes import Route
from probe.errors import Reason
from probe.hops import Channel, Hop, Verdict
from probe.lifecycle.record import CanaryRecord
from probe.metrics.exposition import RENDER_SECONDS
from probe.metrics.metric_set import Metrics, geometric_buckets

PORTAL = Route(Channel.PORTAL, "4601", "Bergen", "Vestland", "964338531", "nordlys", None, 300.0, 900.0, 15.0,
               Hop.REGISTERED)  # fmt: skip
# A name that needs every escape of the text format.
ODD = Route(Channel.ALTINN, "0301", 'Os"lo\\By\nen', "Oslo", "958935420", "fjordsys", None, 60.0, 120.0, 5.0,
            Hop.FETCHED)  # fmt: skip


def lines(text: bytes) -> set[str]:
    # Every render records its own duration after it, so two renders never agree on the render times;
    # nor on the process's CPU time and memory, which change on every read.
    return {
        line
        for line in text.decode().splitlines()
        if RENDER_SECONDS not in line and not line.startswith("process_")
    }


def metrics_with(*routes: Route) -> Metrics:
    metrics = Metrics(CollectorRegistry(), geometric_buckets(15, 900))
    metrics.set_routes(routes)
    return metrics


def same_as_generate_latest(metrics: Metrics) -> None:
    fast = metrics.exposition()
    assert lines(fast) == lines(generate_latest(metrics.registry))
    # And Prometheus' own parser reads it.
    assert list(text_string_to_metric_families(fast.decode()))


def record(route: Route, **fields: Any) -> CanaryRecord:
    base = CanaryRecord("c", route.channel, route.kommunenummer, route.vendor, None, route.final_hop, 10.0,
                        900.0, "m")  # fmt: skip
    return dataclasses.replace(base, **fields)


def test_fresh_routes_render_identically() -> None:
    same_as_generate_latest(metrics_with(PORTAL, ODD))


def test_counts_restores_and_gauges_render_identically() -> None:
    metrics = metrics_with(PORTAL, ODD)
    metrics.exposition()  # fill the cache, so the changes below must invalidate it
    metrics.count(record(PORTAL), {("sent", ()), ("resolved", (Verdict.DELIVERED.value,))})
    metrics.count(record(ODD), {("undelivered", ("read", "municipality"))})  # not pre-created
    metrics.restore({("send_failures", "portal", "4601", "nordlys", "timeout", ""): 3})
    metrics.delivered(record(PORTAL), 1_767_225_612.5)
    metrics.check_failed(Channel.PORTAL, "readback", Reason.TIMEOUT)
    same_as_generate_latest(metrics)
    labels = {"channel": "portal", "municipality": "4601", "vendor": "nordlys"}
    sample = metrics.registry.get_sample_value
    assert sample("kanari_canaries_sent_total", labels) == 1
    assert sample("kanari_send_failures_total", {**labels, "reason": "timeout"}) == 3
    assert sample("kanari_last_delivered_timestamp_seconds", labels) == 1_767_225_612.5


def test_changed_and_removed_routes_render_identically() -> None:
    metrics = metrics_with(PORTAL, ODD)
    metrics.count(record(PORTAL), {("sent", ())})
    metrics.exposition()
    metrics.set_routes([dataclasses.replace(PORTAL, vendor="fjordsys")])
    same_as_generate_latest(metrics)
    text = metrics.exposition().decode()
    sent = [line for line in text.splitlines() if line.startswith("kanari_canaries_sent_total")]
    assert sent == ['kanari_canaries_sent_total{channel="portal",municipality="4601",vendor="fjordsys"} 0.0']
    assert "0301" not in text
