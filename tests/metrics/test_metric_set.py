from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from probe.config.routes import Route
from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle.counters import counter_keys
from probe.lifecycle.record import CanaryRecord, State
from probe.metrics.metric_set import Metrics, geometric_buckets

ROUTE = Route(Channel.PORTAL, "4601", "Bergen", "Vestland", "964338531", "nordlys", None, 300.0, 900.0, 15.0,
              Hop.REGISTERED)  # fmt: skip
LABELS = {"channel": "portal", "municipality": "4601", "vendor": "nordlys"}


@pytest.fixture
def metrics() -> Metrics:
    instance = Metrics(CollectorRegistry(), geometric_buckets(15, 900))
    instance.set_routes([ROUTE])
    return instance


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def record(**fields: Any) -> CanaryRecord:
    base = CanaryRecord("c", Channel.PORTAL, "4601", "nordlys", None, Hop.REGISTERED, 0.0, 900.0, "m")
    if "state" in fields:
        fields["state"] = State(fields["state"])
    return dataclasses.replace(base, **fields)


def test_every_route_series_exists_at_start_with_zero(metrics: Metrics) -> None:
    assert value(metrics, "kanari_canaries_sent_total", **LABELS) == 0
    for verdict in Verdict:
        assert value(metrics, "kanari_canaries_resolved_total", **LABELS, verdict=verdict.value) == 0
    for hop, owner in [
        ("accepted", "ks"),
        ("receipted", "vendor"),
        ("registered", "vendor"),
        ("accepted", "ops"),
    ]:
        assert value(metrics, "kanari_undelivered_total", **LABELS, hop=hop, owner=owner) == 0
    assert (
        value(metrics, "kanari_check_failures_total", channel="portal", target="readback", reason="timeout")
        == 0
    )
    info = {**LABELS, "municipality_name": "Bergen", "county": "Vestland", "final_hop": "registered"}
    assert value(metrics, "kanari_route_info", **info, api_version="") == 1
    for hop, owner in [
        ("accepted", "ks"),
        ("forwarded", "ks"),
        ("receipted", "vendor"),
        ("registered", "vendor"),
    ]:
        assert (
            value(metrics, "kanari_route_deadline_seconds", channel="portal", municipality="4601", hop=hop)
            == 900
        )
        assert value(metrics, "kanari_overdue", **LABELS, hop=hop, owner=owner) == 0
    # Deadline plus two send intervals until the probe has worked out the route's own.
    assert value(metrics, "kanari_route_silence_limit_seconds", channel="portal", municipality="4601") == (
        900 + 2 * ROUTE.interval
    )


def test_a_route_that_leaves_the_configuration_loses_its_series(metrics: Metrics) -> None:
    lost = record(state="resolved", verdict=Verdict.LOST, blamed_hop=Hop.RECEIPTED, blamed_owner=Owner.VENDOR)
    metrics.count(lost, {("resolved", ("lost",))})
    metrics.set_routes([])
    assert value(metrics, "kanari_canaries_sent_total", **LABELS) is None
    assert value(metrics, "kanari_canaries_resolved_total", **LABELS, verdict="lost") is None
    assert (
        value(metrics, "kanari_route_deadline_seconds", channel="portal", municipality="4601", hop="accepted")
        is None
    )


def test_a_vendor_change_moves_the_series(metrics: Metrics) -> None:
    metrics.set_routes([dataclasses.replace(ROUTE, vendor="fjordsys")])
    assert value(metrics, "kanari_canaries_sent_total", **LABELS) is None
    assert value(metrics, "kanari_canaries_sent_total", **{**LABELS, "vendor": "fjordsys"}) == 0


def test_counter_keys_follow_the_record() -> None:
    assert counter_keys(record()) == set()
    assert counter_keys(record(state="in_flight")) == {("sent", ())}
    failed = record(
        state="resolved", verdict=Verdict.FAILED, blamed_hop=Hop.RECEIPTED, blamed_owner=Owner.VENDOR
    )
    assert counter_keys(failed) == {
        ("sent", ()),
        ("resolved", ("failed",)),
        ("undelivered", ("receipted", "vendor")),
        ("rejections", ()),
    }
    send_failure = dataclasses.replace(
        failed, failure_reason="http_5xx", blamed_hop=Hop.ACCEPTED, blamed_owner=Owner.KS
    )
    assert ("rejections", ()) not in counter_keys(send_failure)
    assert ("send_failures", ("http_5xx",)) in counter_keys(send_failure)
    unknown = record(state="resolved", verdict=Verdict.UNKNOWN, late_at=5.0, duplicate=True)
    assert counter_keys(unknown) == {
        ("sent", ()),
        ("resolved", ("unknown",)),
        ("late_arrivals", ()),
        ("duplicates", ()),
    }


