"""PromQL shared by several dashboards: the per-route table and its columns, latency quantiles.

``where`` arguments are extra label matchers (``'vendor="$vendor"'``) added to every selector, so the
national overview, the vendor scorecard and the municipality drill-down show the same columns.
"""

from __future__ import annotations

from probe.render import recording
from probe.render.dashboards.model import Column, Query, thresholds, value_text
from probe.render.promql import selector

ROUTE = ("channel", "municipality")


def _sel(metric: str, where: tuple[str, ...], *matchers: str) -> str:
    return selector(metric, *matchers, *where)


def route_keys(where: tuple[str, ...] = ()) -> Query:
    """One row per route with its descriptive labels."""
    info = _sel("kanari_route_info", where)
    return Query(f"max by (channel, municipality, municipality_name, county, vendor, final_hop) ({info})")


def route_columns(where: tuple[str, ...] = (), window: str = "24h") -> list[Column]:
    """Status, time since the last delivery, last latency and the verdict counts of the last ``window``."""
    last = _sel("kanari_last_delivered_timestamp_seconds", where)
    latency = _sel("kanari_last_delivery_seconds", where)
    delivered = _sel("kanari_canaries_resolved_total", where, 'verdict="delivered"')
    unknown = _sel("kanari_canaries_resolved_total", where, 'verdict="unknown"')
    undelivered = _sel("kanari_undelivered_total", where)
    by_route = "sum by (channel, municipality)"
    return [
        Column(
            # 1 while the route delivered within its deadline plus two intervals (the threshold of
            # KanariRouteSilent), 0 when it has gone silent.
            Query(
                f"max by (channel, municipality) (time() - {last})\n"
                f"< bool on (channel, municipality) {recording.SILENCE_THRESHOLD}"
            ),
            "Status",
            steps=thresholds((None, "red"), (1, "green")),
            mappings=value_text({"0": ("SILENT", "red"), "1": ("OK", "green")}),
        ),
        Column(
            Query(f"max by (channel, municipality) (time() - ({last} > 0))"), "Since last delivery", unit="s"
        ),
        Column(Query(f"max by (channel, municipality) ({latency})"), "Last latency", unit="s"),
        Column(Query(f"{by_route} (increase({delivered}[{window}]))"), f"Delivered {window}"),
        Column(
            Query(f"{by_route} (increase({undelivered}[{window}]))"),
            f"Lost/failed {window}",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        Column(
            Query(f"{by_route} (increase({unknown}[{window}]))"),
            f"Unknown {window}",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
    ]


def latency_quantiles(metric: str, labels: str, legend: str, where: tuple[str, ...] = ()) -> list[Query]:
    """p50 and p90 of a ``_seconds`` histogram by ``labels`` over ``$__rate_interval``."""
    bucket = _sel(f"{metric}_bucket", where)
    return [
        Query(
            f"histogram_quantile({q}, sum by (le, {labels}) (rate({bucket}[$__rate_interval])))",
            legend=f"p{round(q * 100)} {legend}",
        )
        for q in (0.5, 0.9)
    ]


def rate_by(metric: str, labels: str, *matchers: str, per: int = 3600) -> str:
    """``sum by (labels) (rate(metric{matchers}[$__rate_interval])) * per``: events per hour by default
    (canaries are counted in tens per hour, not per second)."""
    return f"sum by ({labels}) (rate({selector(metric, *matchers)}[$__rate_interval])) * {per}"


def increase_by(metric: str, labels: str, *matchers: str) -> str:
    """``sum by (labels) (increase(metric{matchers}[$__rate_interval]))``: events per panel step."""
    return f"sum by ({labels}) (increase({selector(metric, *matchers)}[$__rate_interval]))"
