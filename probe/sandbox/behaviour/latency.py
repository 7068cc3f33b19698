"""Machine latencies: a log-normal body, a heavier bounded tail, and seeded slow days.

A queue's latency is mostly quick with a long right tail (log-normal); now and then a draw is much
slower (a retry, a pause, a batch that waited), which a Pareto factor on a small share of the draws
models; every draw stays under the hop's cap, so *healthy but slow* stays distinguishable from *broken*.
On a slow day one party's machines (KS, Digdir's Altinn or one vendor) take 2-4 times as long all day;
which days are slow is a pure function of the seed, the party and the date, so a run is reproducible
and the calendar does not depend on how many draws came before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
import zoneinfo

from probe.clock import NORWAY
from probe.sandbox.settings import HopDelay, SlowDaySettings

# The parties whose machines have slow days (vendors by their id).
KS, DIGDIR = "ks", "digdir"
_SCALE = float(1 << 53)


def draw(delay: HopDelay, rng: random.Random) -> float:
    """One delay of ``delay`` at speed 1, in seconds, at most :attr:`HopDelay.worst`.

    The tail's extra draw is only made for hops that have a tail, so a hop without one draws exactly the
    sequence it drew before tails existed (a seed keeps its timeline)."""
    value = delay.median * math.exp(delay.sigma * rng.gauss(0.0, 1.0))
    if delay.tail_share > 0 and rng.random() < delay.tail_share:
        value *= rng.paretovariate(delay.tail_alpha)
    return min(value, delay.worst)


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) from ``parts`` (SHA-256: stable across runs and platforms)."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / _SCALE


class SlowDays:
    """Which days a party is slow on, and how slow (a factor of 1 on ordinary days)."""

    def __init__(self, settings: SlowDaySettings, seed: int | str, zone: str = NORWAY) -> None:
        self.settings = settings
        self._seed = seed
        self._zone = zoneinfo.ZoneInfo(zone)

    def factor_on(self, party: str, date: dt.date) -> float:
        """How many times slower ``party``'s machines are on ``date``."""
        settings = self.settings
        if settings.share <= 0 or unit("slow", self._seed, party, date.isoformat()) >= settings.share:
            return 1.0
        spread = settings.factor_max - settings.factor_min
        return settings.factor_min + spread * unit("factor", self._seed, party, date.isoformat())

    def factor(self, party: str, instant: float) -> float:
        """How many times slower ``party``'s machines are on the local date of ``instant`` (world time)."""
        return self.factor_on(party, dt.datetime.fromtimestamp(instant, tz=self._zone).date())

    @property
    def worst(self) -> float:
        """The largest factor a day can have."""
        return self.settings.factor_max if self.settings.share > 0 else 1.0