def test_restore_sets_counters_from_ledger_totals_only_for_configured_routes(metrics: Metrics) -> None:
    metrics.restore({
        ("resolved", "portal", "4601", "nordlys", "delivered", ""): 41,
        ("undelivered", "portal", "4601", "nordlys", "registered", "vendor"): 2,
        ("resolved", "portal", "0301", "fjordsys", "delivered", ""): 9,  # not configured: ignored
        ("resolved", "portal", "4601", "someone-else", "delivered", ""): 5,  # an old vendor: ignored
    })  # fmt: skip
    assert value(metrics, "kanari_canaries_resolved_total", **LABELS, verdict="delivered") == 41
    assert value(metrics, "kanari_undelivered_total", **LABELS, hop="registered", owner="vendor") == 2
    oslo = {"channel": "portal", "municipality": "0301", "vendor": "fjordsys"}
    assert value(metrics, "kanari_canaries_resolved_total", **oslo, verdict="delivered") is None


def test_last_delivery_gauges_only_move_forward(metrics: Metrics) -> None:
    metrics.delivered(record(created_at=100.0), 160.0)
    metrics.set_last_delivery(record(created_at=10.0), 50.0)  # older: ignored
    assert value(metrics, "kanari_last_delivered_timestamp_seconds", **LABELS) == 160.0
    assert value(metrics, "kanari_last_delivery_seconds", **LABELS) == 60.0
    assert value(metrics, "kanari_delivery_seconds_count", channel="portal", vendor="nordlys") == 1


def test_buckets_double_from_the_poll_period_to_the_longest_deadline() -> None:
    assert geometric_buckets(15, 900) == (15, 30, 60, 120, 240, 480, 900)
    assert geometric_buckets(60, 60) == (60,)


def test_route_info_shows_the_version_the_route_sends_in(metrics: Metrics) -> None:
    info = {
        "channel": "portal", "municipality": "4601", "municipality_name": "Bergen", "county": "Vestland",
        "vendor": "nordlys", "final_hop": "registered",
    }  # fmt: skip
    assert value(metrics, "kanari_route_info", **info, api_version="") == 1
    metrics.set_route_version(ROUTE.key, "v1")
    assert value(metrics, "kanari_route_info", **info, api_version="v1") == 1
    assert value(metrics, "kanari_route_info", **info, api_version="") is None
    metrics.set_route_version(ROUTE.key, None)
    assert value(metrics, "kanari_route_info", **info, api_version="v1") == 1


def test_hop_time_reading_errors_are_counted_per_channel_and_hop(metrics: Metrics) -> None:
    assert value(metrics, "kanari_hop_time_reading_errors_total", channel="portal", hop="forwarded") == 0
    metrics.hop_time_reading_error(Channel.PORTAL, Hop.FORWARDED)
    assert value(metrics, "kanari_hop_time_reading_errors_total", channel="portal", hop="forwarded") == 1


def test_marker_rejections_exist_at_zero_per_channel_and_vendor_and_leave_with_the_routes(
    metrics: Metrics,
) -> None:
    # At 0 from the start, so the panels show 0 and increase() sees the first rejection.
    assert value(metrics, "kanari_marker_rejections_total", channel="portal", vendor="nordlys") == 0
    metrics.marker_rejected(Channel.PORTAL, "nordlys")
    assert value(metrics, "kanari_marker_rejections_total", channel="portal", vendor="nordlys") == 1
    moved = dataclasses.replace(ROUTE, vendor="fjordsys")
    metrics.set_routes([moved])
    assert value(metrics, "kanari_marker_rejections_total", channel="portal", vendor="nordlys") is None
    assert value(metrics, "kanari_marker_rejections_total", channel="portal", vendor="fjordsys") == 0


def test_a_probe_leads_until_told_it_stands_by(metrics: Metrics) -> None:
    assert value(metrics, "kanari_leader") == 1
    metrics.set_leader(False)
    assert value(metrics, "kanari_leader") == 0
    metrics.set_leader(True)
    assert value(metrics, "kanari_leader") == 1


def test_key_expiries_only_for_keys_that_expire(metrics: Metrics) -> None:
    metrics.set_key_expiries({"business_certificate": 1_800_000_000.0, "maskinporten": 1_790_000_000.0})
    assert value(metrics, "kanari_key_expiry_timestamp_seconds", key="business_certificate") == 1.8e9
    assert value(metrics, "kanari_key_expiry_timestamp_seconds", key="maskinporten") == 1.79e9
    assert value(metrics, "kanari_key_expiry_timestamp_seconds", key="marker") is None
    # A key that no longer has a certificate (maskinporten moved to a registered kid) loses its series.
    metrics.set_key_expiries({"business_certificate": 1_800_000_000.0})
    assert value(metrics, "kanari_key_expiry_timestamp_seconds", key="maskinporten") is None


def test_process_metrics_are_served_beside_kanaris_own(metrics: Metrics) -> None:
    text = metrics.exposition().decode()
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert any(line.startswith(f"{name} ") for line in text.splitlines()), name
    assert "python_info{" in text
    assert value(metrics, "process_start_time_seconds") is not None
    assert "kanari_leader 1.0" in text
