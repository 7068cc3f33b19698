"""The vendor scorecard (``kanari-vendor``): one vendor's municipalities, hops and read-back health.

What a vendor's on-call engineer opens from a ``KanariReceiptWithoutRecord`` page or a
``KanariRouteOverdue`` ticket, what the operations centre opens from ``KanariProbeBlind``, and what the
operations centre shows a vendor in a review: open incidents with their exposure windows, overdue
canaries and each route's learned deadlines too.
"""

from __future__ import annotations

from typing import Any

from probe.config.loader import KanariConfig
from probe.render.dashboards import incidents
from probe.render.dashboards.model import (
    Layout,
    Query,
    dashboard,
    link,
    series_table,
    stat,
    table,
    thresholds,
    timeseries,
)
from probe.render.dashboards.queries import latency_quantiles, rate_by, route_columns, route_keys
from probe.render.dashboards.variables import JOB, query_variable
from probe.render.links import Dashboard

VENDOR = 'vendor="$vendor"'


def build(config: KanariConfig) -> dict[str, Any]:
    """The vendor scorecard dashboard."""
    where = (VENDOR,)
    resolved = "kanari_canaries_resolved_total"
    layout = Layout()
    layout.add(
        stat(
            "Routes",
            "Routes whose municipality uses this vendor.",
            [Query(f"count(max by (channel, municipality) (kanari_route_info{{{VENDOR}}}))")],
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Delivered (24 h)",
            "Share of judged canaries (delivered, lost or failed) delivered in the last 24 hours.",
            [
                Query(
                    f'sum(increase({resolved}{{{VENDOR},verdict="delivered"}}[24h])) / '
                    f'sum(increase({resolved}{{{VENDOR},verdict!="unknown"}}[24h]))'
                )
            ],
            unit="percentunit",
            steps=thresholds((None, "red"), (max(config.settings.alerting.slo_target.values()), "green")),
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Delivery p90 (24 h)",
            "90th percentile of sending → final hop over 24 hours.",
            [
                Query(
                    "histogram_quantile(0.9, sum by (le) "
                    f"(increase(kanari_delivery_seconds_bucket{{{VENDOR}}}[24h])))"
                )
            ],
            unit="s",
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Unknown verdicts (24 h)",
            "Canaries Kanari could not judge, usually because the read-back API failed.",
            [Query(f'sum(increase({resolved}{{{VENDOR},verdict="unknown"}}[24h]))')],
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        5,
        4,
    )
    layout.add(
        stat(
            "Firing alerts for this vendor",
            "Kanari alerts with this vendor's label firing now.",
            [Query(f'count(ALERTS{{alertstate="firing",{VENDOR},job="$job"}}) or vector(0)')],
            steps=thresholds((None, "green"), (1, "red")),
        ),
        5,
        4,
    )

    layout.row("Municipalities")
    layout.add(
        table(
            "The vendor's routes",
            "Every route whose municipality uses this vendor.",
            route_keys(where),
            route_columns(where),
            hide=("vendor",),
            links={"municipality": link(Dashboard.MUNICIPALITY.value, "municipality")},
        ),
        24,
        12,
    )
    layout.add(
        series_table(
            "Undelivered by municipality and hop (time range)",
            "Lost or failed canaries in the selected time range, by the first hop they did not reach.",
            Query(
                "sum by (channel, municipality, hop, owner) "
                f"(increase(kanari_undelivered_total{{{VENDOR}}}[$__range]))"
            ),
            "Canaries",
        ),
        24,
        8,
    )

    layout.row("Incidents, overdue canaries and learned deadlines")
    to_municipality = {"municipality": link(Dashboard.MUNICIPALITY.value, "municipality")}
    layout.add(incidents.open_incidents(where, links=to_municipality), 24, 7)
    layout.add(incidents.overdue(where), 12, 8)
    layout.add(incidents.deadlines(where), 12, 8)

    layout.row("Hops and latency")
    layout.add(
        timeseries(
            "Undelivered by hop",
            "Lost or failed canaries per hour by the first hop they did not reach (receipted, registered: "
            "the vendor's hops).",
            [
                Query(
                    rate_by("kanari_undelivered_total", "channel, hop, owner", VENDOR),
                    legend="{{channel}} {{hop}} ({{owner}})",
                )
            ],
            min_interval="5m",
            stack=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Delivery latency",
            "Sending to the final hop, by channel.",
            latency_quantiles("kanari_delivery_seconds", "channel", "{{channel}}", where),
            unit="s",
            min_interval="5m",
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Paper-post fallbacks",
            "Portal canaries the fagsystem rejected, sent on as paper post by KS, per hour.",
            [
                Query(
                    rate_by("kanari_rejections_total", "municipality", VENDOR, 'channel="portal"'),
                    legend="{{municipality}}",
                )
            ],
            min_interval="5m",
            bars=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Read-back health",
            "Unknown verdicts, marker rejections (forged or altered markers), duplicates and late "
            "arrivals, per hour.",
            [
                Query(
                    rate_by(resolved, "channel", VENDOR, 'verdict="unknown"'), legend="{{channel}} unknown"
                ),
                Query(
                    rate_by("kanari_marker_rejections_total", "channel", VENDOR),
                    legend="{{channel}} marker rejected",
                ),
                Query(rate_by("kanari_duplicates_total", "channel", VENDOR), legend="{{channel}} duplicate"),
                Query(rate_by("kanari_late_arrivals_total", "channel", VENDOR), legend="{{channel}} late"),
            ],
            min_interval="5m",
        ),
        12,
        8,
    )
    return dashboard(
        Dashboard.VENDOR.value,
        "Kanari / Vendor scorecard",
        f"One vendor's routes in {config.settings.instance}: its municipalities, its hops, its read-back.",
        layout,
        job=config.settings.alerting.job,
        variables=[query_variable("vendor", "Vendor", f"label_values(kanari_route_info{{{JOB}}}, vendor)")],
        time_from="now-7d",
    )
