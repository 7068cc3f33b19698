"""Alerts about one route of a channel: losses by hop (with the two dedicated losses), paper post,
the probe's own refused sends, overdue canaries, silence and blind read-back.

The loss alerts carry the open incident's exposure window (:mod:`.exposure`): which real reports may
be lost, and until when KS still holds them."""

from __future__ import annotations

from probe.hops import Channel, Hop, Owner
from probe.lifecycle.verdict import OPS_REASONS
from probe.render import recording
from probe.render.alerts import exposure
from probe.render.alerts.model import (
    ROUTE,
    ROUTE_LONG,
    ROUTE_LOSSES,
    VALUE,
    Alert,
    increase,
    recording_labels,
    with_names,
)
from probe.render.durations import prom_duration
from probe.render.links import Dashboard
from probe.render.promql import ROUTE_KEY, by, matcher, on, one_of, selector
from probe.render.timing import ChannelTiming

# Per-route losses with an alert of their own, left out of KanariRouteLosingCanaries so the owner is
# paged once: a portal receipt without a stored report (the 2020-2023 failure) and an Altinn message
# published but never fetched (the police-report failure).
DEDICATED: dict[tuple[Channel, Hop, Owner], str] = {
    (Channel.PORTAL, Hop.REGISTERED, Owner.VENDOR): "KanariReceiptWithoutRecord",
    (Channel.ALTINN, Hop.FETCHED, Owner.MUNICIPALITY): "KanariPublishedNeverFetched",
}


