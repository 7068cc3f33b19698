"""Delay distributions, their caps, the speed factor, inbox schedules and the worst-case latencies."""

from __future__ import annotations

import random

import pytest

from probe.clock import FakeClock
from probe.hops import Channel, Hop
from probe.sandbox.delays import Delays, inbox_schedule, next_poll, worst_case_latencies
from probe.sandbox.settings import DelaySettings, SandboxSettings

DAY = 86_400.0


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
    # Up to four times the cap on the party's slow days.
    assert fast.worst("ks_forward") == settings.ks_forward.worst * 4 / 60
    assert fast.worst("municipality_read") == settings.municipality_read.worst / 60
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
    # The caps along each channel, four times over for the machines' slow days.
    worst = worst_case_latencies(SandboxSettings())
    assert worst[Channel.PORTAL] == {
        Hop.ACCEPTED: 0,
        Hop.FORWARDED: 200,
        Hop.REGISTERED: 520,
        Hop.RECEIPTED: 600,
    }
    assert worst[Channel.ALTINN][Hop.PUBLISHED] == 200
    assert worst[Channel.ALTINN][Hop.FETCHED] == 2000
    assert worst[Channel.ALTINN][Hop.READ] == 3800
    assert worst[Channel.ALTINN][Hop.REGISTERED] == 3200
    fast = worst_case_latencies(SandboxSettings(speed=60))
    assert fast[Channel.ALTINN][Hop.FETCHED] == pytest.approx(2000 / 60)


def test_worst_case_fetch_waits_for_the_office_when_people_keep_hours() -> None:
    # From New Year's Day 2026: the longest closed stretch of the year is Easter (Wednesday afternoon to
    # Tuesday morning), days rather than the inbox poll's half hour.
    worst = worst_case_latencies(SandboxSettings(), FakeClock().now())
    assert 5 * DAY < worst[Channel.ALTINN][Hop.FETCHED] < 6.5 * DAY
    assert worst[Channel.PORTAL][Hop.RECEIPTED] == 600
