"""The watch for late arrivals: who is still looked at, how often, and until when."""

from __future__ import annotations

import dataclasses

import pytest

from probe.engine.watch import MIN_WATCH_INTERVAL, WATCH_FACTOR, Watch, watch_budget
from probe.hops import Channel, Hop, Verdict
from probe.lifecycle.record import CanaryRecord, State
from tests.engine.kit import START, record, route

WINDOW = 3600.0


def judged(verdict: Verdict, **hops: float) -> CanaryRecord:
    canary = record(hops={Hop.ACCEPTED: START + 1, **{Hop(name): at for name, at in hops.items()}})
    canary.state, canary.verdict, canary.verdict_at = State.RESOLVED, verdict, START + 300
    return canary


def test_an_open_canary_is_looked_at_and_a_lost_or_unknown_one_is_watched() -> None:
    watch = Watch(WINDOW)
    assert watch.looking(record())
    assert watch.looking(judged(Verdict.LOST))
    assert watch.looking(judged(Verdict.UNKNOWN))
    assert not watch.looking(judged(Verdict.DELIVERED))
    assert not watch.looking(judged(Verdict.FAILED))
    arrived = judged(Verdict.LOST, forwarded=START + 2, receipted=START + 3, registered=START + 400)
    assert not watch.looking(arrived)  # it turned up: nothing left to see
    late = judged(Verdict.LOST)
    late.late_at = START + 500
    assert not watch.looking(late)


def test_the_watch_runs_at_four_polls_but_never_more_than_once_a_minute() -> None:
    assert Watch.pace(15.0) == MIN_WATCH_INTERVAL
    assert Watch.pace(60.0) == 60.0 * WATCH_FACTOR


def test_the_watch_is_over_when_its_window_has_passed_or_there_is_nothing_to_watch() -> None:
    watch = Watch(WINDOW)
    lost = judged(Verdict.LOST)
    assert not watch.over(lost, START + 300 + WINDOW - 1)
    assert watch.over(lost, START + 300 + WINDOW)
    assert watch.over(judged(Verdict.DELIVERED), START + 301)
    arrived = judged(Verdict.UNKNOWN, forwarded=START + 2, receipted=START + 3, registered=START + 400)
    assert watch.over(arrived, START + 401)


def test_a_channel_of_few_routes_gets_half_its_send_rate_in_watch_looks_and_no_more() -> None:
    # Ten routes every 15 minutes: 40 sends an hour, so 20 watch looks an hour, however long an outage.
    routes = [dataclasses.replace(route(kommunenummer=f"{n:04d}"), interval=900.0) for n in range(1, 11)]
    budget = watch_budget(routes)
    assert budget[Channel.PORTAL] == pytest.approx(10 / 900 * 0.5)
    watch = Watch(late_window=86400.0, budget=budget)
    looks = sum(watch.may_look(Channel.PORTAL, float(second)) for second in range(0, 86400, 10))
    assert looks == pytest.approx(24 * 20, abs=2)  # the bucket starts with one look
