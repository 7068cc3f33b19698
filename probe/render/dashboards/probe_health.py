"""Probe health (``kanari-probe``): is Kanari itself able to look? Replicas and the leader, heartbeat,
in-flight canaries, send and check failures, scheduler lag, marker rejections, key expiry and the
process (CPU, memory, file descriptors) of each replica."""

from __future__ import annotations

from typing import Any

from probe.config.loader import KanariConfig
from probe.render.dashboards.model import (
    Layout,
    Query,
    dashboard,
    none_row,
    series_table,
    stat,
    thresholds,
    timeseries,
    value_text,
)
from probe.render.dashboards.queries import rate_by
from probe.render.dashboards.variables import INSTANCE, JOB
from probe.render.links import Dashboard
from probe.render.promql import selector

UP = selector("up", JOB, INSTANCE)
OLDEST = "kanari_oldest_in_flight_sent_timestamp_seconds"
_NO_KEYS = none_row("key", "none with an expiry")


def process(metric: str) -> str:
    """A process metric (prometheus_client's process collector) of the selected replicas."""
    return selector(metric, JOB, INSTANCE)


def build(config: KanariConfig) -> dict[str, Any]:
    """The probe health dashboard."""
    layout = Layout()
    layout.add(
        stat(
            "Scrape",
            "Whether Prometheus can scrape each replica.",
            [Query(f"max by (instance) ({UP})", legend="{{instance}}")],
            steps=thresholds((None, "red"), (1, "green")),
            mappings=value_text({"0": ("DOWN", "red"), "1": ("UP", "green")}),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Role",
            "Which replica leads (sends, ticks, counts); the others stand by to take over.",
            [Query("max by (instance) (kanari_leader)", legend="{{instance}}")],
            steps=thresholds((None, "blue"), (1, "green")),
            mappings=value_text({"0": ("STANDBY", "blue"), "1": ("LEADER", "green")}),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Heartbeat age",
            "Time since the leader's scheduler last ticked (about once a second).",
            [Query("time() - max(kanari_heartbeat_timestamp_seconds)")],
            unit="s",
            steps=thresholds((None, "green"), (10, "orange"), (120, "red")),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Version",
            "The running Kanari version.",
            [Query("max by (version) (kanari_build_info)", legend="{{version}}")],
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Routes",
            "Configured routes per channel.",
            [
                Query(
                    "count by (channel) (max by (channel, municipality) (kanari_route_info))",
                    legend="{{channel}}",
                )
            ],
        ),
        4,
        4,
    )
    layout.add(
        stat("In flight", "Canaries sent and not yet resolved.", [Query("sum(kanari_in_flight)")]),
        4,
        4,
    )

    layout.row("Canaries")
    layout.add(
        timeseries(
            "In flight by channel",
            "Canaries sent and not yet resolved.",
            [Query("sum by (channel) (kanari_in_flight)", legend="{{channel}}")],
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Oldest in-flight canary",
            "Age of the oldest unresolved canary; above the deadline plus the blind grace means stuck.",
            [
                # 0 while nothing is in flight (the gauge is 0 then), not an empty panel.
                Query(
                    f"time() - max by (channel) ({OLDEST} > 0)\nor\nmax by (channel) ({OLDEST}) * 0",
                    legend="{{channel}}",
                )
            ],
            unit="s",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Sends per minute",
            "Canaries whose send attempt concluded.",
            [Query(rate_by("kanari_canaries_sent_total", "channel", per=60), legend="{{channel}}")],
            min_interval="1m",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Send failures by reason",
            "Per minute. auth and http_4xx are Kanari's own side; rate_limited makes verdicts unknown.",
            [
                Query(
                    rate_by("kanari_send_failures_total", "channel, reason", per=60),
                    legend="{{channel}} {{reason}}",
                )
            ],
            min_interval="1m",
            stack=True,
        ),
        12,
        8,
    )

    layout.row("Checks and scheduler")
    layout.add(
        timeseries(
            "Check failures by target and reason",
            "Status look-ups (portal, altinn) and read-back calls that failed, per minute.",
            [
                Query(
                    rate_by("kanari_check_failures_total", "channel, target, reason", per=60),
                    legend="{{channel}} {{target}} {{reason}}",
                )
            ],
            min_interval="1m",
            stack=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Scheduler lag",
            "How late sends start after their planned time; growth means the probe is saturated.",
            [
                Query(
                    f"histogram_quantile({q}, sum by (le) "
                    "(rate(kanari_scheduler_lag_seconds_bucket[$__rate_interval])))",
                    legend=f"p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
            unit="s",
            min_interval="1m",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Marker rejections",
            "Read-back entries whose signed marker failed verification (forged, altered, expired or "
            "unknown key), per hour: look for a replay or a vendor bug.",
            [
                Query(
                    rate_by("kanari_marker_rejections_total", "channel, vendor"),
                    legend="{{channel}} {{vendor}}",
                )
            ],
            min_interval="5m",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Heartbeat age",
            "Time since the scheduler's last tick, as Prometheus saw it.",
            [Query("time() - max(kanari_heartbeat_timestamp_seconds)", legend="heartbeat age")],
            unit="s",
        ),
        12,
        8,
    )
    layout.row("Keys and process")
    layout.add(
        series_table(
            "Key and certificate expiry",
            "When each configured certificate expires (the earliest in its chain). Keys without a "
            "certificate (the marker key, a Maskinporten key registered by kid) never expire: no row.",
            Query(f"min by (key) (kanari_key_expiry_timestamp_seconds) - time() {_NO_KEYS}"),
            "Expires in",
            unit="s",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "CPU",
            "CPU seconds per second used by each replica's process.",
            [
                Query(
                    f"rate({process('process_cpu_seconds_total')}[$__rate_interval])",
                    legend="{{instance}}",
                )
            ],
            unit="percentunit",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Resident memory",
            "Resident memory of each replica's process.",
            [Query(process("process_resident_memory_bytes"), legend="{{instance}}")],
            unit="bytes",
        ),
        8,
        8,
    )
    layout.add(
        timeseries(
            "Open file descriptors",
            "Open file descriptors of each replica's process (sockets to the upstreams, the ledger).",
            [Query(process("process_open_fds"), legend="{{instance}}")],
        ),
        8,
        8,
    )
    return dashboard(
        Dashboard.PROBE.value,
        "Kanari / Probe health",
        f"Whether {config.settings.instance} itself can send and look.",
        layout,
        job=config.settings.alerting.job,
        time_from="now-6h",
    )
