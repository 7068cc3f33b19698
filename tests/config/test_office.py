"""``office_hours:`` (kanari.yaml and a municipality's own), ``channels.<ch>.learning:`` and a route's
``manual_hops``: what routes they give, and the errors that name the file, field and value."""

from __future__ import annotations

import datetime as dt

from probe.config.routes import Learning, Route
from probe.hops import Channel, Hop
from probe.office_time import Closure
from tests.config.conftest import ConfigDir


def routes(config: ConfigDir) -> dict[tuple[Channel, str], Route]:
    result = config.check()
    assert result.errors == [], [error.render() for error in result.errors]
    assert result.config is not None
    return {route.key: route for route in result.config.routes}


def test_by_default_routes_learn_and_people_work_office_hours(valid_config: ConfigDir) -> None:
    route = routes(valid_config)[(Channel.ALTINN, "4601")]
    assert route.office_hours is not None
    assert route.learning == Learning(
        quantile=1.0, margin=2.0, samples=500, min_samples=50, minimum=60.0, office_margin=1.25
    )
    assert route.office_hours.opens == dt.time(8)
    assert route.office_hours.closes == dt.time(15, 30)
    assert route.office_hours.weekdays == frozenset({1, 2, 3, 4, 5})
    assert route.office_hours.country == "NO"
    assert route.in_office_time(Hop.FETCHED)
    assert not routes(valid_config)[(Channel.PORTAL, "4601")].in_office_time(Hop.RECEIPTED)


def test_a_municipality_lays_its_own_hours_and_closures_over_kanari_yaml(valid_config: ConfigDir) -> None:
    with open(valid_config.path / "kanari.yaml", "a", encoding="utf-8") as settings:
        settings.write(
            "office_hours:\n  closes: '15:00'\n  closures: [{first: 2027-12-27, last: 2027-12-31}]\n"
        )
    with open(valid_config.path / "municipalities/4601-bergen.yaml", "a", encoding="utf-8") as bergen:
        bergen.write("office_hours:\n  opens: '09:00'\n  closures: [{first: 2027-07-05, last: 2027-07-30}]\n")
    valid_config.edit(
        "municipalities/4601-bergen.yaml", "  portal: {}", "  portal: {manual_hops: [registered]}"
    )
    office = routes(valid_config)[(Channel.ALTINN, "4601")].office_hours
    assert office is not None
    assert (office.opens, office.closes) == (dt.time(9), dt.time(15))
    assert office.closures == (
        Closure(dt.date(2027, 12, 27), dt.date(2027, 12, 31)),
        Closure(dt.date(2027, 7, 5), dt.date(2027, 7, 30)),
    )
    assert routes(valid_config)[(Channel.PORTAL, "4601")].in_office_time(Hop.REGISTERED)


def test_learning_null_keeps_the_configured_deadline(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "kanari.yaml", "    normal_latency: 10m\n", "    normal_latency: 10m\n    learning: null\n"
    )
    assert routes(valid_config)[(Channel.PORTAL, "4601")].learning is None
    assert routes(valid_config)[(Channel.ALTINN, "4601")].learning is not None


def test_office_hours_that_close_before_they_open_are_refused(valid_config: ConfigDir) -> None:
    with open(valid_config.path / "kanari.yaml", "a", encoding="utf-8") as settings:
        settings.write("office_hours:\n  opens: '16:00'\n")
    [problem] = valid_config.problems()
    assert problem.startswith("kanari.yaml:")
    assert "office_hours" in problem
    assert "closes (15:30:00) must be after opens (16:00:00)" in problem


def test_an_unknown_holiday_calendar_is_refused(valid_config: ConfigDir) -> None:
    with open(valid_config.path / "kanari.yaml", "a", encoding="utf-8") as settings:
        settings.write("office_hours:\n  holidays: XX\n")
    [problem] = valid_config.problems()
    assert "no public holiday calendar for 'XX'" in problem


def test_a_closure_that_ends_before_it_starts_is_refused(valid_config: ConfigDir) -> None:
    with open(valid_config.path / "municipalities/4601-bergen.yaml", "a", encoding="utf-8") as bergen:
        bergen.write("office_hours:\n  closures: [{first: 2027-07-30, last: 2027-07-05}]\n")
    [problem] = valid_config.problems()
    assert problem.startswith("municipalities/4601-bergen.yaml:")
    assert "office_hours.closures[0]" in problem
    assert "last (2027-07-05) is before first (2027-07-30)" in problem


def test_a_manual_hop_the_channel_does_not_have_is_refused(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "  portal: {}", "  portal: {manual_hops: [fetched]}")
    [problem] = valid_config.problems()
    assert problem == (
        "municipalities/4601-bergen.yaml:5: channels.portal.manual_hops: channel portal has no hop fetched "
        "(value: 'fetched'); fix: name hops of portal: accepted, forwarded, receipted, registered"
    )


def test_learning_needs_fewer_cold_samples_than_it_keeps(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "kanari.yaml",
        "    normal_latency: 10m\n",
        "    normal_latency: 10m\n    learning: {samples: 20, min_samples: 30}\n",
    )
    [problem] = valid_config.problems()
    assert problem.startswith("kanari.yaml:")
    assert "channels.portal.learning" in problem
    assert "min_samples (30) is more than samples (20)" in problem


def test_office_hours_null_puts_every_hop_on_the_wall_clock(valid_config: ConfigDir) -> None:
    with open(valid_config.path / "kanari.yaml", "a", encoding="utf-8") as settings:
        settings.write("office_hours: null\n")
    route = routes(valid_config)[(Channel.ALTINN, "4601")]
    assert route.office_hours is None
    assert not route.in_office_time(Hop.FETCHED)
