"""Hop delays of the simulated world, and the worst case a healthy route can show.

Each hop's delay is log-normal (most deliveries quick, a long right tail, as queue latencies are) around
its median, and every draw is capped at ``cap_factor`` x median (10x by default). The cap is what makes
the world *healthy-but-slow* distinguishable from *broken*: :func:`worst_case_latencies` adds up the caps
along each channel, and Kanari's deadlines are chosen above those sums, so a canary only misses its
deadline when a fault (or a real failure) held it up.

Every delay is divided by the speed factor. Draws come from one seeded :class:`random.Random`, so the same
seed and the same sequence of requests give the same timeline.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Literal

from probe.hops import Channel, Hop
from probe.sandbox.settings import DelaySettings, HopDelay, SandboxSettings

HopName = Literal[
    "ks_forward",
    "fiks_handover",
    "fagsystem_receipt",
    "ks_print",
    "altinn_ready",
    "altinn_publish",
    "municipality_read",
    "altinn_import",
]


class Delays:
    """Draws hop delays (already divided by the speed factor)."""

    def __init__(self, settings: DelaySettings, speed: float, rng: random.Random) -> None:
        self.settings = settings
        self.speed = speed
        self._rng = rng

    def hop(self, name: HopName) -> HopDelay:
        """The distribution of hop ``name``."""
        delay: HopDelay = getattr(self.settings, name)
        return delay

    def draw(self, name: HopName) -> float:
        """One delay of hop ``name``, in seconds of the world's clock."""
        delay = self.hop(name)
        value = delay.median * math.exp(delay.sigma * self._rng.gauss(0.0, 1.0))
        return min(value, delay.worst) / self.speed

    def worst(self, name: HopName) -> float:
        """The longest delay hop ``name`` can draw, in seconds of the world's clock."""
        return self.hop(name).worst / self.speed

    def scaled(self, seconds: float) -> float:
        """A fixed delay of the settings (``vendor_slow``, ``duplicate_gap``) divided by the speed."""
        return seconds / self.speed


def inbox_schedule(kommunenummer: str, settings: DelaySettings, speed: float) -> tuple[float, float]:
    """``(period, phase)`` in world seconds of the municipality's Altinn inbox poll.

    The municipality looks at its inbox at every instant ``phase + k x period`` (Unix time). Both come
    from the SHA-256 of the kommunenummer, so each municipality keeps its own rhythm across restarts and
    municipalities do not all poll at once.
    """
    digest = int.from_bytes(hashlib.sha256(f"kanari-inbox:{kommunenummer}".encode()).digest()[:8], "big")
    span = max(0.0, settings.inbox_poll_max - settings.inbox_poll_min)
    period = (settings.inbox_poll_min + span * ((digest % 1000) / 999)) / speed
    phase = period * (((digest >> 20) % 10_000) / 10_000)
    return period, phase


def next_poll(after: float, period: float, phase: float) -> float:
    """The first inbox poll at or after ``after``."""
    return phase + math.ceil((after - phase) / period) * period


def worst_case_latencies(settings: SandboxSettings) -> dict[Channel, dict[Hop, float]]:
    """For each channel, the longest time from sending to each hop that a route shows with no fault
    active, in seconds at the settings' speed. Choose each route's deadline above its final hop's value
    plus one poll interval.

    ``portal``: the fagsystem stores the report before it sends the receipt, so ``registered`` comes
    before ``receipted``. ``altinn``: ``fetched`` waits for the municipality's next inbox poll (at most
    ``inbox_poll_max``); ``read`` and ``registered`` follow the fetch independently.
    """
    delays = settings.delays
    speed = settings.speed
    forwarded = delays.ks_forward.worst
    registered = forwarded + delays.fiks_handover.worst
    receipted = registered + delays.fagsystem_receipt.worst
    published = delays.altinn_ready.worst + delays.altinn_publish.worst
    fetched = published + max(delays.inbox_poll_min, delays.inbox_poll_max)
    return {
        Channel.PORTAL: {
            Hop.ACCEPTED: 0.0,
            Hop.FORWARDED: forwarded / speed,
            Hop.REGISTERED: registered / speed,
            Hop.RECEIPTED: receipted / speed,
        },
        Channel.ALTINN: {
            Hop.ACCEPTED: 0.0,
            Hop.PUBLISHED: published / speed,
            Hop.FETCHED: fetched / speed,
            Hop.READ: (fetched + delays.municipality_read.worst) / speed,
            Hop.REGISTERED: (fetched + delays.altinn_import.worst) / speed,
        },
    }
