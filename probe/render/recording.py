"""Recording rules: the per-channel and per-route series the alerts and dashboards share.

They make the alerts cheap (the SLO windows up to three days are sums over a 5-minute rate of two
per-channel series instead of ``rate()`` over every route's counters) and let dashboards show exactly
what the alerts see. Names follow ``level:metric:operation``; windowed series carry the nominal window in
a ``window`` label (see :mod:`probe.render.timing`).

Every series they read and record is confined to the configured scrape job (``job="<alerting.job>"``,
added by :func:`probe.render.alerts.rules.rule_groups`), so two deployments in one Prometheus never
write the same series.

Each group of the rule file starts with the recording rules its alerts read: Prometheus evaluates the
rules of one group in order but the groups independently, so an alert reading a recording rule of
another group could see it one evaluation late.
"""

from __future__ import annotations

from typing import Any

from probe.hops import Channel
from probe.render.durations import prom_duration
from probe.render.promql import CHANNEL_OPERATOR, ROUTE_KEY, by, number, on, selector, window
from probe.render.timing import ChannelTiming, Timing

ROUTES = "channel:kanari_routes:count"
"""Routes configured per channel."""
ROUTE_NAMES = "channel_municipality:kanari_route_info:max"
"""One series per route carrying ``municipality_name``, joined onto route alerts so they read "Bergen"."""
FAILING_AT_OPERATOR = "channel:kanari_routes_failing_at_operator:count"
"""Routes of a channel that lost a canary at a hop owned by the channel's operator (KS, Digdir)."""
SILENCE_THRESHOLD = "channel_municipality:kanari_route_silence_threshold:seconds"
"""Per route: how long without a delivered canary is too long right now (the probe's silence limit:
the final hop's learned bound in wall time at this instant, plus two intervals)."""
UNDELIVERED_RATE = "channel:kanari_canaries_undelivered:rate"
"""Per channel: lost or failed canaries per second, excluding the probe's own failures (owner ops)."""
DELIVERED_RATE = "channel:kanari_canaries_delivered:rate"
"""Per channel: delivered canaries per second."""
UNDELIVERED_RATIO = "channel:kanari_canaries_undelivered:ratio"
"""Per channel and window: the share of judged canaries not delivered (the SLO's error ratio)."""
UNDELIVERED_COUNT = "channel:kanari_canaries_undelivered:increase"
"""Per channel and window: how many canaries were not delivered (excluding owner ops)."""


def nominal(seconds: float) -> str:
    """The ``window`` label value of a nominal duration (``3600`` → ``1h``)."""
    return prom_duration(seconds)


def slo_windows(timing: Timing) -> list[float]:
    """Every nominal window an SLO ratio is recorded for: the base window and each burn window's two."""
    windows = {timing.slo_base_window}
    for burn in timing.burn_windows:
        windows |= {burn.long, burn.short}
    return sorted(windows)


def route_rules() -> list[dict[str, Any]]:
    """Recording rules the route alerts read (evaluated first in the same group, so they are fresh)."""
    return [
        {
            "record": ROUTE_NAMES,
            "expr": "max by (channel, municipality, municipality_name) (kanari_route_info)",
        },
        {
            # Each route's own limit, read from the gauges the probe exports, so a municipality with an
            # overridden interval, a learned deadline or office hours gets its own threshold without
            # re-rendering. The probe converts the final hop's bound to wall time at this instant (an
            # Altinn route's eight office hours span a weekend on Friday afternoon), so the threshold
            # grows over weekends and holidays instead of paging through them.
            "record": SILENCE_THRESHOLD,
            "expr": (
                f"max {by(*ROUTE_KEY)} (kanari_route_silence_limit_seconds)\n"
                # A probe that does not export the limit (older than the learned deadlines): its
                # deadline plus two intervals, as before. Without learning every hop's bound is the
                # configured deadline, so the largest over the hops is that deadline.
                f"or (\n  max {by(*ROUTE_KEY)} (kanari_route_deadline_seconds)\n"
                f"  + 2 * max {by(*ROUTE_KEY)} (kanari_route_interval_seconds)\n)"
            ),
        },
    ]


