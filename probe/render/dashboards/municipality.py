"""The municipality drill-down (``kanari-municipality``): one municipality's routes, open incidents with
their exposure window, overdue canaries, learned deadlines, hops, latencies and latest canaries. Route
alerts link here with the municipality filled in."""

from __future__ import annotations

from typing import Any

from probe.config.loader import KanariConfig
from probe.render.dashboards import incidents
from probe.render.dashboards.model import (
    Column,
    Layout,
    Query,
    dashboard,
    none_row,
    series_table,
    stat,
    table,
    timeseries,
)
from probe.render.dashboards.queries import increase_by, route_columns, route_keys
from probe.render.dashboards.variables import JOB, query_variable
from probe.render.links import Dashboard
from probe.render.promql import selector

MUNICIPALITY = 'municipality="$municipality"'
FIRING = '"firing"'

# The variable shows "0301 Oslo" but carries the kommunenummer. Prometheus returns labels sorted, so
# municipality comes right before municipality_name in query_result's text.
VARIABLE_QUERY = f"query_result(max by (municipality, municipality_name) (kanari_route_info{{{JOB}}}))"
VARIABLE_REGEX = '/municipality="(?<value>[0-9]{4})",\\s*municipality_name="(?<text>[^"]*)"/'


def build(config: KanariConfig) -> dict[str, Any]:
    """The municipality drill-down dashboard."""
    where = (MUNICIPALITY,)
    resolved = "kanari_canaries_resolved_total"
    layout = Layout()
    timing = [
        Column(
            Query(f"max by (channel, municipality) (kanari_route_interval_seconds{{{MUNICIPALITY}}})"),
            "Interval",
            unit="s",
        ),
        Column(
            # The final hop's bound (the deadline is per hop; office seconds for a hop that needs a
            # person): the series of kanari_route_deadline_seconds whose hop is the route's final_hop
            # (label_join copies final_hop into hop; label_replace would need a "$1", which Grafana
            # reads as a variable).
            Query(
                f"max by (channel, municipality) (\n  kanari_route_deadline_seconds{{{MUNICIPALITY}}}\n"
                "  * on (channel, municipality, hop)\n  label_join(\n"
                f"    max by (channel, municipality, final_hop) (kanari_route_info{{{MUNICIPALITY}}}),\n"
                '    "hop", "", "final_hop"\n  )\n)'
            ),
            "Deadline (final hop)",
            unit="s",
        ),
        Column(
            Query(f"max by (channel, municipality) (kanari_route_silence_limit_seconds{{{MUNICIPALITY}}})"),
            "Silence limit now",
            unit="s",
        ),
    ]
    layout.add(
        table(
            "Routes",
            "The municipality's routes: vendor, final hop, timing (interval, the final hop's current "
            "deadline, and how long the route may go without a delivery right now before it counts as "
            "silent), status and the last 24 hours.",
            route_keys(where),
            timing + route_columns(where),
            hide=("municipality", "municipality_name", "county"),
        ),
        24,
        6,
    )
    layout.add(
        stat(
            "Since last delivery",
            "Time since the newest delivered canary arrived, per channel.",
            [
                Query(
                    "time() - max by (channel) "
                    f"({selector('kanari_last_delivered_timestamp_seconds', MUNICIPALITY)} > 0)",
                    legend="{{channel}}",
                )
            ],
            unit="s",
        ),
        8,
        5,
    )
    layout.add(
        series_table(
            "Firing alerts",
            "Kanari alerts about this municipality firing now.",
            Query(
                "max by (alertname, severity, owner, channel, hop) "
                f"({selector('ALERTS', 'alertstate=' + FIRING, MUNICIPALITY, JOB)})\n"
                f"{none_row('alertname', 'none firing')}"
            ),
            "Firing",
        ),
        16,
        5,
    )

    layout.row("Incidents, overdue canaries and learned deadlines")
    layout.add(incidents.open_incidents(where), 24, 6)
    layout.add(incidents.overdue(where), 12, 7)
    layout.add(incidents.deadlines(where), 12, 7)

    layout.row("Latest canaries")
    layout.add(
        timeseries(
            "Latency of the latest delivered canary",
            "Each step is a newly delivered canary: sending to the final hop.",
            [
                Query(
                    f"max by (channel) (kanari_last_delivery_seconds{{{MUNICIPALITY}}})",
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
            "Verdicts",
            "Canaries resolved per interval by verdict.",
            [
                Query(
                    increase_by(resolved, "channel, verdict", MUNICIPALITY), legend="{{channel}} {{verdict}}"
                )
            ],
            min_interval="5m",
            stack=True,
            bars=True,
        ),
        12,
        8,
    )

    layout.row("Hops and sending")
    layout.add(
        timeseries(
            "Undelivered by hop and owner",
            "Lost or failed canaries by the first hop they did not reach.",
            [
                Query(
                    increase_by("kanari_undelivered_total", "channel, hop, owner", MUNICIPALITY),
                    legend="{{channel}} {{hop}} ({{owner}})",
                )
            ],
            min_interval="5m",
            stack=True,
            bars=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Sends and send failures",
            "Canaries sent, and sends that failed by reason (auth and http_4xx are Kanari's own side).",
            [
                Query(
                    increase_by("kanari_canaries_sent_total", "channel", MUNICIPALITY),
                    legend="{{channel}} sent",
                ),
                Query(
                    increase_by("kanari_send_failures_total", "channel, reason", MUNICIPALITY),
                    legend="{{channel}} failed: {{reason}}",
                ),
            ],
            min_interval="5m",
            bars=True,
        ),
        12,
        8,
    )
    layout.add(
        timeseries(
            "Late arrivals, duplicates, paper post",
            "Lost canaries that turned up later, canaries registered twice, and canaries ended by the "
            "upstream (paper post on the portal, Failed on Altinn).",
            [
                Query(
                    increase_by("kanari_late_arrivals_total", "channel", MUNICIPALITY),
                    legend="{{channel}} late",
                ),
                Query(
                    increase_by("kanari_duplicates_total", "channel", MUNICIPALITY),
                    legend="{{channel}} duplicate",
                ),
                Query(
                    increase_by("kanari_rejections_total", "channel", MUNICIPALITY),
                    legend="{{channel}} ended by upstream",
                ),
            ],
            min_interval="5m",
            bars=True,
        ),
        24,
        7,
    )
    return dashboard(
        Dashboard.MUNICIPALITY.value,
        "Kanari / Municipality",
        f"One municipality's routes in {config.settings.instance}: incidents, deadlines, hops, latencies, "
        "latest canaries.",
        layout,
        job=config.settings.alerting.job,
        variables=[query_variable("municipality", "Municipality", VARIABLE_QUERY, VARIABLE_REGEX)],
        time_from="now-7d",
    )
