"""Canaries through both channels to the sandbox, over loopback, at fake time."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.hops import Channel, Hop, Verdict
from tests.e2e.harness import harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_every_route_delivers_and_metrics_follow(tmp_path: Path) -> None:
    async with harness(tmp_path, "4601,0301,1580,3201") as probe:
        # Two intervals (60 s) and a deadline (Altinn's 90 s): status checks ask when a hop is expected,
        # halfway and at the deadline, so a delivered verdict comes by the deadline at the latest.
        await probe.run_for(240)
        routes = probe.config.routes
        assert len(routes) == 8
        for route in routes:
            labels = {
                "channel": route.channel.value,
                "municipality": route.kommunenummer,
                "vendor": route.vendor,
            }
            delivered = probe.value("kanari_canaries_resolved_total", verdict="delivered", **labels)
            assert delivered >= 2, route.name
            assert probe.value("kanari_canaries_resolved_total", verdict="lost", **labels) == 0
            assert probe.value("kanari_last_delivered_timestamp_seconds", **labels) > 0
        for record in probe.records():
            if record.verdict is Verdict.DELIVERED:
                assert Hop.ACCEPTED in record.hops
                assert record.upstream_id
        portal = [r for r in probe.records(Channel.PORTAL, "4601") if r.verdict is Verdict.DELIVERED]
        assert all(Hop.REGISTERED in r.hops for r in portal)  # nordlys has read-back: final hop registered
        assert all(r.cleaned_at is not None for r in portal[:-1])
