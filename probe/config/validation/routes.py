"""Building the routes of the accepted municipality files: per channel, the final hop, the deadline,
the bydel and the organisation number the channel needs."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from probe.config.durations import human
from probe.config.models import AltinnSettings, ChannelSettings, PortalSettings, ProbeSettings
from probe.config.municipalities import MunicipalityChannel
from probe.config.places import SettingsOrigin, Where, dotted
from probe.config.routes import Route
from probe.config.validation.channels import (
    INTERVAL_HINT,
    Timing,
    channel_final_hop_is_valid,
    channel_interval_is_valid,
    channel_timing_is_valid,
    interval_problem,
    no_such_hop,
)
from probe.config.validation.municipalities import Accepted
from probe.config.vendors import Vendor
from probe.errors import ConfigError
from probe.hops import Channel, Hop, default_final_hop, hops_of


def build_routes(
    accepted: list[Accepted],
    settings: ProbeSettings,
    *,
    settings_origin: SettingsOrigin,
    vendors: dict[str, Vendor],
    errors: list[ConfigError],
    warnings: list[str],
) -> list[Route]:
    """The routes of every accepted file; a file with a problem contributes none."""
    context = _Context(settings, settings_origin, vendors, errors, warnings)
    settings_where = settings_origin.where
    routes: list[Route] = []
    for item in accepted:
        before = len(errors)
        found = _file_routes(item, context)
        if len(errors) == before:
            routes.extend(found)
    for channel, files in context.unconfigured.items():
        # One error in kanari.yaml, not one per file: the fix is there (or in every file alike).
        errors.append(
            ConfigError(
                settings_where(("channels",)),
                f"channels.{channel.value}",
                None,
                f"{len(files)} municipality file(s) use the {channel.value} channel, which kanari.yaml does "
                f"not configure (first: {files[0]})",
                f"configure channels.{channel.value} in kanari.yaml, or remove it from those files",
            )
        )
    for channel, count in context.disabled.items():
        warnings.append(
            f"{settings_where(('channels', channel.value, 'enabled'))}: the {channel.value} channel is "
            f"disabled; {count} municipality route(s) on it are not probed"
        )
    return routes


@dataclasses.dataclass
class _Context:
    settings: ProbeSettings
    settings_origin: SettingsOrigin
    vendors: dict[str, Vendor]
    errors: list[ConfigError]
    warnings: list[str]
    unconfigured: dict[Channel, list[str]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    disabled: dict[Channel, int] = dataclasses.field(default_factory=lambda: defaultdict(int))

    @property
    def settings_where(self) -> Where:
        """``kanari.yaml:line`` of a setting, or the ``KANARI_`` variable that overrides it."""
        return self.settings_origin.where


def _file_routes(item: Accepted, context: _Context) -> list[Route]:
    document, municipality = item.document, item.model
    for field in ("contacts", "ticket_contacts"):
        for index, contact in enumerate(getattr(municipality, field)):
            if contact.email is None and contact.webhook_url is None:
                context.warnings.append(
                    f"{document.where((field, index))}: contact {contact.name!r} has neither email nor "
                    "webhook_url, so receives no alerts"
                )
    if not municipality.channels:
        context.errors.append(
            ConfigError(
                document.where(("channels",)),
                "channels",
                None,
                "no channel is listed, so nothing would be probed",
                "e.g. channels: {portal: {}, altinn: {}}",
            )
        )
        return []
    if not any(overrides.enabled for overrides in municipality.channels.values()):
        context.warnings.append(
            f"{document.name}: every channel is disabled; {municipality.name} is not probed"
        )
    routes: list[Route] = []
    for channel, overrides in municipality.channels.items():
        if not overrides.enabled:
            continue
        channel_settings: ChannelSettings | None = getattr(context.settings.channels, channel.value)
        if channel_settings is None:
            context.unconfigured[channel].append(document.name)
            continue
        if not channel_settings.enabled:
            context.disabled[channel] += 1
            continue
        route = _route(item, channel, overrides, channel_settings, context)
        if route is not None:
            routes.append(route)
    return routes


def _route(
    item: Accepted,
    channel: Channel,
    overrides: MunicipalityChannel,
    channel_settings: ChannelSettings,
    context: _Context,
) -> Route | None:
    problem = _addressing_problem(item, channel, overrides) or _manual_hops_problem(item, channel, overrides)
    if problem is not None:
        context.errors.append(problem)
        return None
    final_hop = _final_hop(item, channel, overrides, channel_settings, context)
    if final_hop is None or not _interval_is_valid(item, channel, overrides, channel_settings, context):
        return None
    timing = Timing(
        deadline=overrides.deadline or channel_settings.deadline,
        normal_latency=channel_settings.normal_latency,
        poll_interval=overrides.poll_interval or channel_settings.poll_interval,
        readback_poll_interval=(
            context.settings.readback.poll_interval if final_hop is Hop.REGISTERED else None
        ),
    )
    too_short = timing.problem()
    inherited = overrides.deadline is None and overrides.poll_interval is None
    if too_short is not None and inherited and not channel_timing_is_valid(channel_settings):
        return None  # kanari.yaml's deadline is too short for every route; reported there once
    if too_short is not None:
        context.errors.append(
            _timing_error(
                item, channel, overrides, timing, problem=too_short, settings_origin=context.settings_origin
            )
        )
        return None
    municipality = item.model
    confidential = _confidential(overrides, channel_settings)
    if (
        isinstance(channel_settings, AltinnSettings)
        and not confidential
        and channel_settings.ordinary_resource_id is None
    ):
        location = ("channels", channel.value, "confidential")
        inherited_setting = overrides.confidential is None
        context.errors.append(
            ConfigError(
                context.settings_where(location) if inherited_setting else item.document.where(location),
                dotted(*location),
                False,
                "Altinn refuses ordinary mail on a resource for confidential mail (error 1060), and "
                "kanari.yaml names no other resource",
                "set channels.altinn.ordinary_resource_id in kanari.yaml, or remove confidential: false",
            )
        )
        return None
    return Route(
        channel=channel,
        kommunenummer=municipality.kommunenummer,
        municipality_name=item.registered.name,
        county=item.registered.county,
        orgnr=overrides.recipient_organisasjonsnummer or item.orgnr,
        vendor=municipality.vendor,
        bydel=overrides.bydel or municipality.bydel,
        interval=overrides.interval or channel_settings.interval,
        deadline=timing.deadline,
        poll_interval=timing.poll_interval,
        final_hop=final_hop,
        api_version=overrides.api_version
        or (channel_settings.api_version if isinstance(channel_settings, PortalSettings) else "auto"),
        confidential=confidential,
        normal_latency=timing.normal_latency,
        learning=channel_settings.learning.build() if channel_settings.learning else None,
        office_hours=(
            context.settings.office_hours.build(municipality.office_hours)
            if context.settings.office_hours is not None
            else None
        ),
        manual_hops=frozenset(overrides.manual_hops),
    )


def _manual_hops_problem(
    item: Accepted, channel: Channel, overrides: MunicipalityChannel
) -> ConfigError | None:
    """A ``manual_hops`` entry the channel does not have."""
    wrong = [hop for hop in overrides.manual_hops if hop not in hops_of(channel)]
    if not wrong:
        return None
    location = ("channels", channel.value, "manual_hops")
    return ConfigError(
        item.document.where(location),
        dotted(*location),
        wrong[0].value,
        f"channel {channel.value} has no hop {wrong[0].value}",
        f"name hops of {channel.value}: {', '.join(hop.value for hop in hops_of(channel))}",
    )


def _interval_is_valid(
    item: Accepted,
    channel: Channel,
    overrides: MunicipalityChannel,
    channel_settings: ChannelSettings,
    context: _Context,
) -> bool:
    """False after reporting a send interval too short for the channel's host."""
    if overrides.interval is None:
        return channel_interval_is_valid(channel_settings)  # kanari.yaml's own; reported there once
    problem = interval_problem(overrides.interval, channel_settings.base_url)
    if problem is None:
        return True
    location = ("channels", channel.value, "interval")
    shown = item.document.written(location) or human(overrides.interval)
    context.errors.append(
        ConfigError(item.document.where(location), dotted(*location), shown, problem, INTERVAL_HINT)
    )
    return False


