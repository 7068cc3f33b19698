"""The Alertmanager configuration ``config/alertmanager/alertmanager.yml``, generated from the registry.

Routing tree (first match wins unless ``continue: true``)::

    route (receiver operations-centre, group by alertname/channel/owner)
    ├── alertname="Watchdog"                       → heartbeat (short intervals; stops here)
    ├── (everything)                               → operations-centre        continue
    ├── owner="ks"                                 → ks                       continue
    ├── owner="digdir"                             → digdir                   continue
    ├── owner="vendor", vendor="<id>"              → vendor-<id>              continue  (each vendor)
    └── owner="municipality", municipality="<nr>"  → municipality-<nr>        continue  (each municipality)

The operations centre sees every alert (except the Watchdog ping, which has its own receiver); each owner
additionally gets its own. A party without a configured receiver gets no route: the operations centre
still sees its alerts.

Inhibition:

- ``KanariProbeDown`` or ``KanariHeartbeatStale`` mute every other alert except the Watchdog: a probe
  that is down or stuck says nothing about the routes.
- ``KanariChannelDown`` mutes the ``scope="route"`` alerts *of the same channel* (``equal: [channel]``);
  the other channel's alerts go through.
- ``KanariFallbackToPaperPost`` mutes the same route's ``KanariRouteLosingCanaries`` for the same owner
  (the rejected canary is counted as a loss too).
- A route alert that names an owner mutes the same route's ``KanariRouteSilent``.

E-mail goes through ``alerting.smtp`` (relay and sender). Without it the placeholder ``smtp.invalid:587``
(the ``.invalid`` top-level domain can never resolve, RFC 2606) passes ``amtool check-config`` and cannot
leak mail anywhere until a deployment sets its relay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probe.config.fields import Receiver
from probe.config.loader import KanariConfig
from probe.config.municipalities import Contact
from probe.hops import Owner
from probe.render.durations import prom_duration
from probe.render.output import to_yaml
from probe.render.timing import PRODUCTION, Timing

OPERATIONS_CENTRE = "operations-centre"
HEARTBEAT = "heartbeat"
SMTP_SMARTHOST = "smtp.invalid:587"
SMTP_FROM = "kanari-alertmanager@kanari.invalid"

# Alert names the inhibition rules refer to (the alert module defines them; kept literal here so this
# module reads on its own, and tests check both agree).
PROBE_DOWN = ("KanariProbeDown", "KanariHeartbeatStale")
ROUTE_LOSS_ALERTS = (
    "KanariFallbackToPaperPost",
    "KanariPublishedNeverFetched",
    "KanariReceiptWithoutRecord",
    "KanariRouteLosingCanaries",
    "KanariSendingFailing",
)

Integrations = dict[str, list[dict[str, Any]]]
SinkUrl = Callable[[str], str]
"""Maps a receiver name to a webhook URL (tests point every receiver at a local sink)."""


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


def receivers(config: KanariConfig) -> list[tuple[str, list[str], Integrations]]:
    """Every receiver as (name, matchers of its route, integrations); the operations centre and the
    heartbeat first, then KS, Digdir, vendors (by id) and municipalities (by kommunenummer)."""
    alerting = config.settings.alerting
    found: list[tuple[str, list[str], Integrations]] = [
        (HEARTBEAT, ['alertname="Watchdog"'], _from_receiver(alerting.heartbeat)),
        (OPERATIONS_CENTRE, [], _from_receiver(alerting.operations_centre)),
    ]
    for name, receiver in ((Owner.KS.value, alerting.ks), (Owner.DIGDIR.value, alerting.digdir)):
        if receiver is not None:
            found.append((name, [f'owner="{name}"'], _from_receiver(receiver)))
    for vendor_id in sorted(config.vendors):
        vendor = config.vendors[vendor_id]
        if vendor.alert_receiver is not None:
            found.append(
                (
                    f"vendor-{vendor_id}",
                    ['owner="vendor"', f'vendor="{vendor_id}"'],
                    _from_receiver(vendor.alert_receiver),
                )
            )
    for number in sorted(config.municipalities):
        integrations = _from_contacts(config.municipalities[number].model.contacts)
        if integrations:
            found.append(
                (f"municipality-{number}", ['owner="municipality"', f'municipality="{number}"'], integrations)
            )
    return found


def inhibit_rules() -> list[dict[str, Any]]:
    """The inhibition rules (see the module docstring)."""
    probe_down = "|".join(PROBE_DOWN)
    return [
        {
            "source_matchers": [f'alertname=~"{probe_down}"'],
            "target_matchers": [f'alertname!~"{probe_down}|Watchdog"'],
        },
        {
            "source_matchers": ['alertname="KanariChannelDown"'],
            "target_matchers": ['scope="route"'],
            "equal": ["channel"],
        },
        {
            "source_matchers": ['alertname="KanariFallbackToPaperPost"'],
            "target_matchers": ['alertname="KanariRouteLosingCanaries"'],
            "equal": ["channel", "municipality", "owner"],
        },
        {
            "source_matchers": [f'alertname=~"{"|".join(ROUTE_LOSS_ALERTS)}"'],
            "target_matchers": ['alertname="KanariRouteSilent"'],
            "equal": ["channel", "municipality"],
        },
    ]


def alertmanager_config(
    config: KanariConfig, timing: Timing = PRODUCTION, sink: SinkUrl | None = None
) -> dict[str, Any]:
    """The Alertmanager configuration as a mapping.

    ``sink`` replaces every receiver's integrations with one webhook at ``sink(receiver name)`` (the
    end-to-end test's local sinks); the routing tree stays exactly the production one.
    """
    found = receivers(config)
    if sink is not None:
        found = [(name, matchers, _integrations([sink(name)], [])) for name, matchers, _ in found]
    uses_email = any("email_configs" in integrations for _, _, integrations in found)
    global_section: dict[str, Any] = {"resolve_timeout": prom_duration(timing.scaled(timing.resolve_timeout))}
    if uses_email:
        smtp = config.settings.alerting.smtp
        global_section |= {
            "smtp_smarthost": smtp.smarthost if smtp else SMTP_SMARTHOST,
            "smtp_from": smtp.sender if smtp else SMTP_FROM,
        }

    routes: list[dict[str, Any]] = []
    for name, matchers, _ in found:
        if name == HEARTBEAT:
            routes.append(
                {
                    "receiver": name,
                    "matchers": matchers,
                    # The dead man's switch wants the ping at once and then every few minutes.
                    "group_wait": "0s",
                    "group_interval": prom_duration(timing.scaled(timing.heartbeat_group_interval)),
                    "repeat_interval": prom_duration(timing.scaled(timing.heartbeat_repeat_interval)),
                }
            )
            continue
        route: dict[str, Any] = {"receiver": name}
        if matchers:
            route["matchers"] = matchers
        route["continue"] = True
        routes.append(route)
    return {
        "global": global_section,
        "route": {
            "receiver": OPERATIONS_CENTRE,
            # One notification per alert kind, channel and owner: a vendor whose 240 municipalities all
            # fail gets one message listing them, not 240.
            "group_by": ["alertname", "channel", "owner"],
            "group_wait": prom_duration(timing.scaled(timing.group_wait)),
            "group_interval": prom_duration(timing.scaled(timing.group_interval)),
            "repeat_interval": prom_duration(timing.scaled(timing.repeat_interval)),
            "routes": routes,
        },
        "inhibit_rules": inhibit_rules(),
        "receivers": [{"name": name, **integrations} for name, _, integrations in found],
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
