"""Watching canaries judged lost or unknown: they may still turn up, and a late arrival is counted.

A canary is looked at while it has no verdict, and afterwards only while it is lost or unknown, has not
turned up, and its watch window (``late_window``) lasts. The watch runs at a slower pace than the
canary's own polls and backs off, since nothing urgent depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from probe.config.routes import Route
from probe.hops import Channel, Verdict
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at

# A watched canary is first looked at after four polls' pace (at least a minute), then each look waits
# twice as long as the one before, up to an hour: a late arrival is still seen within the hour, and a
# canary lost in a day-long outage costs about 30 looks instead of 1 440.
WATCH_FACTOR = 4
MIN_WATCH_INTERVAL = 60.0
MAX_WATCH_INTERVAL = 3600.0
# All watch looks of a channel together may use half the channel's send rate: during an outage the
# watched canaries pile up, but the load they add to the upstream does not grow with the outage's length.
WATCH_SHARE = 0.5
# The bucket holds a minute's looks, and at least one: a channel of few routes still gets its looks, at
# its share of the send rate, without a floor that would let the watch outgrow the sends.
BUCKET_SECONDS = 60.0
WATCHED = (Verdict.LOST, Verdict.UNKNOWN)


class Watch:
    """The rules of watching for late arrivals, and the per-channel budget of watch looks."""

    def __init__(self, late_window: float, budget: Mapping[Channel, float] | None = None) -> None:
        """``budget``: watch looks per second each channel may use (none: unbounded)."""
        self._late_window = late_window
        self._rate = dict(budget or {})
        self._tokens = {channel: _capacity(rate) for channel, rate in self._rate.items()}
        self._filled: dict[Channel, float] = {}

    @staticmethod
    def looking(record: CanaryRecord) -> bool:
        """Whether checks still look at ``record``: it has no verdict, or it is watched."""
        if record.verdict is None:
            return True
        if record.verdict not in WATCHED or record.late_at is not None:
            return False
        return record.verdict_at is not None and delivered_at(record) is None

    @staticmethod
    def pace(poll_interval: float, looks: int = 0) -> float:
        """How long a watched canary waits before its next look, after ``looks`` watch looks."""
        first = max(poll_interval * WATCH_FACTOR, MIN_WATCH_INTERVAL)
        return float(min(first * 2 ** min(looks, 32), max(first, MAX_WATCH_INTERVAL)))

    def may_look(self, channel: Channel, now: float) -> bool:
        """Take one watch look from ``channel``'s budget, if there is one left."""
        rate = self._rate.get(channel)
        if rate is None:
            return True
        self._refill(channel, rate, now)
        if self._tokens[channel] < 1.0:
            return False
        self._tokens[channel] -= 1.0
        return True

    def next_slot(self, channel: Channel, now: float) -> float:
        """When ``channel``'s budget has a look again."""
        rate = self._rate.get(channel)
        if not rate:
            return now
        return now + max(0.0, 1.0 - self._tokens.get(channel, 0.0)) / rate

    def _refill(self, channel: Channel, rate: float, now: float) -> None:
        last = self._filled.get(channel, now)
        self._tokens[channel] = min(_capacity(rate), self._tokens[channel] + (now - last) * rate)
        self._filled[channel] = now

    def over(self, record: CanaryRecord, now: float) -> bool:
        """Whether a resolved canary no longer needs watching (its window passed, or nothing to watch)."""
        if record.verdict in WATCHED and record.late_at is None:
            watched_until = (record.verdict_at or now) + self._late_window
            return now >= watched_until or not self.looking(record)
        return True

    def watched_until(self, record: CanaryRecord) -> float:
        """When a watched canary's watch ends."""
        return (record.verdict_at or record.created_at) + self._late_window


def watch_budget(routes: Iterable[Route]) -> dict[Channel, float]:
    """Watch looks per second per channel: :data:`WATCH_SHARE` of the channel's send rate."""
    rates: dict[Channel, float] = {}
    for route in routes:
        rates[route.channel] = rates.get(route.channel, 0.0) + 1.0 / route.interval
    return {channel: rate * WATCH_SHARE for channel, rate in rates.items()}


def _capacity(rate: float) -> float:
    """The most looks a channel's bucket holds."""
    return max(1.0, rate * BUCKET_SECONDS)