def _confidential(overrides: MunicipalityChannel, channel_settings: ChannelSettings) -> bool:
    if not isinstance(channel_settings, AltinnSettings):
        return False
    return channel_settings.confidential if overrides.confidential is None else overrides.confidential


def _addressing_problem(
    item: Accepted, channel: Channel, overrides: MunicipalityChannel
) -> ConfigError | None:
    prefix = ("channels", channel.value)
    only_on = {
        "api_version": (overrides.api_version, Channel.PORTAL),
        "confidential": (overrides.confidential, Channel.ALTINN),
        "recipient_organisasjonsnummer": (overrides.recipient_organisasjonsnummer, Channel.ALTINN),
    }
    for field, (value, owner) in only_on.items():
        if value is not None and channel is not owner:
            return ConfigError(
                item.document.where((*prefix, field)),
                dotted(*prefix, field),
                value,
                f"only the {owner.value} channel has {field}",
                f"move it to channels.{owner.value}.{field}, or remove it",
            )
    if channel is Channel.ALTINN and not item.orgnr and overrides.recipient_organisasjonsnummer is None:
        return ConfigError(
            item.document.where(prefix),
            "organisasjonsnummer",
            None,
            "the altinn channel addresses the municipality by organisation number, and the registry has "
            f"none for {item.registered.name}",
            "add organisasjonsnummer: '<nine digits>' (Enhetsregisteret), or remove the altinn channel",
        )
    if overrides.bydel is not None and channel is not Channel.PORTAL:
        return ConfigError(
            item.document.where((*prefix, "bydel")),
            dotted(*prefix, "bydel"),
            overrides.bydel,
            "only the portal channel addresses a bydel",
            "move it to channels.portal.bydel, or remove it",
        )
    return None


