"""Alerts about a whole channel: channel down, status checks failing, and the SLO's burn rates."""

from __future__ import annotations

from probe.config.loader import KanariConfig
from probe.hops import Channel, Owner
from probe.lifecycle.verdict import OPS_REASONS
from probe.render import recording
from probe.render.alerts.model import (
    CHANNEL_DOWN_MIN_ROUTES,
    DEFAULT_SLO_TARGET,
    ROUTE_LOSSES,
    STATUS_SUMMARY,
    Alert,
    increase,
)
from probe.render.durations import prom_duration
from probe.render.links import Dashboard
from probe.render.promql import CHANNEL_OPERATOR, by, number, on, one_of, selector
from probe.render.timing import ChannelTiming, Timing


def channel_alerts(channel: Channel, timing_of: ChannelTiming, config: KanariConfig) -> list[Alert]:
    """Alerts about a whole channel: channel down and status checks failing."""
    operator = CHANNEL_OPERATOR[channel]
    per_channel = {"channel": channel.value, "scope": "channel"}
    channel_window = prom_duration(timing_of.channel_window)
    share = config.settings.alerting.channel_down_share
    failing = selector(recording.FAILING_AT_OPERATOR, f'channel="{channel.value}"')
    alerts = [
        Alert(
            name="KanariChannelDown",
            expr=(
                f"{failing}\n/ {on('channel')} {recording.ROUTES}\n>= {number(share)}\n"
                f"and {on('channel')}\n{failing} >= {CHANNEL_DOWN_MIN_ROUTES}"
            ),
            for_=timing_of.channel_for,
            labels={**per_channel, "owner": operator.value, "severity": "critical"},
            # Static rule labels are not in $labels when annotations are expanded: write the owner in.
            summary=(
                "{{ $labels.channel }} is down: {{ $value | humanizePercentage }} of its routes lose "
                f"canaries at {operator.value}'s hops"
            ),
            description=(
                "{{ $value | humanizePercentage }} of the {{ $labels.channel }} routes lost canaries at "
                f"hops operated by {operator.value} in the last {channel_window}"
                f" (the threshold is {number(share * 100)} %). The per-route alerts of this channel are "
                "inhibited while this fires; the other channel's are not."
            ),
            dashboard=Dashboard.OVERVIEW,
        )
    ]
    status = f'target="{channel.value}"'
    ops_reasons = one_of(reason.value for reason in OPS_REASONS)
    short = timing_of.channel_for
    for owner, reasons, cause in (
        (operator, f'reason!~"{ops_reasons}"', f"{operator.value}'s status API is failing"),
        (Owner.OPS, f'reason=~"{ops_reasons}"', "the status API refuses Kanari's own requests (auth/4xx)"),
    ):
        failures = increase(
            "kanari_check_failures_total", [f'channel="{channel.value}"', status, reasons], short
        )
        alerts.append(
            Alert(
                name="KanariStatusChecksFailing",
                expr=f"sum {by('channel', 'target')} (\n  {failures}\n) > 0",
                for_=timing_of.channel_window,
                labels={**per_channel, "owner": owner.value, "severity": "warning"},
                summary=STATUS_SUMMARY,
                description=(
                    f"Status checks against {{{{ $labels.target }}}} have failed in every "
                    f"{prom_duration(short)} for {prom_duration(timing_of.channel_window)}: {cause}. "
                    "Canaries cannot be followed hop by hop and will end as unknown, not lost."
                ),
                dashboard=Dashboard.PROBE,
            )
        )
    return alerts


def slo_alerts(channel: Channel, timing: Timing, target: float = DEFAULT_SLO_TARGET) -> list[Alert]:
    """The multiwindow burn-rate alerts of ``channel``'s SLO."""
    is_channel = f'channel="{channel.value}"'
    per_channel = {"channel": channel.value, "scope": "channel"}
    alerts: list[Alert] = []
    for burn in timing.burn_windows:
        threshold = number(burn.factor * (1 - target))
        ratio = recording.UNDELIVERED_RATIO
        long_label, short_label = recording.nominal(burn.long), recording.nominal(burn.short)
        days_to_empty = 30 / burn.factor
        long_ratio = selector(ratio, is_channel, f'window="{long_label}"')
        short_ratio = selector(ratio, is_channel, f'window="{short_label}"')
        short_count = selector(recording.UNDELIVERED_COUNT, is_channel, f'window="{short_label}"')
        alerts.append(
            Alert(
                name="KanariErrorBudgetBurn",
                expr=(
                    f"{long_ratio} > {threshold}\nand {on('channel')}\n{short_ratio} > {threshold}\n"
                    f"and {on('channel')}\n{short_count} >= {ROUTE_LOSSES}"
                ),
                for_=timing.scaled(burn.for_),
                labels={
                    **per_channel,
                    "owner": Owner.OPS.value,
                    "severity": burn.severity,
                    "window": long_label,
                },
                summary=(
                    f"{{{{ $labels.channel }}}}: error budget burning at {number(burn.factor)}x "
                    f"(window {long_label})"
                ),
                description=(
                    "{{ $value | humanizePercentage }} of the judged canaries on {{ $labels.channel }} were "
                    f"not delivered over the last {long_label} (and over the last {short_label}, at least "
                    f"{ROUTE_LOSSES} canaries). The SLO "
                    f"of {number(target * 100)} % delivered allows {number((1 - target) * 100)} %; at this "
                    f"rate the 30-day error budget is gone in {number(round(days_to_empty, 1))} days."
                ),
                dashboard=Dashboard.OVERVIEW,
            )
        )
    return alerts
