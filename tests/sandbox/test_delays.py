"""Delay distributions, their caps, the speed factor, inbox schedules and the worst-case latencies."""

from __future__ import annotations

import random

import pytest

from probe.hops import Channel, Hop
from probe.sandbox.delays import Delays, inbox_schedule, next_poll, worst_case_latencies
from probe.sandbox.settings import DelaySettings, SandboxSettings


def test_draws_are_capped_and_scaled_by_speed() -> None:
    settings = DelaySettings()
    slow, fast = Delays(settings, 1.0, random.Random(1)), Delays(settings, 60.0, random.Random(1))
    draws = [slow.draw("ks_forward") for _ in range(5000)]
    assert max(draws) <= settings.ks_forward.worst
    assert min(draws) > 0
    assert 4 < sorted(draws)[len(draws) // 2] < 6  # the median is the median
    assert fast.draw("ks_forward") == pytest.approx(
        Delays(settings, 1.0, random.Random(1)).draw("ks_forward") / 60
    )
    assert fast.worst("ks_forward") == settings.ks_forward.worst / 60
    assert fast.scaled(3600) == 60


def test_same_seed_same_draws() -> None:
    first = Delays(DelaySettings(), 1.0, random.Random("seed"))
    second = Delays(DelaySettings(), 1.0, random.Random("seed"))
    assert [first.draw("fiks_handover") for _ in range(10)] == [
        second.draw("fiks_handover") for _ in range(10)
    ]


def test_inbox_schedules_differ_per_municipality_and_stay_in_range() -> None:
    settings = DelaySettings()
    periods = set()
    for number in ("0301", "4601", "5001", "1103", "1580", "3101"):
        period, phase = inbox_schedule(number, settings, 1.0)
        assert settings.inbox_poll_min <= period <= settings.inbox_poll_max
        assert 0 <= phase < period
        periods.add(period)
        assert inbox_schedule(number, settings, 60.0) == pytest.approx((period / 60, phase / 60))
    assert len(periods) > 1


def test_next_poll() -> None:
    assert next_poll(1000.0, 300.0, 100.0) == 1000.0
    assert next_poll(1000.5, 300.0, 100.0) == 1300.0
    assert next_poll(99.0, 300.0, 100.0) == 100.0


def test_worst_case_latencies() -> None:
    worst = worst_case_latencies(SandboxSettings())
    assert worst[Channel.PORTAL] == {
        Hop.ACCEPTED: 0,
        Hop.FORWARDED: 50,
        Hop.REGISTERED: 130,
        Hop.RECEIPTED: 150,
    }
    assert worst[Channel.ALTINN][Hop.PUBLISHED] == 50
    assert worst[Channel.ALTINN][Hop.FETCHED] == 1850
    assert worst[Channel.ALTINN][Hop.READ] == 3650
    assert worst[Channel.ALTINN][Hop.REGISTERED] == 2150
    fast = worst_case_latencies(SandboxSettings(speed=60))
    assert fast[Channel.ALTINN][Hop.FETCHED] == pytest.approx(1850 / 60)
