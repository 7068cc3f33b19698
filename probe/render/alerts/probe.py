"""Alerts about the probe itself: down, scheduler stuck, ledger unwritable, and the always-firing
Watchdog."""

from __future__ import annotations

from probe.hops import Owner
from probe.render.alerts.model import JOB, PROBE_WIDE, Alert
from probe.render.durations import prom_duration
from probe.render.links import Dashboard
from probe.render.promql import by, number, selector
from probe.render.timing import Timing


def probe_alerts(timing: Timing) -> list[Alert]:
    """Alerts about the probe itself: down, scheduler stuck, ledger unwritable, and the always-firing
    Watchdog."""
    probe = {"channel": PROBE_WIDE, "owner": Owner.OPS.value, "scope": "probe"}
    up = selector("up", f'job="{JOB}"')
    stale = prom_duration(timing.scaled(timing.heartbeat_stale_after))
    stale_seconds = number(timing.scaled(timing.heartbeat_stale_after))
    down_for = prom_duration(timing.scaled(timing.probe_down_for))
    return [
        Alert(
            name="KanariProbeDown",
            expr=f"{up} == 0\nor\nabsent({up})",
            for_=timing.scaled(timing.probe_down_for),
            labels={**probe, "severity": "critical"},
            summary="Kanari is down or not scraped",
            description=(
                f"Prometheus has not scraped job {JOB} for {down_for} (the target is down or gone). "
                "No route is being monitored; every other Kanari alert is inhibited while this fires."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="KanariHeartbeatStale",
            expr=f"time() - max(kanari_heartbeat_timestamp_seconds) > {stale_seconds}",
            for_=timing.scaled(timing.heartbeat_for),
            labels={**probe, "severity": "critical"},
            summary="Kanari's scheduler has stopped ticking",
            description=(
                "The probe answers scrapes but its scheduler last ticked {{ $value | humanizeDuration }} "
                f"ago (it ticks every second; the threshold is {stale}). No canary is sent or followed; "
                "every other Kanari alert is inhibited while this fires."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="KanariLedgerUnwritable",
            expr=f"max {by('instance')} (kanari_ledger_writable) == 0",
            for_=timing.scaled(timing.probe_down_for),
            labels={**probe, "severity": "critical"},
            summary="Kanari cannot write its ledger: no canary is sent",
            description=(
                f"The probe's last ledger write failed and it has not written since, for {down_for} "
                "(a full disk, an I/O error, a read-only file system). Nothing is sent while it lasts and "
                "/readyz says not ready; what the probe sees meanwhile is written once the ledger takes "
                "writes again. Routes fall silent: free the disk first."
            ),
            dashboard=Dashboard.PROBE,
        ),
        Alert(
            name="Watchdog",
            expr="vector(1)",
            for_=None,
            labels={**probe, "severity": "none"},
            summary="Alerting pipeline heartbeat (always firing)",
            description=(
                "This alert always fires. The heartbeat receiver (a dead man's switch) raises the alarm "
                "when it stops arriving: then Prometheus, Alertmanager or the path between them is broken."
            ),
            dashboard=Dashboard.PROBE,
        ),
    ]
