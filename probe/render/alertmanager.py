"""The Alertmanager configuration ``config/alertmanager/alertmanager.yml``, generated from the registry.

Kanari shares Alertmanagers with other teams, so everything of its own is scoped: its routes sit in one
subtree that matches only its alerts (``alertname=~"Kanari.+"`` and ``job="<alerting.job>"``), its
receivers are all named ``kanari-...``, and every inhibition names Kanari's alerts on both sides and is
``equal`` on the job (and on the channel or route it covers). The subtree is what a shared Alertmanager
needs (``kanari render alertmanager`` prints it whole; the Kubernetes AlertmanagerConfig carries it)::

    route (receiver kanari-operations-centre; in a shared Alertmanager: that team's root)
    └── alertname=~"Kanari.+", job="<job>"                      (group by alertname/channel/owner)
        ├── alertname="KanariWatchdog"                          → kanari-heartbeat     (stops here)
        ├── (every Kanari alert)                                → kanari-operations-centre  continue
        ├── owner="ks", severity="critical"                     → kanari-ks-page            continue
        ├── owner="ks", severity="warning"                      → kanari-ks-ticket          continue
        ├── owner="digdir", severity=...                        → kanari-digdir-page/-ticket
        ├── owner="vendor", vendor="<id>", severity=...         → kanari-vendor-<id>-page/-ticket
        └── owner="municipality", municipality="<nr>", ...      → kanari-municipality-<nr>-page/-ticket

Critical alerts page (``-page``: ``alerting.ks``, a vendor's ``alert_receiver``, a municipality's
``contacts``), warnings are tickets (``-ticket``: ``alerting.ks_ticket``, ``ticket_receiver``,
``ticket_contacts``). The operations centre sees every Kanari alert but the ``KanariWatchdog`` ping,
which goes to the heartbeat receiver only. A party without a receiver of a kind gets no route of that
kind: the operations centre still sees those alerts.

Inhibition (each scoped to Kanari's alerts and ``equal`` on ``job``):

- ``KanariProbeDown`` or ``KanariHeartbeatStale`` mute the alerts about the monitored world
  (``scope`` route, vendor or channel) of the same job: a probe that is down or stuck says nothing about
  the routes. The probe's own alerts, the pipeline's and ``KanariWatchdog`` go through, and so does
  every other team's alert.
- ``KanariChannelDown`` mutes the ``scope="route"`` alerts *of the same channel* (``equal: [job,
  channel]``); the other channel's alerts go through.
- ``KanariFallbackToPaperPost`` mutes the same route's ``KanariRouteLosingCanaries`` for the same owner
  (the rejected canary is counted as a loss too).
- A route alert that names an owner mutes the same route's ``KanariRouteSilent``.
- Any critical route alert (``scope="route"``) mutes the same route's ``KanariRouteOverdue`` warnings:
  a route that is paged needs no early warning (``equal: [job, channel, municipality]``).
- A critical ``KanariKeyExpiring`` mutes the warning of the same key.

E-mail goes through ``alerting.smtp`` (relay and sender). Without it the placeholder ``smtp.invalid:587``
(the ``.invalid`` top-level domain can never resolve, RFC 2606) passes ``amtool check-config`` and cannot
leak mail anywhere until a deployment sets its relay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from probe.config.fields import Receiver
from probe.config.loader import KanariConfig
from probe.config.municipalities import Contact
from probe.hops import Owner
from probe.render.durations import prom_duration
from probe.render.output import to_yaml
from probe.render.timing import PRODUCTION, Timing

PREFIX = "kanari-"
OPERATIONS_CENTRE = f"{PREFIX}operations-centre"
HEARTBEAT = f"{PREFIX}heartbeat"
SMTP_SMARTHOST = "smtp.invalid:587"
SMTP_FROM = "kanari-alertmanager@kanari.invalid"
KANARI_ALERTS = 'alertname=~"Kanari.+"'
"""Every Kanari alert's name starts so (and no other team's should)."""

# Alert names the inhibition rules refer to (the alert modules define them; kept literal here so this
# module reads on its own, and tests check both agree).
WATCHDOG = "KanariWatchdog"
PROBE_DOWN = ("KanariProbeDown", "KanariHeartbeatStale")
OVERDUE = "KanariRouteOverdue"
ROUTE_LOSS_ALERTS = (
    "KanariFallbackToPaperPost",
    "KanariPublishedNeverFetched",
    "KanariReceiptWithoutRecord",
    "KanariRouteLosingCanaries",
    "KanariSendingFailing",
)
# The ``scope`` of the alerts about the monitored world, which a down probe says nothing about.
WORLD_SCOPES = ("route", "vendor", "channel")
# Which receiver of an owner each severity goes to: critical pages, warning tickets.
KINDS = {"critical": "page", "warning": "ticket"}

Integrations = dict[str, list[dict[str, Any]]]
SinkUrl = Callable[[str], str]
"""Maps a receiver name to a webhook URL (tests point every receiver at a local sink)."""


@dataclasses.dataclass(frozen=True)
class Destination:
    """One receiver: its name, the matchers of its route (besides the subtree's) and its integrations."""

    name: str
    matchers: tuple[str, ...]
    integrations: Integrations


def _integrations(webhooks: list[str], emails: list[str]) -> Integrations:
    integrations: Integrations = {}
    if emails:
        integrations["email_configs"] = [{"to": email, "send_resolved": True} for email in emails]
    if webhooks:
        integrations["webhook_configs"] = [{"url": url, "send_resolved": True} for url in webhooks]
    return integrations


def _from_receiver(receiver: Receiver | None) -> Integrations:
    if receiver is None:
        return {}
    return _integrations(
        [receiver.webhook_url] if receiver.webhook_url else [], [receiver.email] if receiver.email else []
    )


def _from_contacts(contacts: list[Contact]) -> Integrations:
    return _integrations(
        [contact.webhook_url for contact in contacts if contact.webhook_url],
        [contact.email for contact in contacts if contact.email],
    )


def _owner(
    name: str, matchers: tuple[str, ...], page: Integrations, ticket: Integrations
) -> list[Destination]:
    """An owner's paging and ticket receivers (those that have an integration)."""
    found = []
    for severity, kind in KINDS.items():
        integrations = page if kind == "page" else ticket
        if integrations:
            found.append(Destination(f"{name}-{kind}", (*matchers, f'severity="{severity}"'), integrations))
    return found


def receivers(config: KanariConfig) -> list[Destination]:
    """Every receiver: the heartbeat and the operations centre first, then KS, Digdir, vendors (by id)
    and municipalities (by kommunenummer), each with its paging and ticket receiver."""
    alerting = config.settings.alerting
    found = [
        Destination(HEARTBEAT, (f'alertname="{WATCHDOG}"',), _from_receiver(alerting.heartbeat)),
        Destination(OPERATIONS_CENTRE, (), _from_receiver(alerting.operations_centre)),
    ]
    for owner, page, ticket in (
        (Owner.KS, alerting.ks, alerting.ks_ticket),
        (Owner.DIGDIR, alerting.digdir, alerting.digdir_ticket),
    ):
        found += _owner(
            f"{PREFIX}{owner.value}",
            (f'owner="{owner.value}"',),
            _from_receiver(page),
            _from_receiver(ticket),
        )
    for vendor_id in sorted(config.vendors):
        vendor = config.vendors[vendor_id]
        found += _owner(
            f"{PREFIX}vendor-{vendor_id}",
            ('owner="vendor"', f'vendor="{vendor_id}"'),
            _from_receiver(vendor.alert_receiver),
            _from_receiver(vendor.ticket_receiver),
        )
    for number in sorted(config.municipalities):
        model = config.municipalities[number].model
        found += _owner(
            f"{PREFIX}municipality-{number}",
            ('owner="municipality"', f'municipality="{number}"'),
            _from_contacts(model.contacts),
            _from_contacts(model.ticket_contacts),
        )
    return found


def inhibit_rules(job: str) -> list[dict[str, Any]]:
    """The inhibition rules (see the module docstring), for the alerts of scrape job ``job``."""
    own = [KANARI_ALERTS, f'job="{job}"']
    return [
        {
            "source_matchers": [f'alertname=~"{"|".join(PROBE_DOWN)}"', f'job="{job}"'],
            "target_matchers": [*own, f'scope=~"{"|".join(WORLD_SCOPES)}"'],
            "equal": ["job"],
        },
        {
            "source_matchers": ['alertname="KanariChannelDown"', f'job="{job}"'],
            "target_matchers": [*own, 'scope="route"'],
            "equal": ["job", "channel"],
        },
        {
            "source_matchers": ['alertname="KanariFallbackToPaperPost"', f'job="{job}"'],
            "target_matchers": ['alertname="KanariRouteLosingCanaries"', f'job="{job}"'],
            "equal": ["job", "channel", "municipality", "owner"],
        },
        {
            "source_matchers": [f'alertname=~"{"|".join(ROUTE_LOSS_ALERTS)}"', f'job="{job}"'],
            "target_matchers": ['alertname="KanariRouteSilent"', f'job="{job}"'],
            "equal": ["job", "channel", "municipality"],
        },
        {
            # Every critical route alert of the same route: the losses (whichever owner they name),
            # paper post, silence and the probe's own refused sends, which leave the route unwatched.
            "source_matchers": [*own, 'scope="route"', 'severity="critical"'],
            "target_matchers": [f'alertname="{OVERDUE}"', f'job="{job}"'],
            "equal": ["job", "channel", "municipality"],
        },
        {
            "source_matchers": ['alertname="KanariKeyExpiring"', 'severity="critical"', f'job="{job}"'],
            "target_matchers": ['alertname="KanariKeyExpiring"', 'severity="warning"', f'job="{job}"'],
            "equal": ["job", "key"],
        },
    ]


def kanari_route(config: KanariConfig, timing: Timing = PRODUCTION) -> dict[str, Any]:
    """The subtree holding every Kanari route: what a shared Alertmanager adds under its own root."""
    routes: list[dict[str, Any]] = []
    for destination in receivers(config):
        if destination.name == HEARTBEAT:
            routes.append(
                {
                    "receiver": destination.name,
                    "matchers": list(destination.matchers),
                    # The dead man's switch wants the ping at once and then every few minutes.
                    "group_wait": "0s",
                    "group_interval": prom_duration(timing.scaled(timing.heartbeat_group_interval)),
                    "repeat_interval": prom_duration(timing.scaled(timing.heartbeat_repeat_interval)),
                }
            )
            continue
        route: dict[str, Any] = {"receiver": destination.name}
        if destination.matchers:
            route["matchers"] = list(destination.matchers)
        route["continue"] = True
        routes.append(route)
    return {
        "receiver": OPERATIONS_CENTRE,
        "matchers": [KANARI_ALERTS, f'job="{config.settings.alerting.job}"'],
        # One notification per alert kind, channel and owner: a vendor whose 240 municipalities all
        # fail gets one message listing them, not 240.
        "group_by": ["alertname", "channel", "owner"],
        "group_wait": prom_duration(timing.scaled(timing.group_wait)),
        "group_interval": prom_duration(timing.scaled(timing.group_interval)),
        "repeat_interval": prom_duration(timing.scaled(timing.repeat_interval)),
        "routes": routes,
    }


def alertmanager_config(
    config: KanariConfig, timing: Timing = PRODUCTION, sink: SinkUrl | None = None
) -> dict[str, Any]:
    """The Alertmanager configuration as a mapping.

    ``sink`` replaces every receiver's integrations with one webhook at ``sink(receiver name)`` (the
    end-to-end test's local sinks); the routing tree stays exactly the production one.
    """
    found = receivers(config)
    if sink is not None:
        found = [dataclasses.replace(d, integrations=_integrations([sink(d.name)], [])) for d in found]
    uses_email = any("email_configs" in destination.integrations for destination in found)
    global_section: dict[str, Any] = {"resolve_timeout": prom_duration(timing.scaled(timing.resolve_timeout))}
    if uses_email:
        smtp = config.settings.alerting.smtp
        global_section |= {
            "smtp_smarthost": smtp.smarthost if smtp else SMTP_SMARTHOST,
            "smtp_from": smtp.sender if smtp else SMTP_FROM,
        }
    return {
        "global": global_section,
        "route": {
            # Alerts of other teams, where this file is the whole Alertmanager's configuration.
            "receiver": OPERATIONS_CENTRE,
            "group_by": ["alertname"],
            "routes": [kanari_route(config, timing)],
        },
        "inhibit_rules": inhibit_rules(config.settings.alerting.job),
        "receivers": [{"name": d.name, **d.integrations} for d in found],
    }


def render_alertmanager(
    config: KanariConfig, timing: Timing = PRODUCTION, sink: SinkUrl | None = None
) -> str:
    """``config/alertmanager/alertmanager.yml``."""
    header = (
        "Generated by `kanari render alertmanager` from kanari.yaml (alerting), vendors.yaml and the\n"
        "municipality files. Do not edit: CI fails when this file differs from a fresh render."
    )
    if config.settings.alerting.smtp is None:
        header += (
            f"\nE-mail goes through the placeholder relay {SMTP_SMARTHOST}, which can never resolve: set\n"
            "alerting.smtp in kanari.yaml before deploying."
        )
    if timing.scale != 1 or sink is not None:
        header += "\nTEST variant: time-compressed and/or receivers replaced by webhook sinks."
    return to_yaml(alertmanager_config(config, timing, sink), header)
