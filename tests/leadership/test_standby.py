"""What ``/metrics`` shows by role: a standby only its role, build and process; a leader everything."""

from __future__ import annotations

import gzip

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from probe.leadership.standby import RoleExposition, shown_by_standby
from probe.metrics.metric_set import Metrics
from tests.engine.kit import PORTAL

pytestmark = pytest.mark.anyio


def families(text: bytes) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


async def test_a_standby_shows_only_its_role_build_and_process_and_a_leader_everything() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, (1.0,))
    metrics.set_routes([PORTAL])
    metrics.beat(1234.0)
    leading = False
    shown = RoleExposition(registry, metrics.served, lambda: leading)
    metrics.set_leader(False)

    standby = families(shown.text())
    assert standby["kanari_leader"] == 0
    assert "kanari_build_info" in standby
    assert "process_cpu_seconds_total" in standby
    # Nothing the ledger or the sending feeds: no counters, route gauges or heartbeat to sum twice.
    assert all(shown_by_standby(name.removesuffix("_total")) or name.startswith(("process_", "python_"))
               for name in standby), sorted(standby)  # fmt: skip
    assert "kanari_heartbeat_timestamp_seconds" not in standby
    assert not [name for name in standby if name.startswith("kanari_canaries")]
    assert families(gzip.decompress(await shown.gzip())).keys() == standby.keys()

    leading = True
    metrics.set_leader(True)
    leader = families(shown.text())
    assert leader["kanari_leader"] == 1
    assert leader["kanari_heartbeat_timestamp_seconds"] == 1234.0
    assert "kanari_canaries_sent_total" in leader
    assert families(gzip.decompress(await shown.gzip()))["kanari_leader"] == 1
