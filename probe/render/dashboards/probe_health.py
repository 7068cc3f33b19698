"""Probe health (``kanari-probe``): is Kanari itself able to look? Heartbeat, in-flight canaries, send
and check failures, scheduler lag, marker rejections."""

from __future__ import annotations

from typing import Any

from probe.config.loader import KanariConfig
from probe.render.alerts import JOB
from probe.render.dashboards.model import Layout, Query, dashboard, stat, thresholds, timeseries, value_text
from probe.render.dashboards.queries import rate_by
from probe.render.links import Dashboard

UP = f'up{{job="{JOB}"}}'


def build(config: KanariConfig) -> dict[str, Any]:
    """The probe health dashboard."""
    layout = Layout()
    layout.add(
        stat(
            "Scrape",
            "Whether Prometheus can scrape the probe.",
            [Query(f"min({UP})")],
            steps=thresholds((None, "red"), (1, "green")),
            mappings=value_text({"0": ("DOWN", "red"), "1": ("UP", "green")}),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Heartbeat age",
            "Time since the scheduler's last tick (it ticks about once a second).",
            [Query("time() - max(kanari_heartbeat_timestamp_seconds)")],
            unit="s",
            steps=thresholds((None, "green"), (10, "orange"), (120, "red")),
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Version",
            "The running Kanari version.",
            [Query("max by (version) (kanari_build_info)", legend="{{version}}")],
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Routes",
            "Configured routes per channel.",
            [Query("count by (channel) (kanari_route_info)", legend="{{channel}}")],
        ),
        5,
        4,
    )
    layout.add(
        stat("In flight", "Canaries sent and not yet resolved.", [Query("sum(kanari_in_flight)")]),
        5,
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
                Query(
                    "time() - max by (channel) (kanari_oldest_in_flight_sent_timestamp_seconds > 0)",
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
                    rate_by("kanari_send_failures_total", "channel, reason", per=60) + " > 0",
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
    return dashboard(
        Dashboard.PROBE.value,
        "Kanari / Probe health",
        f"Whether {config.settings.instance} itself can send and look.",
        layout,
        time_from="now-6h",
    )
