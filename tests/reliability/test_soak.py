"""Soak: a simulated day over all 714 routes at the sandbox's normal latency (slow tail included) gives no
loss and nothing a route alert could fire on; one fault injected and cleared in the middle is detected,
blamed and resolved. Time is compressed by a fake clock (sandbox at speed 1), so the day takes minutes.

Why "no route alert fired" follows from the ledger: every route alert of ``config/prometheus/alerts.yml``
needs an increase of ``kanari_undelivered_total`` (two losses), a send or check failure, an unknown
verdict, or a delivery gap longer than the route's deadline plus two intervals. The soak asserts none of
those happened outside the fault, for every route.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.hops import Channel, Hop, Verdict
from probe.render.timing import PRODUCTION, channel_timings
from tests.e2e.harness import harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

HOUR = 3600.0
DAY = 24 * HOUR
# Production-shaped timing at speed 1: the sandbox's worst normal latency is 150 s to the portal
# receipt and about 31 minutes to an Altinn fetch (inbox polls every 5-30 minutes).
TIMING = {
    "channels": {
        "portal": {"interval": "1h", "deadline": "15m", "poll_interval": "1m", "normal_latency": "3m"},
        "altinn": {"interval": "2h", "deadline": "1h", "poll_interval": "5m", "normal_latency": "35m"},
    },
    "readback": {"poll_interval": "1m"},
    "blind_grace": "5m",
    "late_window": "2h",
}
FAULT = ("vendor.receipt_without_store", "4601")
FAULT_ON, FAULT_OFF = 12 * HOUR, 14 * HOUR
STEP = 30.0


@pytest.mark.usefixtures("untraced")
async def test_a_day_on_all_714_routes_without_false_alarms_and_one_fault_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with harness(tmp_path, "", speed=1.0, settings=TIMING) as probe:
        assert len(probe.config.routes) == 714
        start = probe.clock.now()
        await probe.run_for(FAULT_ON, step=STEP)
        fault_id = await probe.fault(*FAULT)
        fault_on = probe.clock.now()
        await probe.run_for(FAULT_OFF - FAULT_ON, step=STEP)
        (await probe.admin.delete(f"/admin/faults/{fault_id}")).raise_for_status()
        fault_off = probe.clock.now()
        await probe.run_for(DAY - FAULT_OFF, step=STEP)

        records = probe.records()
        judged = [r for r in records if r.verdict is not None]
        faulted = [
            r for r in judged if (r.channel, r.municipality) == (Channel.PORTAL, FAULT[1])
            and fault_on - r.deadline_at + r.created_at <= r.created_at <= fault_off
        ]  # fmt: skip
        others = [r for r in judged if r not in faulted]
        assert len(judged) > 12_000
        bad = [
            (r.channel.value, r.municipality, r.verdict, r.blamed_hop)
            for r in others
            if r.verdict is not Verdict.DELIVERED
        ]
        assert bad == [], f"{len(bad)} healthy canaries not delivered: {bad[:10]}"
        assert all(r.failure_reason is None for r in records)

        # No delivery gap on any healthy route long enough for the route-silent alert.
        for route in probe.config.routes:
            if route.key == (Channel.PORTAL, FAULT[1]):
                continue
            times = sorted(r.created_at for r in others if (r.channel, r.municipality) == route.key)
            gaps = [b - a for a, b in zip([start, *times], times, strict=False)]
            assert max(gaps) < route.deadline + 2 * route.interval, route.name

        # The fault: blamed on the vendor's missing record, detected, and gone once cleared.
        lost = sorted((r for r in faulted if r.verdict is Verdict.LOST), key=lambda r: r.verdict_at or 0)
        assert lost
        assert {(r.blamed_hop, r.blamed_owner.value if r.blamed_owner else None) for r in lost} == {
            (Hop.REGISTERED, "vendor")
        }
        route = probe.config.routes[[r.key for r in probe.config.routes].index((Channel.PORTAL, FAULT[1]))]
        first_lost = (lost[0].verdict_at or 0) - fault_on
        # No probe can know sooner than the next canary after the fault plus its normal latency; Kanari
        # says "lost" at that canary's deadline (normal latency plus margin), at most a poll later.
        floor = route.interval + 3 * 60
        bound = route.interval + route.deadline
        route_for = channel_timings(probe.config.routes, PRODUCTION)[Channel.PORTAL].route_for
        # The route alert needs two losses, then holds for its ``for:`` before firing.
        alert_fires = (lost[1].verdict_at or 0) - fault_on + route_for if len(lost) > 1 else None
        assert first_lost <= bound + route.poll_interval + STEP
        after = [r for r in judged if (r.channel, r.municipality) == route.key and r.created_at > fault_off]
        assert after
        assert {r.verdict for r in after} == {Verdict.DELIVERED}
        with capsys.disabled():
            print(
                f"\nsoak: {len(judged)} canaries over {len(probe.config.routes)} routes in a simulated day, "
                f"{len(others)} healthy all delivered; fault {FAULT[0]} on {FAULT[1]}: first lost verdict "
                f"{first_lost / 60:.1f} min after it (worst-case floor, interval + normal latency: "
                f"{floor / 60:.0f} min; bound, interval + deadline: {bound / 60:.0f} min), "
                f"route alert firing at {alert_fires / 60 if alert_fires else float('nan'):.1f} min"
            )
