"""Every window, threshold and ``for:`` the rules use, and where each comes from.

Two kinds of duration:

- **Derived from the configuration** (:class:`ChannelTiming`): loss windows and ``for:`` durations of
  route- and channel-level alerts follow the channel's configured ``interval`` and ``poll_interval``
  (the extremes over the channel's routes, so per-municipality overrides are honoured). The per-route
  silence threshold is not rendered at all: the rule reads each route's own
  ``kanari_route_silence_limit_seconds`` (its learned deadline in wall time at this instant, plus two
  intervals), so it follows every route's timing, office hours and learning at run time.
- **Fixed** (:class:`Timing`): Prometheus' own lag, the SLO burn-rate windows, probe-down and heartbeat
  durations, Alertmanager grouping. They are stored at their nominal (production) values and read
  through :meth:`Timing.scaled`; :meth:`Timing.compressed` sets one factor for all of them, so an
  end-to-end test gets a short-window variant rendered from the same source, not a copy. Recording
  rules keep the *nominal* window in their ``window`` label (``window="1h"`` is an hour in production
  and a minute at ``compressed(1/60)``), so dashboards and alerts select them the same way in both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from probe.config.routes import Route
from probe.hops import Channel


@dataclasses.dataclass(frozen=True)
class BurnWindow:
    """One multiwindow burn-rate alert (Google SRE workbook, "Alerting on SLOs"): the long window
    measures the budget spent, the short one (1/12 of it) lets the alert resolve soon after the burning
    stops. Durations are nominal seconds."""

    long: float
    short: float
    factor: float
    for_: float
    severity: str


@dataclasses.dataclass(frozen=True)
class Timing:
    """The durations (nominal seconds) that do not come from the Kanari configuration, and the factor
    they are scaled by (``scale``; 1 in production).

    The defaults assume the shipped ``prometheus.yml``: scrape every 15 s, evaluate every 30 s.
    """

    scale: float = 1.0
    # How long a change in a counter may take to reach a rule: one scrape interval plus one evaluation
    # interval, rounded up to a minute. Every derived ``for:`` keeps at least this much margin.
    resolution: float = 60.0
    # ``up == 0`` (or no target at all) for two minutes is four to eight failed scrapes: a restart,
    # which takes seconds, does not page.
    probe_down_for: float = 120.0
    # The scheduler sets the heartbeat every poll tick (about once a second); two minutes without a
    # tick is a stuck event loop, not a garbage-collection pause or a slow scrape. One more minute of
    # ``for:`` rides out a single late scrape.
    heartbeat_stale_after: float = 120.0
    heartbeat_for: float = 60.0
    # The base window of the SLO recording rules; the longer windows are sums over it.
    slo_base_window: float = 300.0
    # The SRE workbook's set for a 30-day budget: 2 % of the budget spent in 1 h (14.4x) or 5 % in 6 h
    # (6x) pages; 10 % in 3 days (1x) is a ticket. ``for:`` follows kubernetes-mixin's choices.
    burn_windows: tuple[BurnWindow, ...] = (
        BurnWindow(long=3600.0, short=300.0, factor=14.4, for_=120.0, severity="critical"),
        BurnWindow(long=21600.0, short=1800.0, factor=6.0, for_=900.0, severity="critical"),
        BurnWindow(long=259200.0, short=21600.0, factor=1.0, for_=3600.0, severity="warning"),
    )
    # Alertmanager: wait 30 s to batch the alerts of one incident into one notification, send changes
    # to a group at most every 5 min, re-notify a still-firing group after 4 h. The heartbeat receiver
    # is a dead man's switch that expects a ping every few minutes, so it gets its own short intervals.
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 14400.0
    heartbeat_group_interval: float = 60.0
    heartbeat_repeat_interval: float = 300.0
    resolve_timeout: float = 300.0

    def scaled(self, seconds: float) -> float:
        """A nominal duration as it is rendered (multiplied by :attr:`scale`)."""
        return seconds * self.scale

    def compressed(self, factor: float) -> Timing:
        """This timing with every fixed duration multiplied by ``factor`` (``1/60`` turns an hour into
        a minute), for tests that run real Prometheus and Alertmanager with short scrape and
        evaluation intervals. Durations derived from the Kanari configuration are not scaled: give the
        test a configuration with short intervals instead."""
        if factor <= 0:
            raise ValueError("the compression factor must be positive")
        return dataclasses.replace(self, scale=self.scale * factor)


PRODUCTION = Timing()


@dataclasses.dataclass(frozen=True)
class ChannelTiming:
    """The windows and ``for:`` durations (seconds, as rendered) of one channel's alerts.

    With ``I`` the longest and ``i`` the shortest configured interval on the channel, ``P`` its longest
    poll interval and ``R`` the (scaled) :attr:`Timing.resolution`:

    - ``loss_window = 3·I + P``: a route alert needs two lost canaries in it, i.e. two of the route's
      last three, so one isolated lost (or late) canary never pages. ``+ P``: a verdict is recorded at
      the first poll after the deadline.
    - ``channel_window = I + 2·P``: every route has resolved at least one canary in it, so the share of
      failing routes is measured over all of them at once.
    - ``channel_for = max(2·P, 2·R)``: the failing share must hold over two polls and two evaluations.
      It doubles as the short window of "status checks failing".
    - ``route_for = min(channel_for + (I - i) + 2·max(P, R), 2·I)``: longer than ``channel_for`` by two
      polls (or evaluations) plus the spread of intervals (a fast route's second loss can come ``I - i``
      before a slow route's first), so *channel down fires before the route alerts it inhibits*. Capped
      at ``2·I``: two consecutive losses keep the loss condition true for ``loss_window - I - P = 2·I``,
      and a longer ``for:`` would never fire for them.
    - ``silent_for = route_for + max(P, R)``: a route that loses canaries also goes silent; the loss
      alert, which names the owner, fires first and inhibits the silence alert in Alertmanager.
    - ``overdue_for = max(P, R)``: a canary must still be overdue after one more poll and one more
      evaluation. Short on purpose: the overdue warning has to come between the route's usual latency
      and its learned bound, which on a fast route are minutes apart.
    """

    channel: Channel
    routes: int
    interval_max: float
    interval_min: float
    poll_max: float
    loss_window: float
    channel_window: float
    channel_for: float
    route_for: float
    silent_for: float
    overdue_for: float

    @classmethod
    def derive(cls, channel: Channel, routes: Iterable[Route], timing: Timing) -> ChannelTiming | None:
        """The timing of ``channel``'s alerts, or ``None`` when the channel has no routes."""
        own = [route for route in routes if route.channel is channel]
        if not own:
            return None
        interval_max = max(route.interval for route in own)
        interval_min = min(route.interval for route in own)
        poll_max = max(route.poll_interval for route in own)
        resolution = timing.scaled(timing.resolution)
        margin = max(poll_max, resolution)
        channel_for = max(2 * poll_max, 2 * resolution)
        route_for = min(channel_for + (interval_max - interval_min) + 2 * margin, 2 * interval_max)
        return cls(
            channel=channel,
            routes=len(own),
            interval_max=interval_max,
            interval_min=interval_min,
            poll_max=poll_max,
            loss_window=3 * interval_max + poll_max,
            channel_window=interval_max + 2 * poll_max,
            channel_for=channel_for,
            route_for=route_for,
            silent_for=route_for + margin,
            overdue_for=margin,
        )


def channel_timings(routes: Iterable[Route], timing: Timing) -> dict[Channel, ChannelTiming]:
    """The :class:`ChannelTiming` of every channel that has routes, in :class:`Channel` order."""
    route_list = list(routes)
    derived = {channel: ChannelTiming.derive(channel, route_list, timing) for channel in Channel}
    return {channel: value for channel, value in derived.items() if value is not None}