def channel_rules(channels: dict[Channel, ChannelTiming]) -> list[dict[str, Any]]:
    """Recording rules the channel alerts read: routes per channel and routes failing at the
    channel operator's hops (over the channel window)."""
    rules: list[dict[str, Any]] = [
        {"record": ROUTES, "expr": "count by (channel) (max by (channel, municipality) (kanari_route_info))"}
    ]
    for channel, timing_of in channels.items():
        operator = CHANNEL_OPERATOR[channel]
        span = window(timing_of.channel_window)
        losses = selector(
            "kanari_undelivered_total", f'channel="{channel.value}"', f'owner="{operator.value}"'
        )
        rules.append(
            {
                "record": FAILING_AT_OPERATOR,
                "expr": (
                    f"count {by('channel')} (\n"
                    f"  sum {by('channel', 'municipality')} (increase({losses}{span})) > 0\n)"
                ),
                # The static label keeps the two channels' rules distinct for promtool's lint.
                "labels": {"channel": channel.value},
            }
        )
    return rules


def slo_rules(timing: Timing) -> list[dict[str, Any]]:
    """Recording rules of the SLO: per-channel rates, error ratios and loss counts per window."""
    rules: list[dict[str, Any]] = []
    base = timing.scaled(timing.slo_base_window)
    delivered_total = selector("kanari_canaries_resolved_total", 'verdict="delivered"')
    base_label = {"window": nominal(timing.slo_base_window)}
    rules += [
        {
            # Every lost or failed canary is counted once in kanari_undelivered_total (by its first
            # missing hop); owner "ops" is the probe's own side (its credentials, its requests) and
            # must not spend the channel's error budget. Unknown verdicts are not judged at all.
            "record": UNDELIVERED_RATE,
            "expr": f'sum by (channel) (rate(kanari_undelivered_total{{owner!="ops"}}{window(base)}))',
            "labels": base_label,
        },
        {
            "record": DELIVERED_RATE,
            "expr": f"sum by (channel) (rate({delivered_total}{window(base)}))",
            "labels": base_label,
        },
    ]
    undelivered = selector(UNDELIVERED_RATE, f'window="{base_label["window"]}"')
    delivered = selector(DELIVERED_RATE, f'window="{base_label["window"]}"')
    for nominal_window in slo_windows(timing):
        label = nominal(nominal_window)
        if nominal_window == timing.slo_base_window:
            expr = f"{undelivered}\n/ {on('channel')} ({undelivered} + {on('channel')} {delivered})"
        else:
            # A sum over the base rate approximates the rate over the whole window (both sides are
            # summed the same way, so the ratio is exact up to the edges) and reads two series, not
            # every route's counters over up to three days.
            span = window(timing.scaled(nominal_window))
            bad = f"sum_over_time({undelivered}{span})"
            good = f"sum_over_time({delivered}{span})"
            expr = f"{bad}\n/ {on('channel')} ({bad} + {on('channel')} {good})"
        rules.append({"record": UNDELIVERED_RATIO, "expr": expr, "labels": {"window": label}})
    for nominal_window in slo_windows(timing):
        # The number of losses in the window, which the burn-rate alerts require to be at least two,
        # so that a small deployment, where one lost canary is a large ratio, is never paged for one
        # isolated loss. A subquery samples the base rate at steps of the base window, so the steps
        # tile the window and each loss is counted once: cheap (one series, window/5m points) and,
        # unlike avg_over_time * window, not inflated while the history is shorter than the window.
        seconds = timing.scaled(nominal_window)
        if nominal_window == timing.slo_base_window:
            expr = f"{undelivered} * {number(base)}"
        else:
            span = f"[{prom_duration(seconds)}:{prom_duration(base)}]"
            expr = f"sum_over_time({undelivered}{span}) * {number(base)}"
        rules.append(
            {"record": UNDELIVERED_COUNT, "expr": expr, "labels": {"window": nominal(nominal_window)}}
        )
    return rules
