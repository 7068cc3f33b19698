"""Alert rules (DESIGN section 5) and the rule file ``config/prometheus/alerts.yml``.

Every alert carries:

- ``severity``: ``critical`` pages, ``warning`` is a ticket, ``none`` only for the Watchdog;
- ``owner``: who is paged (``ks``, ``digdir``, ``vendor``, ``municipality``, ``ops``); on the loss
  alerts it is the blamed hop's owner, taken from ``kanari_undelivered_total``;
- ``channel``: ``portal`` or ``altinn``; probe-wide alerts carry ``channel="all"``;
- ``scope``: ``route`` (one municipality's route, also labelled ``municipality``, ``municipality_name``
  and ``vendor``), ``vendor``, ``channel`` or ``probe``. Alertmanager's inhibition keys on it: a channel
  that is down inhibits that channel's ``scope="route"`` alerts;
- annotations ``summary``, ``description``, ``runbook_url`` and ``dashboard_url`` (:mod:`.links`).

Thresholds and ``for:`` durations come from :mod:`probe.render.timing`, which documents the formulas.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from probe.config.loader import KanariConfig
from probe.engine.sending import OPS_REASONS
from probe.hops import Channel, Hop, Owner
from probe.render import recording
from probe.render.durations import prom_duration
from probe.render.links import Dashboard, dashboard_url, runbook_url
from probe.render.output import to_yaml
from probe.render.promql import CHANNEL_OPERATOR, by, matcher, number, on, one_of, selector, window
from probe.render.timing import PRODUCTION, ChannelTiming, Timing, channel_timings

JOB = "kanari"
"""The Prometheus job that scrapes the probe (``prometheus.yml``)."""

PROBE_WIDE = "all"
"""The ``channel`` label of alerts about the probe itself rather than one channel."""

# The SLO behind the burn-rate alerts is ``alerting.slo_target`` (default 99 % on both channels): the
# share of judged canaries (delivered, lost or failed; not unknown, not failed on the probe's own side)
# delivered by their deadline over 30 days. At 99 %, a 14.4x burn means one canary in seven lost across
# the country. Altinn's deadline already allows for office hours, so it gets the same default.
DEFAULT_SLO_TARGET = 0.99

# Losses a route must show in its loss window before a route alert fires: two, so one isolated lost or
# late canary never pages anyone.
ROUTE_LOSSES = 2

# A channel is only "down" when at least this many routes fail together (besides the configured
# share): with a single route, channel down and route down are the same thing, and the route alert
# names the hop.
CHANNEL_DOWN_MIN_ROUTES = 2

# Per-route losses with an alert of their own, left out of KanariRouteLosingCanaries so the owner is
# paged once: a portal receipt without a stored report (the 2020-2023 failure) and an Altinn message
# published but never fetched (the police-report failure).
DEDICATED: dict[tuple[Channel, Hop, Owner], str] = {
    (Channel.PORTAL, Hop.REGISTERED, Owner.VENDOR): "KanariReceiptWithoutRecord",
    (Channel.ALTINN, Hop.FETCHED, Owner.MUNICIPALITY): "KanariPublishedNeverFetched",
}

ROUTE_KEY = ("channel", "municipality")

_STATUS_SUMMARY = "{{ $labels.channel }}: Kanari cannot follow canaries ({{ $labels.target }} checks failing)"
_VALUE = '{{ printf "%.0f" $value }}'
_ROUTE = "{{ $labels.channel }}/{{ $labels.municipality }} {{ $labels.municipality_name }}"
_ROUTE_LONG = (
    "the {{ $labels.channel }} route to {{ $labels.municipality_name }} ({{ $labels.municipality }}, "
    "vendor {{ $labels.vendor }})"
)


@dataclasses.dataclass(frozen=True)
class Alert:
    """One alerting rule before rendering."""

    name: str
    expr: str
    for_: float | None
    labels: dict[str, str]
    summary: str
    description: str
    dashboard: Dashboard
    variable: str | None = None

    def rule(self, config: KanariConfig) -> dict[str, Any]:
        """The rule as it appears in the rule file."""
        alerting = config.settings.alerting
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ is not None:
            rule["for"] = prom_duration(self.for_)
        rule["labels"] = dict(sorted(self.labels.items()))
        rule["annotations"] = {
            "dashboard_url": dashboard_url(alerting, self.dashboard, self.variable),
            "description": self.description,
            "runbook_url": runbook_url(alerting, self.name),
            "summary": self.summary,
        }
        return rule


def _with_names(expr: str) -> str:
    """Join ``municipality_name`` onto a per-route expression (its value is unchanged: info is 1)."""
    return (
        f"(\n{_indent(expr)}\n)\n* {on(*ROUTE_KEY)} group_left (municipality_name)\n  {recording.ROUTE_NAMES}"
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _increase(metric: str, matchers: list[str], seconds: float) -> str:
    return f"increase({selector(metric, *matchers)}{window(seconds)})"


def _loss_selectors(channel: Channel) -> list[list[str]]:
    """Matcher sets whose union is every loss of ``channel`` except the probe's own (owner ``ops``)
    and the losses with a dedicated alert."""
    dedicated = [(hop, owner) for (ch, hop, owner) in DEDICATED if ch is channel]
    owners = {owner.value for _, owner in dedicated}
    base = [f'channel="{channel.value}"', matcher("owner", {Owner.OPS.value, *owners}, negate=True)]
    sets = [base]
    for owner in sorted(owners):
        hops = {hop.value for hop, hop_owner in dedicated if hop_owner.value == owner}
        sets.append([f'channel="{channel.value}"', f'owner="{owner}"', matcher("hop", hops, negate=True)])
    return sets


def route_alerts(channel: Channel, timing_of: ChannelTiming) -> list[Alert]:
    """Alerts about one route of ``channel``: losses by hop, the dedicated losses, paper post, the
    probe's own refused sends, and silence."""
    loss = timing_of.loss_window
    is_channel = f'channel="{channel.value}"'
    loss_text = prom_duration(loss)
    # The channel label is also in every series; setting it statically keeps the per-channel copies of
    # an alert distinct rules (promtool's lint refuses identical name + labels).
    route = {"channel": channel.value, "severity": "critical", "scope": "route"}
    alerts: list[Alert] = []

    increases = " or ".join(
        _increase("kanari_undelivered_total", matchers, loss) for matchers in _loss_selectors(channel)
    )
    alerts.append(
        Alert(
            name="KanariRouteLosingCanaries",
            expr=_with_names(
                f"sum {by(*recording_labels(), 'hop', 'owner')} (\n  {increases}\n) >= {ROUTE_LOSSES}"
            ),
            for_=timing_of.route_for,
            labels=route,
            summary=f"{_ROUTE}: canaries lost at hop {{{{ $labels.hop }}}} (owner {{{{ $labels.owner }}}})",
            description=(
                f"{_VALUE} canaries on {_ROUTE_LONG} did not reach hop {{{{ $labels.hop }}}} by their "
                f"deadline in the last {loss_text}. That hop belongs to {{{{ $labels.owner }}}}. Real "
                "concern reports on this route are probably not arriving either."
            ),
            dashboard=Dashboard.MUNICIPALITY,
            variable="municipality",
        )
    )
    for (dedicated_channel, hop, owner), name in DEDICATED.items():
        if dedicated_channel is not channel:
            continue
        matchers = [f'channel="{channel.value}"', f'hop="{hop.value}"', f'owner="{owner.value}"']
        summary, description = _DEDICATED_TEXT[name]
        alerts.append(
            Alert(
                name=name,
                expr=_with_names(
                    f"sum {by(*recording_labels(), 'hop', 'owner')} (\n"
                    f"  {_increase('kanari_undelivered_total', matchers, loss)}\n) >= {ROUTE_LOSSES}"
                ),
                for_=timing_of.route_for,
                labels=route,
                summary=summary,
                description=description.format(value=_VALUE, route=_ROUTE_LONG, window=loss_text),
                dashboard=Dashboard.MUNICIPALITY,
                variable="municipality",
            )
        )
    if channel is Channel.PORTAL:
        alerts.append(
            Alert(
                name="KanariFallbackToPaperPost",
                expr=_with_names(
                    f"sum {by(*recording_labels())} (\n"
                    f"  {_increase('kanari_rejections_total', [is_channel], loss)}\n"
                    f") >= {ROUTE_LOSSES}"
                ),
                for_=timing_of.route_for,
                labels={**route, "owner": Owner.VENDOR.value},
                summary=f"{_ROUTE}: reports fall back to paper post",
                description=(
                    f"{_VALUE} canaries on {_ROUTE_LONG} were rejected by the fagsystem and ended as paper "
                    f"post at KS (AVVIST_FAGSYSTEM, SENDT_PRINT or AVVIST_PRINT) in the last {loss_text}. "
                    "Electronic delivery to this municipality is broken: real reports arrive by letter, "
                    "days late."
                ),
                dashboard=Dashboard.MUNICIPALITY,
                variable="municipality",
            )
        )
    ops_reasons = one_of(reason.value for reason in OPS_REASONS)
    send_failures = _increase(
        "kanari_send_failures_total", [f'channel="{channel.value}"', f'reason=~"{ops_reasons}"'], loss
    )
    alerts.append(
        Alert(
            name="KanariSendingFailing",
            expr=_with_names(
                f"sum {by(*recording_labels(), 'reason')} (\n  {send_failures}\n) >= {ROUTE_LOSSES}"
            ),
            for_=timing_of.route_for,
            labels={**route, "owner": Owner.OPS.value},
            summary=f"{_ROUTE}: Kanari's own sends are refused ({{{{ $labels.reason }}}})",
            description=(
                f"{_VALUE} canary sends on {_ROUTE_LONG} were refused with reason {{{{ $labels.reason }}}} "
                f"in the last {loss_text}. That is the probe's own side (its credentials, Maskinporten "
                "scopes, request format or route configuration), so this route is not being monitored."
            ),
            dashboard=Dashboard.PROBE,
        )
    )
    unknown = _increase(
        "kanari_canaries_resolved_total", [f'channel="{channel.value}"', 'verdict="unknown"'], loss
    )
    last_delivered = selector("kanari_last_delivered_timestamp_seconds", f'channel="{channel.value}"')
    silence = (
        f"(\n  time() - max {by(*recording_labels())} ({last_delivered} > 0)\n"
        f"  > {on(*ROUTE_KEY)} group_left ()\n  {recording.SILENCE_THRESHOLD}\n)\n"
        # Silence explained by unknown verdicts is blindness (KanariProbeBlind), not a lost route.
        f"unless {on(*ROUTE_KEY)}\n(sum {by(*ROUTE_KEY)} ({unknown}) > 0)"
    )
    alerts.append(
        Alert(
            name="KanariRouteSilent",
            expr=_with_names(silence),
            for_=timing_of.silent_for,
            labels={**route, "owner": Owner.OPS.value},
            summary=f"{_ROUTE}: no canary delivered for {{{{ $value | humanizeDuration }}}}",
            description=(
                f"The newest canary delivered on {_ROUTE_LONG} arrived {{{{ $value | humanizeDuration }}}} "
                "ago, longer than the route's deadline plus two intervals, and no canary ended as "
                "unknown. If a loss alert for this route fires too, it names the owner (and inhibits "
                "this one); if not, the probe has stopped resolving canaries on this route."
            ),
            dashboard=Dashboard.MUNICIPALITY,
            variable="municipality",
        )
    )
    readback_failures = _increase(
        "kanari_check_failures_total", [f'channel="{channel.value}"', 'target="readback"'], loss
    )
    alerts.append(
        Alert(
            name="KanariProbeBlind",
            expr=(
                f"sum {by('channel', 'vendor')} (\n  {unknown}\n) >= {ROUTE_LOSSES}\n"
                f"and {on('channel')}\n(sum {by('channel')} ({readback_failures}) > 0)"
            ),
            for_=timing_of.route_for,
            labels={
                "channel": channel.value,
                "owner": Owner.VENDOR.value,
                "scope": "vendor",
                "severity": "warning",
            },
            summary="{{ $labels.channel }}: Kanari cannot see {{ $labels.vendor }}'s read-back",
            description=(
                f"{_VALUE} canaries on {{{{ $labels.channel }}}} routes served by {{{{ $labels.vendor }}}} "
                f"ended as unknown in the last {loss_text} while read-back checks failed: the vendor's "
                "read-back API is down or refuses Kanari, so deliveries into its fagsystem cannot be "
                "confirmed. Nothing is assumed lost and no loss alert fires; restore the read-back."
            ),
            dashboard=Dashboard.VENDOR,
            variable="vendor",
        )
    )
    return alerts


