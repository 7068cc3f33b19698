"""The incident gauges: ``kanari_incidents_open`` pre-created at 0 for every blame a route can have, 1
under the open incident's hop and owner; the exposure start and KS retention date only while it is
open, in the served text as in the registry."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry

from probe.hops import Channel, Hop, Owner
from probe.lifecycle.incident import Incident
from probe.metrics.incident_gauges import blame_pairs
from probe.metrics.metric_set import Metrics, geometric_buckets
from tests.engine.kit import route

ROUTE = route()
LABELS = {"channel": "portal", "municipality": "4601", "vendor": ROUTE.vendor}
OPEN = Incident(
    id="i1",
    channel=Channel.PORTAL,
    municipality="4601",
    vendor=ROUTE.vendor,
    hop=Hop.RECEIPTED,
    owner=Owner.VENDOR,
    opened_at=2000.0,
    first_canary="c1",
    exposure_start=1000.0,
    exposure_end=None,
    closed_at=None,
    canaries=1,
    retained_until=1000.0 + 30 * 86400,
)


def metric_set() -> Metrics:
    metrics = Metrics(CollectorRegistry(), geometric_buckets(15, 900))
    metrics.set_routes([ROUTE])
    return metrics


def value(metrics: Metrics, name: str, **extra: str) -> float | None:
    return metrics.registry.get_sample_value(name, {**LABELS, **extra})


def test_every_blame_a_route_can_have_starts_at_0() -> None:
    metrics = metric_set()
    for hop, owner in blame_pairs(Channel.PORTAL):
        assert value(metrics, "kanari_incidents_open", hop=hop.value, owner=owner.value) == 0
    assert (Hop.FORWARDED, Owner.VENDOR) in blame_pairs(Channel.PORTAL)  # paper post at forwarding
    assert (Hop.ACCEPTED, Owner.OPS) in blame_pairs(Channel.ALTINN)
    assert value(metrics, "kanari_incident_exposure_start_timestamp_seconds") is None


def test_an_open_incident_shows_its_blame_window_and_ks_date_until_it_closes() -> None:
    metrics = metric_set()
    metrics.incidents.show(OPEN)
    assert value(metrics, "kanari_incidents_open", hop="receipted", owner="vendor") == 1
    assert value(metrics, "kanari_incident_exposure_start_timestamp_seconds") == 1000.0
    assert value(metrics, "kanari_incident_retained_until_timestamp_seconds") == 1000.0 + 30 * 86400
    text = metrics.exposition().decode()
    assert 'kanari_incident_exposure_start_timestamp_seconds{channel="portal",municipality="4601"' in text
    metrics.incidents.show(dataclasses.replace(OPEN, closed_at=3000.0, exposure_end=2900.0))
    assert value(metrics, "kanari_incidents_open", hop="receipted", owner="vendor") == 0
    assert value(metrics, "kanari_incident_exposure_start_timestamp_seconds") is None
    assert value(metrics, "kanari_incident_retained_until_timestamp_seconds") is None
    assert "kanari_incident_exposure_start_timestamp_seconds{" not in metrics.exposition().decode()


def test_a_new_blame_moves_the_1() -> None:
    metrics = metric_set()
    metrics.incidents.show(OPEN)
    metrics.incidents.show(dataclasses.replace(OPEN, id="i2", hop=Hop.REGISTERED))
    assert value(metrics, "kanari_incidents_open", hop="receipted", owner="vendor") == 0
    assert value(metrics, "kanari_incidents_open", hop="registered", owner="vendor") == 1


def test_an_incident_of_a_route_not_configured_shows_nothing() -> None:
    metrics = metric_set()
    metrics.incidents.show(dataclasses.replace(OPEN, municipality="0301"))
    metrics.incidents.show(dataclasses.replace(OPEN, vendor="another"))
    assert value(metrics, "kanari_incident_exposure_start_timestamp_seconds") is None
    assert value(metrics, "kanari_incidents_open", hop="receipted", owner="vendor") == 0
