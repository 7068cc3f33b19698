"""The soak's fault plan: seeded, non-overlapping per municipality, pinned to Friday afternoons and
Easter eves, and searchable by instant."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest

from probe.office_time import OfficeHours
from probe.sandbox.faults import FaultName
from soak.plan import (
    BLAME,
    DAY,
    HOUR,
    SIGNALS,
    FaultPlan,
    Lengths,
    PlannedFault,
    Target,
    draw_plan,
    easter_eves,
    friday_afternoons,
)

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
START = dt.datetime(2026, 3, 2, tzinfo=OSLO).timestamp()
END = START + 8 * 7 * DAY
TARGETS = [Target("0301", True), Target("1122", True), Target("1130", False), Target("1146", True)]
KINDS = (*BLAME, *SIGNALS)


def local(instant: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(instant, tz=OSLO)


def test_the_plan_is_seeded_and_never_overlaps_on_a_municipality() -> None:
    plan = draw_plan(TARGETS, KINDS, 3, START, END, seed=5)
    again = draw_plan(TARGETS, KINDS, 3, START, END, seed=5)
    assert plan.faults == again.faults
    assert plan.faults != draw_plan(TARGETS, KINDS, 3, START, END, seed=6).faults
    assert len(plan.faults) == 3 * len(KINDS)
    for target in TARGETS:
        faults = plan.of(target.kommunenummer)
        for earlier, later in itertools.pairwise(faults):
            assert earlier.end + Lengths().settle <= later.start


def test_faults_needing_read_back_avoid_vendors_without_it() -> None:
    plan = draw_plan(TARGETS, KINDS, 3, START, END, seed=5)
    for fault in plan.of("1130"):
        assert fault.name not in {FaultName.VENDOR_RECEIPT_WITHOUT_STORE, FaultName.VENDOR_DUPLICATE}


def test_lengths_are_bounded_wall_or_office_time() -> None:
    plan = draw_plan(TARGETS, KINDS, 3, START, END, seed=5)
    office = OfficeHours()
    for fault in plan.faults:
        if fault.name is FaultName.MUNICIPALITY_NEVER_FETCHES:
            assert 8 * HOUR - 1 <= office.elapsed(fault.start, fault.end) <= 24 * HOUR + 1
        elif fault.name is FaultName.PORTAL_STALL:
            assert HOUR <= fault.end - fault.start <= 12 * HOUR


def test_faults_strike_on_friday_afternoons_and_easter_eves() -> None:
    plan = draw_plan(TARGETS, KINDS, 10, START, END, seed=5)
    moments = {fault.moment for fault in plan.faults}
    assert moments == {"random", "friday", "easter"}
    for fault in plan.faults:
        when = local(fault.start)
        if fault.moment == "friday":
            assert when.isoweekday() == 5
            assert 13 <= when.hour <= 15
        if fault.moment == "easter":
            assert when.date() in {dt.date(2026, 4, 1), dt.date(2026, 4, 4)}


def test_fridays_and_easter_eves() -> None:
    fridays = friday_afternoons(START, START + 14 * DAY)
    assert [local(f) for f in fridays] == [
        dt.datetime(2026, 3, 6, 14, tzinfo=OSLO),
        dt.datetime(2026, 3, 13, 14, tzinfo=OSLO),
    ]
    assert [local(e).date() for e in easter_eves(START, END)] == [dt.date(2026, 4, 1), dt.date(2026, 4, 4)]


def test_the_plan_answers_by_municipality_and_instant() -> None:
    stall = PlannedFault(0, FaultName.PORTAL_STALL, "0301", 100.0, 200.0)
    plan = FaultPlan([stall, PlannedFault(1, FaultName.RATELIMIT, "0301", 300.0, 400.0)])
    assert plan.at("0301", 99.0) is None
    assert plan.at("0301", 100.0) is stall
    assert plan.at("0301", 200.0) is None
    assert plan.at("4601", 150.0) is None
    assert plan.active(FaultName.RATELIMIT, "0301", 350.0)
    assert not plan.active(FaultName.RATELIMIT, "0301", 150.0)
    assert plan.free_from([FaultName.PORTAL_STALL], "0301", 150.0) == 200.0
    assert plan.free_from([FaultName.VENDOR_DOWN], "0301", 150.0) == 150.0


def test_a_plan_that_cannot_fit_says_so() -> None:
    with pytest.raises(ValueError, match="no room"):
        draw_plan(TARGETS[:1], KINDS, 50, START, START + 10 * DAY, seed=1)