def recording_labels() -> tuple[str, ...]:
    """The labels identifying a route's series."""
    return ("channel", "municipality", "vendor")


_DEDICATED_TEXT: dict[str, tuple[str, str]] = {
    "KanariReceiptWithoutRecord": (
        f"{_ROUTE}: receipted but not stored by {{{{ $labels.vendor }}}}",
        "{value} canaries on {route} got the fagsystem's receipt (LEVERT) but the vendor's read-back "
        "never found them stored, in the last {window}. This is the 2020-2023 failure: the system "
        "acknowledges reports it does not keep.",
    ),
    "KanariPublishedNeverFetched": (
        f"{_ROUTE}: published in Altinn but never fetched",
        "{value} canaries on {route} were published to the municipality's Altinn inbox but nobody "
        "fetched them by their deadline, in the last {window}. Check that someone at the municipality "
        "holds the Altinn role for this service and that its fagsystem's import runs.",
    ),
}


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
        failures = _increase(
            "kanari_check_failures_total", [f'channel="{channel.value}"', status, reasons], short
        )
        alerts.append(
            Alert(
                name="KanariStatusChecksFailing",
                expr=f"sum {by('channel', 'target')} (\n  {failures}\n) > 0",
                for_=timing_of.channel_window,
                labels={**per_channel, "owner": owner.value, "severity": "warning"},
                summary=_STATUS_SUMMARY,
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


def probe_alerts(timing: Timing) -> list[Alert]:
    """Alerts about the probe itself: down, scheduler stuck, and the always-firing Watchdog."""
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


def rule_groups(config: KanariConfig, timing: Timing = PRODUCTION) -> dict[str, Any]:
    """The rule file as a mapping: groups for routes, channels, the SLO and the probe itself."""
    channels = channel_timings(config.routes, timing)
    route = [alert for channel, t in channels.items() for alert in route_alerts(channel, t)]
    channel_level = [alert for channel, t in channels.items() for alert in channel_alerts(channel, t, config)]
    targets = config.settings.alerting.slo_target
    slo = [
        alert
        for channel in channels
        for alert in slo_alerts(channel, timing, targets.get(channel, DEFAULT_SLO_TARGET))
    ]
    # Each group starts with the recording rules its alerts read (see probe.render.recording).
    groups = [
        {"name": "kanari.routes", "rules": [*recording.route_rules(), *(a.rule(config) for a in route)]},
        {
            "name": "kanari.channels",
            "rules": [*recording.channel_rules(channels), *(a.rule(config) for a in channel_level)],
        },
        {"name": "kanari.slo", "rules": [*recording.slo_rules(timing), *(a.rule(config) for a in slo)]},
        {"name": "kanari.probe", "rules": [alert.rule(config) for alert in probe_alerts(timing)]},
    ]
    return {"groups": groups}


def header(config: KanariConfig, timing: Timing) -> str:
    """The comment at the top of the rule file: how to regenerate it and the derived timings."""
    lines = [
        "Generated by `kanari render alerts` from the Kanari configuration. Do not edit: change the",
        "configuration (or probe/render/) and re-render; CI fails when this file differs from a fresh",
        "render.",
    ]
    if timing.scale != 1:
        lines.append(f"TIME-COMPRESSED variant for tests: fixed durations scaled by {number(timing.scale)}.")
    lines.append("Derived timings (formulas in probe/render/timing.py):")
    for channel, t in channel_timings(config.routes, timing).items():
        lines.append(
            f"  {channel.value}: {t.routes} routes, interval {prom_duration(t.interval_min)}"
            f"..{prom_duration(t.interval_max)}, poll {prom_duration(t.poll_max)} -> loss window "
            f"{prom_duration(t.loss_window)}, channel window {prom_duration(t.channel_window)}, for: channel "
            f"{prom_duration(t.channel_for)} < route {prom_duration(t.route_for)} < silent "
            f"{prom_duration(t.silent_for)}"
        )
        if t.route_for <= t.channel_for:
            lines.append(
                f"  WARNING: {channel.value} intervals are too short for the resolution: route alerts may "
                "fire before channel down; compress the timing (--compress)."
            )
    return "\n".join(lines)


def render_rules(config: KanariConfig, timing: Timing = PRODUCTION) -> str:
    """``config/prometheus/alerts.yml``: recording and alerting rules."""
    return to_yaml(rule_groups(config, timing), header(config, timing))