_DEDICATED_TEXT: dict[str, tuple[str, str]] = {
    "KanariReceiptWithoutRecord": (
        f"{ROUTE}: receipted but not stored by {{{{ $labels.vendor }}}}",
        "{value} canaries on {route} got the fagsystem's receipt (LEVERT) but the vendor's read-back "
        "never found them stored, in the last {window}. This is the 2020-2023 failure: the system "
        "acknowledges reports it does not keep.",
    ),
    "KanariPublishedNeverFetched": (
        f"{ROUTE}: published in Altinn but never fetched",
        "{value} canaries on {route} were published to the municipality's Altinn inbox but nobody "
        "fetched them by their deadline, in the last {window}. Check that someone at the municipality "
        "holds the Altinn role for this service and that its fagsystem's import runs.",
    ),
}


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
    probe's own refused sends, overdue canaries, silence, blindness and cleanup."""
    loss = timing_of.loss_window
    is_channel = f'channel="{channel.value}"'
    loss_text = prom_duration(loss)
    # The channel label is also in every series; setting it statically keeps the per-channel copies of
    # an alert distinct rules (promtool's lint refuses identical name + labels).
    route = {"channel": channel.value, "severity": "critical", "scope": "route"}
    incident = exposure.incident_annotations()
    alerts: list[Alert] = []

    increases = " or ".join(
        increase("kanari_undelivered_total", matchers, loss) for matchers in _loss_selectors(channel)
    )
    alerts.append(
        Alert(
            name="KanariRouteLosingCanaries",
            expr=with_names(
                f"sum {by(*recording_labels(), 'hop', 'owner')} (\n  {increases}\n) >= {ROUTE_LOSSES}"
            ),
            for_=timing_of.route_for,
            labels=route,
            summary=f"{ROUTE}: canaries lost at hop {{{{ $labels.hop }}}} (owner {{{{ $labels.owner }}}})",
            description=(
                f"{VALUE} canaries on {ROUTE_LONG} did not reach hop {{{{ $labels.hop }}}} by their "
                f"deadline in the last {loss_text}. That hop belongs to {{{{ $labels.owner }}}}. Real "
                "concern reports on this route are probably not arriving either."
                f"{exposure.sentence(channel)}"
            ),
            dashboard=Dashboard.MUNICIPALITY,
            variable="municipality",
            extra_annotations=incident,
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
                expr=with_names(
                    f"sum {by(*recording_labels(), 'hop', 'owner')} (\n"
                    f"  {increase('kanari_undelivered_total', matchers, loss)}\n) >= {ROUTE_LOSSES}"
                ),
                for_=timing_of.route_for,
                labels=route,
                summary=summary,
                description=description.format(value=VALUE, route=ROUTE_LONG, window=loss_text)
                + exposure.sentence(channel),
                dashboard=Dashboard.MUNICIPALITY,
                variable="municipality",
                extra_annotations=incident,
            )
        )
    if channel is Channel.PORTAL:
        alerts.append(
            Alert(
                name="KanariFallbackToPaperPost",
                expr=with_names(
                    f"sum {by(*recording_labels())} (\n"
                    f"  {increase('kanari_rejections_total', [is_channel], loss)}\n"
                    f") >= {ROUTE_LOSSES}"
                ),
                for_=timing_of.route_for,
                labels={**route, "owner": Owner.VENDOR.value},
                summary=f"{ROUTE}: reports fall back to paper post",
                description=(
                    f"{VALUE} canaries on {ROUTE_LONG} were rejected by the fagsystem and ended as paper "
                    f"post at KS (AVVIST_FAGSYSTEM, SENDT_PRINT or AVVIST_PRINT) in the last {loss_text}. "
                    "Electronic delivery to this municipality is broken: real reports arrive by letter, "
                    f"days late.{exposure.sentence(channel)}"
                ),
                dashboard=Dashboard.MUNICIPALITY,
                variable="municipality",
                extra_annotations=incident,
            )
        )
    ops_reasons = one_of(reason.value for reason in OPS_REASONS)
    send_failures = increase(
        "kanari_send_failures_total", [f'channel="{channel.value}"', f'reason=~"{ops_reasons}"'], loss
    )
    alerts.append(
        Alert(
            name="KanariSendingFailing",
            expr=with_names(
                f"sum {by(*recording_labels(), 'reason')} (\n  {send_failures}\n) >= {ROUTE_LOSSES}"
            ),
            for_=timing_of.route_for,
            labels={**route, "owner": Owner.OPS.value},
            summary=f"{ROUTE}: Kanari's own sends are refused ({{{{ $labels.reason }}}})",
            description=(
                f"{VALUE} canary sends on {ROUTE_LONG} were refused with reason {{{{ $labels.reason }}}} "
                f"in the last {loss_text}. That is the probe's own side (its credentials, Maskinporten "
                "scopes, request format or route configuration), so this route is not being monitored."
            ),
            dashboard=Dashboard.PROBE,
        )
    )
    alerts.append(_overdue(channel, timing_of))
    unknown = increase(
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
            expr=with_names(silence),
            for_=timing_of.silent_for,
            labels={**route, "owner": Owner.OPS.value},
            summary=f"{ROUTE}: no canary delivered for {{{{ $value | humanizeDuration }}}}",
            description=(
                f"The newest canary delivered on {ROUTE_LONG} arrived {{{{ $value | humanizeDuration }}}} "
                "ago, longer than the route may go without a delivery now (its deadline in wall time, "
                "across closed office hours for human hops, plus two intervals), and no canary ended "
                "as unknown. If a loss alert for this route fires too, it names the owner (and inhibits "
                "this one); if not, the probe has stopped resolving canaries on this route."
            ),
            dashboard=Dashboard.MUNICIPALITY,
            variable="municipality",
        )
    )
    # Blindness is judged on the verdicts alone: whatever made canaries unknown (read-back or status
    # checks failing, timing out, crashing, a refused read) shows here even when no check-failure
    # counter moved. It is the probe's own state, so it goes to ops, never to a vendor.
    alerts.append(
        Alert(
            name="KanariProbeBlind",
            expr=f"sum {by('channel', 'vendor')} (\n  {unknown}\n) >= {ROUTE_LOSSES}",
            for_=timing_of.route_for,
            labels={
                "channel": channel.value,
                "owner": Owner.OPS.value,
                "scope": "vendor",
                "severity": "warning",
            },
            summary="{{ $labels.channel }}: Kanari cannot see {{ $labels.vendor }}'s routes",
            description=(
                f"{VALUE} canaries on {{{{ $labels.channel }}}} routes served by {{{{ $labels.vendor }}}} "
                f"ended as unknown in the last {loss_text}: Kanari could not look (read-back or status "
                "checks failing or timing out, or a check crashing), so deliveries on these routes are "
                "not being confirmed. Nothing is assumed lost and no loss alert fires; the check "
                "failures by target and reason on the probe dashboard say which look fails."
            ),
            dashboard=Dashboard.PROBE,
        )
    )
    # A canary the vendor kept refusing to remove stays in case workers' view: the vendor's to fix, in
    # working hours (a ticket, not a page: reports still arrive).
    cleanup = increase("kanari_cleanup_failures_total", [is_channel], loss)
    alerts.append(
        Alert(
            name="KanariCleanupFailing",
            expr=with_names(f"sum {by(*recording_labels())} (\n  {cleanup}\n) > 0"),
            for_=timing_of.route_for,
            labels={**route, "owner": Owner.VENDOR.value, "severity": "warning"},
            summary=f"{ROUTE}: {{{{ $labels.vendor }}}} keeps refusing to remove canaries",
            description=(
                f"{VALUE} canaries on {ROUTE_LONG} were closed in the last {loss_text} while still "
                "visible at the vendor: its read-back API kept refusing the DELETE. Case workers may see "
                "them (marked as synthetic tests); the vendor must fix the removal and delete them."
            ),
            dashboard=Dashboard.VENDOR,
            variable="vendor",
        )
    )
    return alerts


def _overdue(channel: Channel, timing_of: ChannelTiming) -> Alert:
    """The early warning: canaries past the route's usual latency but not yet past its bound, a ticket
    to the owner of the hop they wait for (the owner label of ``kanari_overdue``). Any critical alert
    about the same route inhibits it in Alertmanager: the route is paged already."""
    overdue = selector("kanari_overdue", f'channel="{channel.value}"')
    return Alert(
        name="KanariRouteOverdue",
        expr=with_names(f"sum {by(*recording_labels(), 'hop', 'owner')} ({overdue}) > 0"),
        for_=timing_of.overdue_for,
        labels={"channel": channel.value, "severity": "warning", "scope": "route"},
        summary=f"{ROUTE}: canary overdue at hop {{{{ $labels.hop }}}} (owner {{{{ $labels.owner }}}})",
        description=(
            f"{VALUE} canaries on {ROUTE_LONG} have waited for hop {{{{ $labels.hop }}}} longer than "
            "the route usually takes (its learned latency; office time for hops that need a person), "
            "but are not yet past its deadline. Nothing is lost yet: hop {{ $labels.hop }}, which "
            "belongs to {{ $labels.owner }}, may be breaking. This resolves when the canaries reach "
            "the hop; past the deadline they are lost and the route's loss alert takes over."
        ),
        dashboard=Dashboard.MUNICIPALITY,
        variable="municipality",
    )
