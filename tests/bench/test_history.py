"""The synthetic ledger (:mod:`bench.history`) on tiny sizes: what it writes is a ledger the probe opens
and resumes, on the routes it was given, and its options keep what they promise (the open set, the
counters, the newest canaries). Never how fast."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from bench.history import DAY, END, build, excerpt, routes_like
from bench.outcomes import ODDS
from bench.ticks import routes
from probe.clock import FakeClock
from probe.engine.core import Engine
from probe.hops import Hop, Verdict
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import State
from tests.engine.kit import SETTINGS, VERIFIER, factory, metrics
from tests.ledger.reference import answers, expected
from tests.ledger_view import all_records

HOUR = 3600.0


def _ids(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT id FROM canaries ORDER BY rowid")]
    finally:
        db.close()


def test_a_history_of_a_probes_routes_is_one_its_engine_resumes(tmp_path: Path) -> None:
    configured = routes(40)
    history = build(tmp_path / "ledger.sqlite3", routes=routes_like(configured), days=1)
    assert [route.key for route in history.routes] == [route.key for route in configured]
    assert {route.final for route in history.routes} == {Hop.REGISTERED, Hop.FETCHED}
    ledger = Ledger(history.path)
    try:
        rows = all_records(ledger)
        assert len(rows) == history.rows == 40 * 96
        assert answers(ledger) == expected(rows)  # counters and route_latest say what the rows say
        metric_set, _ = metrics()
        engine = Engine(
            routes=configured,
            clock=FakeClock(END),
            ledger=ledger,
            metrics=metric_set,
            adapters={},
            readback={},
            factory=factory(),
            verifier=VERIFIER,
            poll_settings=SETTINGS,
        )
        engine.start()
        open_ids = {record.id for record in rows if record.state is not State.CLOSED}
        assert set(engine.canaries.records) == open_ids
        # Every route has its newest canary in flight and resumes one interval after it.
        in_flight = {record.route_key for record in rows if record.state is State.IN_FLIGHT}
        assert in_flight == {route.key for route in configured}
        assert all(END <= (engine.schedule.due_of(route.key) or 0) < END + 900 for route in configured)
    finally:
        ledger.close()


def test_an_excerpt_keeps_what_a_start_reads_and_only_the_newest_closed_rows(tmp_path: Path) -> None:
    whole = build(tmp_path / "whole.sqlite3", routes=12, days=1, counted_days=5)
    short = excerpt(whole, tmp_path / "short.sqlite3", closed_days=2 * HOUR / DAY)
    assert short.rows < whole.rows / 5
    full, cut = Ledger(whole.path), Ledger(short.path)
    try:
        # Open canaries, counters, versions, newest delivered: what a start reads (not the history the
        # status page reads, which an excerpt cuts on purpose).
        assert dataclasses.replace(answers(cut), recent={}, verdicts={}) == dataclasses.replace(
            answers(full), recent={}, verdicts={}
        )
        kept = all_records(cut)
        assert len(kept) == short.rows
        named = {record.id for record in cut.newest_delivered()} | {
            records[-1].id for records in cut.latest_per_route().values()
        }
        assert all(
            r.state is not State.CLOSED or r.created_at >= END - 2 * HOUR or r.id in named for r in kept
        )
        assert [r.created_at for r in kept] == sorted(r.created_at for r in kept)  # in creation order
    finally:
        full.close()
        cut.close()


def test_counted_days_add_closed_canaries_at_their_odds_to_the_counters(tmp_path: Path) -> None:
    days = build(tmp_path / "one.sqlite3", routes=4, days=1)
    counted = build(tmp_path / "counted.sqlite3", routes=4, days=1, counted_days=11)
    one, more = Ledger(days.path), Ledger(counted.path)
    try:
        before, after = one.counts(), more.counts()
        assert counted.rows == days.rows  # the rows are those of one day
        assert one.open_records() == more.open_records()
        older = 10 * 96
        for route in days.routes:
            key = (route.channel.value, route.municipality, route.vendor)
            assert after[("sent", *key, "", "")] == before[("sent", *key, "", "")] + older
            assert after[("duplicates", *key, "", "")] >= round(older * ODDS["duplicate"] / 1000)
            assert after[("late_arrivals", *key, "", "")] >= round(older * ODDS["late"] / 1000)
    finally:
        one.close()
        more.close()


def test_ids_are_unique_random_or_in_creation_order(tmp_path: Path) -> None:
    shuffled = _ids(build(tmp_path / "random.sqlite3", routes=6, days=1).path)
    ordered = _ids(build(tmp_path / "ordered.sqlite3", routes=6, days=1, ordered_ids=True).path)
    for ids in (shuffled, ordered):
        assert len(set(ids)) == len(ids) == 6 * 96
        assert all(len(canary_id) == 36 and canary_id[14] == "4" for canary_id in ids)
    assert ordered == sorted(ordered)
    assert shuffled != sorted(shuffled)


def test_the_same_arguments_write_the_same_ledger(tmp_path: Path) -> None:
    first = build(tmp_path / "a.sqlite3", routes=4, days=1, seed=3)
    second = build(tmp_path / "b.sqlite3", routes=4, days=1, seed=3)
    other = build(tmp_path / "c.sqlite3", routes=4, days=1, seed=4)
    assert all_records(first.path) == all_records(second.path)
    assert _ids(first.path) != _ids(other.path)


def test_a_routes_final_hop_decides_its_hops_and_whether_a_canary_awaits_cleanup(tmp_path: Path) -> None:
    configured = list(routes(4))
    configured[2] = dataclasses.replace(configured[2], final_hop=Hop.RECEIPTED)  # portal/0001
    history = build(tmp_path / "ledger.sqlite3", routes=routes_like(configured), days=1)
    rows = all_records(history.path)
    by_route = {route.key: [r for r in rows if r.route_key == route.key] for route in configured}
    for route in configured:
        delivered = [r for r in by_route[route.key] if r.verdict is Verdict.DELIVERED]
        assert delivered
        assert all((Hop.REGISTERED in r.hops) == (route.final_hop is Hop.REGISTERED) for r in delivered)
        awaiting = [r for r in delivered if r.state is State.RESOLVED]
        assert len(awaiting) <= 1
        if route.final_hop is not Hop.REGISTERED:
            assert awaiting == []  # nothing to clean up: closed at once
