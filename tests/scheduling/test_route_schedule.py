from __future__ import annotations

import itertools

from probe.config.routes import Route
from probe.hops import Channel, Hop
from probe.scheduling.route_schedule import RouteSchedule


def route(number: int, interval: float = 300.0, channel: Channel = Channel.PORTAL) -> Route:
    return Route(
        channel, f"{number:04d}", "X", "Y", "964338531", "v", None, interval, 900.0, 15.0, Hop.RECEIPTED
    )


def due(schedule: RouteSchedule, key: tuple[Channel, str]) -> float:
    """When ``key`` is next due; every route in these tests is scheduled."""
    when = schedule.due_of(key)
    assert when is not None
    return when


def test_routes_are_spread_evenly_over_the_interval() -> None:
    routes = [route(n) for n in range(1, 101)]
    schedule = RouteSchedule(routes, now=0.0, last_sent={})
    due_times = sorted(due(schedule, r.key) for r in routes)
    assert 0.0 <= due_times[0] < 3.0
    assert due_times[-1] < 300.0
    gaps = [b - a for a, b in itertools.pairwise(due_times)]
    assert max(gaps) < 6.0  # one slot is 3 s; jitter moves each start within its slot
    assert len(schedule.pop_due(299.999)) == 100
    assert schedule.pop_due(300.0 + due_times[0] - 0.001) == []


def test_each_route_repeats_every_interval_without_drift() -> None:
    schedule = RouteSchedule([route(1)], now=0.0, last_sent={})
    first = due(schedule, route(1).key)
    [(_, planned)] = schedule.pop_due(first + 0.7)  # a late tick
    assert planned == first
    assert schedule.due_of(route(1).key) == first + 300.0


def test_a_stalled_probe_does_not_burst_to_catch_up() -> None:
    schedule = RouteSchedule([route(1)], now=0.0, last_sent={})
    assert len(schedule.pop_due(10_000.0)) == 1
    assert schedule.due_of(route(1).key) == 10_300.0


def test_restart_resumes_one_interval_after_the_newest_canary_or_spreads_the_overdue() -> None:
    routes = [route(1), route(2)]
    last = {route(1).key: 1000.0, route(2).key: 500.0}
    schedule = RouteSchedule(routes, now=1100.0, last_sent=last)
    assert schedule.due_of(route(1).key) == 1300.0
    overdue = due(schedule, route(2).key)
    assert 1100.0 <= overdue < 1400.0
