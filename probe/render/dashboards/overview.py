"""The national overview (``kanari-overview``): what the operations centre keeps on the wall.

Every route at a glance, the delivered share per channel against the SLO, what is broken right now by
owner and hop (open incidents with their exposure windows, overdue canaries), and delivery latency by
channel and vendor.
"""

from __future__ import annotations

from typing import Any

from probe.config.loader import KanariConfig
from probe.render import recording
from probe.render.dashboards import incidents
from probe.render.dashboards.model import (
    Layout,
    Query,
    dashboard,
    link,
    none_row,
    series_table,
    stat,
    table,
    thresholds,
    timeseries,
)
from probe.render.dashboards.queries import latency_quantiles, rate_by, route_columns, route_keys
from probe.render.links import Dashboard
from probe.render.promql import number

# Kanari's alerts of this job firing now, but the always-firing KanariWatchdog.
FIRING = 'ALERTS{alertstate="firing",alertname=~"Kanari.+",alertname!="KanariWatchdog",job="$job"}'


def build(config: KanariConfig) -> dict[str, Any]:
    """The overview dashboard."""
    # The delivered-share stat turns red below the strictest configured SLO target.
    target = max(config.settings.alerting.slo_target.values())
    ratio = recording.UNDELIVERED_RATIO
    layout = Layout()
    layout.add(
        stat(
            "Routes monitored",
            "Configured routes (one per channel and municipality).",
            [Query("count(max by (channel, municipality) (kanari_route_info))")],
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Silent routes",
            "Routes with no delivered canary within their silence limit (the deadline in wall time now, "
            "plus two intervals).",
            [
                Query(
                    "count((time() - max by (channel, municipality) "
                    "(kanari_last_delivered_timestamp_seconds))"
                    f" > on (channel, municipality) {recording.SILENCE_THRESHOLD}) or vector(0)"
                )
            ],
            steps=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Delivered (1 h)",
            f"Judged canaries delivered over the last hour, by channel (SLO {number(target * 100)} %).",
            [Query(f'1 - {ratio}{{window="1h"}}', legend="{{channel}}")],
            unit="percentunit",
            steps=thresholds((None, "red"), (target, "green")),
        ),
        6,
        4,
    )
    layout.add(
        stat(
            "Firing alerts",
            "Kanari alerts firing now (all owners).",
            [Query(f"count({FIRING}) or vector(0)")],
            steps=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    layout.add(
        stat("Canaries in flight", "Sent and not yet resolved.", [Query("sum(kanari_in_flight)")]), 6, 4
    )

    layout.row("Every route")
    layout.add(
        table(
            "Routes at a glance",
            "One row per municipality and channel. Status SILENT: no delivery within the route's silence "
            "limit (its deadline in wall time now, across closed office hours, + 2 intervals).",
            route_keys(),
            route_columns(),
            links={
                "municipality": link(Dashboard.MUNICIPALITY.value, "municipality"),
                "vendor": link(Dashboard.VENDOR.value, "vendor"),
            },
        ),
        24,
        14,
    )

    layout.row("What is broken now")
    layout.add(
        series_table(
            "Firing alerts",
            "Kanari alerts firing now, with the owner that is paged for each.",
            Query(
                f"max by (alertname, severity, owner, channel, municipality, vendor, hop) ({FIRING})\n"
                f"{none_row('alertname', 'none firing')}"
            ),
            "Firing",
        ),
        12,
        9,
    )
    layout.add(
        series_table(
            "Undelivered in the last hour by owner and hop",
            "Lost or failed canaries of the last hour, by the first hop they did not reach.",
            Query("sum by (channel, owner, hop) (increase(kanari_undelivered_total[1h]))"),
            "Canaries",
        ),
        12,
        9,
    )
    layout.add(
        timeseries(
            "Undelivered by owner and hop",
            "Lost or failed canaries per hour, by the first hop they did not reach and its owner.",
            [
                Query(
                    rate_by("kanari_undelivered_total", "channel, owner, hop"),
                    legend="{{channel}} {{hop}} ({{owner}})",
                )
            ],
            unit="short",
            min_interval="5m",
            stack=True,
        ),
        24,
        8,
    )

    layout.row("Open incidents and overdue canaries")
    for panel in incidents.counts():
        layout.add(panel, 4, 8)
    layout.add(
        incidents.open_incidents(
            links={
                "municipality": link(Dashboard.MUNICIPALITY.value, "municipality"),
                "vendor": link(Dashboard.VENDOR.value, "vendor"),
            }
        ),
        16,
        8,
    )
    layout.add(incidents.overdue(), 24, 7)

    layout.row("Delivered share and latency")
    layout.add(
        timeseries(
            "Delivered share by channel",
            "1 minus the SLO error ratio over 1 h and 6 h (the recording rules the burn-rate alerts use).",
            [
                Query(f'1 - {ratio}{{window="1h"}}', legend="{{channel}} 1h"),
                Query(f'1 - {ratio}{{window="6h"}}', legend="{{channel}} 6h"),
            ],
            unit="percentunit",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Verdicts per hour by channel",
            "Canaries resolved per hour by verdict.",
            [
                Query(
                    rate_by("kanari_canaries_resolved_total", "channel, verdict"),
                    legend="{{channel}} {{verdict}}",
                )
            ],
            min_interval="5m",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Delivery latency by channel and vendor",
            "Sending to the final hop, delivered canaries only.",
            latency_quantiles("kanari_delivery_seconds", "channel, vendor", "{{channel}} {{vendor}}"),
            unit="s",
            min_interval="5m",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Time to each hop (p90) by channel",
            "Sending to reaching each hop.",
            latency_quantiles("kanari_hop_seconds", "channel, hop", "{{channel}} {{hop}}")[1:],
            unit="s",
            min_interval="5m",
        ),
        12,
        8,
    )
    return dashboard(
        Dashboard.OVERVIEW.value,
        "Kanari / National overview",
        f"Every route of {config.settings.instance}: delivery, what is broken and who owns it.",
        layout,
        job=config.settings.alerting.job,
    )