def _final_hop(
    item: Accepted,
    channel: Channel,
    overrides: MunicipalityChannel,
    channel_settings: ChannelSettings,
    context: _Context,
) -> Hop | None:
    """The route's final hop, or ``None`` after reporting why it cannot be used."""
    if overrides.final_hop is None and not channel_final_hop_is_valid(channel, channel_settings):
        return None  # kanari.yaml's final hop is wrong; reported there once
    vendor = context.vendors.get(item.model.vendor)
    if vendor is None:
        return None  # vendors.yaml is unusable; reported there
    final_hop = (
        overrides.final_hop
        or channel_settings.final_hop
        or default_final_hop(channel, vendor.readback is not None)
    )
    prefix = ("channels", channel.value)
    where = item.document.where((*prefix, "final_hop"))
    if final_hop not in hops_of(channel):
        context.errors.append(no_such_hop(where, dotted(*prefix, "final_hop"), channel, final_hop))
        return None
    if final_hop is Hop.REGISTERED and vendor.readback is None:
        origin = "" if overrides.final_hop else f" (set for the {channel.value} channel in kanari.yaml)"
        earlier = default_final_hop(channel, vendor_has_readback=False).value
        context.errors.append(
            ConfigError(
                where,
                dotted(*prefix, "final_hop"),
                final_hop.value,
                f"the final hop 'registered'{origin} needs the vendor's read-back API, and vendor "
                f"{vendor.id} has none",
                f"set channels.{channel.value}.final_hop: {earlier} here, or add readback for {vendor.id} "
                "in vendors.yaml",
            )
        )
        return None
    return final_hop


def _timing_error(
    item: Accepted,
    channel: Channel,
    overrides: MunicipalityChannel,
    timing: Timing,
    *,
    problem: str,
    settings_origin: SettingsOrigin,
) -> ConfigError:
    # Point at the value to change: this file's override, or kanari.yaml's channel deadline (every
    # route inheriting it gets the same error, which the loader reports once).
    prefix = ("channels", channel.value)
    hint = timing.hint
    if overrides.deadline is not None or overrides.poll_interval is not None:
        name = "deadline" if overrides.deadline is not None else "poll_interval"
        value = overrides.deadline if overrides.deadline is not None else overrides.poll_interval
        assert value is not None
        where = item.document.where((*prefix, name))
        shown = item.document.written((*prefix, name)) or human(value)
        return ConfigError(where, dotted(*prefix, name), shown, problem, hint)
    location = (*prefix, "deadline")
    shown = settings_origin.written(location) or human(timing.deadline)
    return ConfigError(settings_origin.where(location), dotted(*location), shown, problem, hint)
