"""What the configuration exposes in clear: warnings, not errors, because each can be right where the
network itself protects it (a container port published on loopback only, a webhook inside a cluster).

- ``listen`` on a non-loopback address with ``/metrics`` unauthenticated: anyone who reaches the port
  reads which municipality's reports are being lost, as it happens;
- alert webhooks over plain http to another host: alerts can be read, and dropped, on the way.

Upstream URLs (KS, Altinn, Maskinporten, read-back) carry credentials and are refused over plain http by
their field type (:data:`~probe.config.fields.UpstreamUrl`), not warned about here.
"""

from __future__ import annotations

from urllib.parse import urlparse

from probe.config.fields import Receiver, is_loopback_host, listen_host
from probe.config.models import ProbeSettings
from probe.config.municipalities import Contact
from probe.config.places import VENDORS_FILE, SettingsOrigin, Where, dotted, where_in
from probe.config.validation.municipalities import Accepted
from probe.config.vendors import Vendor
from probe.config.yamlfile import Location, YamlDocument


def check_exposure(
    settings: ProbeSettings,
    *,
    origin: SettingsOrigin,
    vendors: list[Vendor],
    vendors_document: YamlDocument | None,
    municipalities: list[Accepted],
    warnings: list[str],
) -> None:
    """Warn about ``/metrics`` open to the network and about alerts sent over plain http."""
    metrics = settings.metrics
    if not is_loopback_host(listen_host(settings.listen)) and metrics.basic_auth_username is None:
        warnings.append(
            f"{origin.where(('listen',))}: listen: {settings.listen} is reachable from other hosts and "
            "/metrics has no authentication, so anyone who reaches it reads every route's state; set "
            "metrics.basic_auth_username and metrics.basic_auth_password (or listen on 127.0.0.1 behind a "
            "proxy that authenticates)"
        )
    for name in ("operations_centre", "ks", "ks_ticket", "digdir", "digdir_ticket", "heartbeat"):
        receiver: Receiver | None = getattr(settings.alerting, name)
        _webhook(origin.where, ("alerting", name), receiver, warnings)
    vendor_where = where_in(vendors_document, VENDORS_FILE)
    for index, vendor in enumerate(vendors):
        for field in ("alert_receiver", "ticket_receiver"):
            _webhook(vendor_where, ("vendors", index, field), getattr(vendor, field), warnings)
    for item in municipalities:
        for field in ("contacts", "ticket_contacts"):
            for index, contact in enumerate(getattr(item.model, field)):
                _webhook(item.document.where, (field, index), contact, warnings)


def _webhook(
    where: Where, location: Location, receiver: Receiver | Contact | None, warnings: list[str]
) -> None:
    url = receiver.webhook_url if receiver is not None else None
    if url is None:
        return
    parsed = urlparse(url)
    if parsed.scheme != "http" or is_loopback_host(parsed.hostname or ""):
        return
    place = (*location, "webhook_url")
    warnings.append(
        f"{where(place)}: {dotted(*place)}: {url} is plain http to another host, so alerts travel "
        "unencrypted and can be read or dropped on the way; use https://"
    )
