"""Hop delays of the simulated world, and the worst case a healthy route can show.

Each machine hop's delay is log-normal around its median with a heavier bounded tail, several times
slower on its party's slow days (:mod:`probe.sandbox.behaviour.latency`); every draw is capped at
``cap_factor`` x median (10x by default) times the slow-day factor. The cap is what makes the world
*healthy-but-slow* distinguishable from *broken*: :func:`worst_case_latencies` adds up the caps along each
channel. People fetch and read in office hours (:mod:`probe.sandbox.behaviour.people`).

Every delay is divided by the speed factor. Draws come from one seeded :class:`random.Random`, so the same
seed and the same sequence of requests give the same timeline; slow days are a function of the seed and
the date alone.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Literal

from probe.hops import Channel, Hop
from probe.office_time import OfficeHours
from probe.sandbox.behaviour import latency
from probe.sandbox.behaviour.latency import SlowDays
from probe.sandbox.behaviour.people import People, WorldCalendar
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
# Whose machines each hop runs on (``None``: a person's, or the vendor named at the draw).
VENDOR = "vendor"
PARTY: dict[HopName, str | None] = {
    "ks_forward": latency.KS,
    "fiks_handover": VENDOR,  # the fagsystem's Fiks IO consumer and its store
    "fagsystem_receipt": VENDOR,
    "ks_print": latency.KS,
    "altinn_ready": latency.DIGDIR,
    "altinn_publish": latency.DIGDIR,
    "municipality_read": None,
    "altinn_import": VENDOR,
}


class Delays:
    """Draws hop delays (already divided by the speed factor)."""

    def __init__(
        self,
        settings: DelaySettings,
        speed: float,
        rng: random.Random,
        *,
        seed: int | str = 1,
        calendar: WorldCalendar | None = None,
    ) -> None:
        self.settings = settings
        self.speed = speed
        self._rng = rng
        self.slow_days = SlowDays(settings.slow_days, seed)
        self.calendar = calendar

    def hop(self, name: HopName) -> HopDelay:
        """The distribution of hop ``name``."""
        delay: HopDelay = getattr(self.settings, name)
        return delay

    def draw(self, name: HopName, *, vendor: str | None = None, at: float | None = None) -> float:
        """One delay of hop ``name``, in seconds of the world's clock; at sandbox instant ``at`` (when
        given) slowed by its party's slow day (``vendor`` names the vendor of a vendor hop)."""
        value = latency.draw(self.hop(name), self._rng)
        party = PARTY[name]
        if party == VENDOR:
            party = vendor
        if party is not None and at is not None:
            world = self.calendar.world(at) if self.calendar is not None else at
            value *= self.slow_days.factor(party, world)
        return value / self.speed

    def worst(self, name: HopName) -> float:
        """The longest delay hop ``name`` can draw, in seconds of the world's clock."""
        factor = self.slow_days.worst if PARTY[name] is not None else 1.0
        return self.hop(name).worst * factor / self.speed

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


def worst_case_latencies(
    settings: SandboxSettings, start: float | None = None
) -> dict[Channel, dict[Hop, float]]:
    """For each channel, the longest time from sending to each hop that a route shows with no fault
    active, in seconds at the settings' speed. Choose each route's deadline above its final hop's value
    plus one poll interval (or learn it: the people's hops count in office time).

    ``portal``: the fagsystem stores the report before it sends the receipt, so ``registered`` comes
    before ``receipted``. ``altinn``: ``fetched`` waits for the municipality's next inbox poll (at most
    ``inbox_poll_max``) or, with people keeping office hours, for the longest closed stretch between two
    looks in the year after ``start`` (Easter); ``read`` and ``registered`` follow the fetch independently.
    """
    delays = settings.delays
    speed = settings.speed
    slow = SlowDays(delays.slow_days, settings.seed).worst
    forwarded = delays.ks_forward.worst * slow
    registered = forwarded + delays.fiks_handover.worst * slow
    receipted = registered + delays.fagsystem_receipt.worst * slow
    published = (delays.altinn_ready.worst + delays.altinn_publish.worst) * slow
    waiting = max(delays.inbox_poll_min, delays.inbox_poll_max)
    read = delays.municipality_read.worst
    if delays.people.enabled(speed) and start is not None:
        people = People(delays.people, OfficeHours(), settings.seed)
        calendar = WorldCalendar(people.office, start, speed, compressed=speed != 1)
        longest = people.longest_wait("0000", calendar.world(start)) + 2 * delays.people.jitter
        waiting = max(waiting, longest)
        # A read takes office time: at worst it waits for the office to open again, as the fetch did.
        read += longest
    fetched = published + waiting
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
            Hop.READ: (fetched + read) / speed,
            Hop.REGISTERED: (fetched + delays.altinn_import.worst * slow) / speed,
        },
    }
