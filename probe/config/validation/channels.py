"""Checks of the channels in ``kanari.yaml``: final hops, deadlines and send intervals, and the timing
rules a route's own overrides must also meet."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlparse

from probe.config.durations import REAL_HOST_MINIMUM_INTERVAL, human
from probe.config.fields import is_loopback_host
from probe.config.models import ChannelSettings, ProbeSettings
from probe.config.places import SettingsOrigin, dotted
from probe.errors import ConfigError
from probe.hops import Channel, Hop, hops_of

INTERVAL_HINT = (
    f"send at most once every {human(REAL_HOST_MINIMUM_INTERVAL)} (config/kanari.yaml uses 15m for the "
    "portal, 1h for Altinn); shorter intervals are for the sandbox on this machine"
)


def check_channels(settings: ProbeSettings, origin: SettingsOrigin, errors: list[ConfigError]) -> None:
    """Every configured channel's final hop exists on it, its deadline leaves room for a delivery and
    its send interval is one a real upstream can take."""
    where = origin.where
    if not any(settings.channels.get(channel) for channel in Channel):
        errors.append(
            ConfigError(
                where(("channels",)),
                "channels",
                None,
                "no channel is configured and enabled, so nothing would be probed",
                "configure channels.portal and/or channels.altinn (see config/kanari.yaml)",
            )
        )
    if settings.channels.get(Channel.PORTAL) is not None and settings.business_certificate is None:
        errors.append(
            ConfigError(
                where(("channels", "portal")),
                "business_certificate",
                None,
                "the portal channel needs the business certificate: KS's client signs the ASiC-E container "
                "with it, and receiving systems refuse (to paper post) a container that is not signed",
                "add business_certificate: {certificate_chain_file: ..., key_file: ...} to kanari.yaml "
                "(the virksomhetssertifikat; the same files Maskinporten can use for x5c)",
            )
        )
    for channel in Channel:
        channel_settings = settings.channels.get(channel)
        if channel_settings is None:
            continue
        final_hop = channel_settings.final_hop
        if final_hop is not None and final_hop not in hops_of(channel):
            location = ("channels", channel.value, "final_hop")
            errors.append(no_such_hop(where(location), dotted(*location), channel, final_hop))
        timing = Timing(
            deadline=channel_settings.deadline,
            normal_latency=channel_settings.normal_latency,
            poll_interval=channel_settings.poll_interval,
        )
        problem = timing.problem()
        if problem is not None:
            location = ("channels", channel.value, "deadline")
            shown = origin.written(location) or human(channel_settings.deadline)
            errors.append(ConfigError(where(location), dotted(*location), shown, problem, timing.hint))
        location = ("channels", channel.value, "interval")
        too_fast = interval_problem(channel_settings.interval, channel_settings.base_url)
        if too_fast is not None:
            shown = origin.written(location) or human(channel_settings.interval)
            errors.append(ConfigError(where(location), dotted(*location), shown, too_fast, INTERVAL_HINT))


def interval_problem(interval: float, base_url: str) -> str | None:
    """Why ``interval`` is too short for the channel at ``base_url``, or ``None``.

    The type's bounds (:data:`~probe.config.durations.SEND_INTERVAL`) let the sandbox compress time to a
    few seconds; towards any other host every canary is a report that KS or Altinn hands to a
    municipality's system (and KS prints as paper post when it cannot deliver), so the floor is higher.
    """
    host = urlparse(base_url).hostname or ""
    if interval >= REAL_HOST_MINIMUM_INTERVAL or is_loopback_host(host):
        return None
    return (
        f"a send interval shorter than {human(REAL_HOST_MINIMUM_INTERVAL)} towards {host}: every canary is "
        "a report the channel hands to a municipality's system, so this floods real services"
    )


def channel_interval_is_valid(channel_settings: ChannelSettings) -> bool:
    """False when ``kanari.yaml``'s own send interval is too short for the channel (reported there once)."""
    return interval_problem(channel_settings.interval, channel_settings.base_url) is None


def channel_final_hop_is_valid(channel: Channel, channel_settings: ChannelSettings) -> bool:
    """False when ``kanari.yaml`` sets a final hop the channel does not have (reported there once)."""
    return channel_settings.final_hop is None or channel_settings.final_hop in hops_of(channel)


def channel_timing_is_valid(channel_settings: ChannelSettings) -> bool:
    """False when ``kanari.yaml``'s own deadline for the channel is too short (reported there once)."""
    timing = Timing(
        deadline=channel_settings.deadline,
        normal_latency=channel_settings.normal_latency,
        poll_interval=channel_settings.poll_interval,
    )
    return timing.problem() is None


def no_such_hop(where: str, field: str, channel: Channel, hop: Hop) -> ConfigError:
    """The error for a final hop that ``channel`` does not have."""
    return ConfigError(
        where,
        field,
        hop.value,
        f"the {channel.value} channel has no hop '{hop.value}'",
        "use one of " + ", ".join(h.value for h in hops_of(channel)),
    )


@dataclasses.dataclass(frozen=True)
class Timing:
    """A route's deadline against what a healthy delivery needs: the channel's normal latency, plus
    one status poll to see the hop, plus (for the final hop ``registered``) one read-back poll."""

    deadline: float
    normal_latency: float
    poll_interval: float
    readback_poll_interval: float | None = None

    @property
    def needed(self) -> float:
        """The shortest deadline that does not report healthy canaries lost."""
        return self.normal_latency + self.poll_interval + (self.readback_poll_interval or 0.0)

    def problem(self) -> str | None:
        """Why the deadline is too short, or ``None``."""
        if self.deadline >= self.needed:
            return None
        polls = f"one status poll ({human(self.poll_interval)})"
        if self.readback_poll_interval is not None:
            polls += (
                f" and one read-back poll ({human(self.readback_poll_interval)}), which a route "
                "ending at 'registered' needs"
            )
        return (
            f"shorter than the channel's normal latency ({human(self.normal_latency)}) plus {polls}, so "
            "healthy canaries would be reported lost"
        )

    @property
    def hint(self) -> str:
        """How to fix a deadline that is too short."""
        return (
            f"set the deadline to at least {human(self.needed)}, or poll more often (normal_latency is the "
            "slowest delivery a healthy route shows)"
        )
