"""Machine latencies: the long tail stays bounded, slow days are seeded and deterministic."""

from __future__ import annotations

import datetime as dt
import math
import random
import zoneinfo

from probe.sandbox.behaviour.latency import KS, SlowDays, draw
from probe.sandbox.settings import HopDelay, SlowDaySettings


def test_the_tail_is_heavier_than_the_body_and_bounded() -> None:
    plain = HopDelay(median=10, sigma=0.5)
    tailed = HopDelay(median=10, sigma=0.5, tail_share=0.05, tail_alpha=1.2)
    rng = random.Random(3)
    body = sorted(draw(plain, rng) for _ in range(20_000))
    tail = sorted(draw(tailed, rng) for _ in range(20_000))
    assert max(tail) <= tailed.worst
    assert max(body) <= plain.worst
    assert tail[-200] > 1.5 * body[-200]  # the 99th percentile is much further out
    assert 9 < tail[10_000] < 11.5  # the median barely moves
    assert sum(1 for value in tail if value == tailed.worst) < 200  # the cap is rarely reached


def test_a_hop_without_a_tail_draws_the_sequence_it_always_drew() -> None:
    delay = HopDelay(median=5, sigma=0.5)
    rng, reference = random.Random(7), random.Random(7)
    for _ in range(100):
        expected = min(5 * math.exp(0.5 * reference.gauss(0.0, 1.0)), delay.worst)
        assert draw(delay, rng) == expected


def test_slow_days_are_deterministic_rare_and_within_the_factors() -> None:
    settings = SlowDaySettings(share=0.05, factor_min=2, factor_max=4)
    first, second, other = SlowDays(settings, 1), SlowDays(settings, 1), SlowDays(settings, 2)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(2000)]
    factors = [first.factor_on(KS, day) for day in days]
    assert factors == [second.factor_on(KS, day) for day in days]
    assert factors != [other.factor_on(KS, day) for day in days]
    slow = [factor for factor in factors if factor != 1.0]
    assert 50 < len(slow) < 160  # about 5 % of the days
    assert all(2 <= factor <= 4 for factor in slow)
    # Parties have their own slow days.
    assert factors != [first.factor_on("fjordsys", day) for day in days]
    assert first.worst == 4


def test_a_slow_day_lasts_the_whole_local_day() -> None:
    days = SlowDays(SlowDaySettings(share=0.5), 1)
    day = next(
        d for n in range(100) if days.factor_on(KS, d := dt.date(2026, 3, 1) + dt.timedelta(days=n)) > 1
    )
    zone = zoneinfo.ZoneInfo("Europe/Oslo")
    morning = dt.datetime.combine(day, dt.time(0, 5), tzinfo=zone).timestamp()
    evening = dt.datetime.combine(day, dt.time(23, 55), tzinfo=zone).timestamp()
    assert days.factor(KS, morning) == days.factor(KS, evening) == days.factor_on(KS, day)


def test_no_slow_days_when_the_share_is_zero() -> None:
    days = SlowDays(SlowDaySettings(share=0), 1)
    assert days.factor_on(KS, dt.date(2026, 5, 5)) == 1.0
    assert days.worst == 1.0
