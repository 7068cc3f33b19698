"""The status page benchmark runs on the production route set at production timing, measures every page
against its ledger reads alone and the loop's lag against the same loop idle, and writes JSON the
benchmark's table reads; ``python -m bench --smoke --only status`` runs it as a part of ``make bench``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import STATUS_PAGES, render_table, status_figures, summarise
from bench.status_page import BROKEN_EVERY, NOW, VENDORS, fill, main, routes, run
from probe.hops import Channel, Verdict
from probe.ledger.sqlite import Ledger
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # builds a ledger of 714 routes: seconds


def test_the_route_set_is_every_municipality_on_both_channels_at_production_timing() -> None:
    found = routes()
    assert len(found) == 714
    assert {route.interval for route in found if route.channel is Channel.PORTAL} == {900.0}
    assert {route.interval for route in found if route.channel is Channel.ALTINN} == {3600.0}
    assert {route.vendor for route in found} == set(VENDORS)


def test_the_history_has_the_canaries_and_incidents_the_probe_would_have_written(tmp_path: Path) -> None:
    all_routes = routes()
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        rows, incidents = fill(ledger, all_routes, 1.0, NOW)
        # 96 portal and 24 Altinn slots a day (less the last, still to come), one in flight each.
        assert rows == 357 * (95 + 23) + 714
        stored = ledger.incidents()
        assert len(stored) == incidents
        open_ones = ledger.incidents(open_only=True)
        broken = {all_routes[n].key for n in range(0, len(all_routes), BROKEN_EVERY)}
        # Every broken route has an open incident, and a route has one exactly when its newest verdict
        # is lost (a past incident's lost canary may be a route's newest too).
        verdicts = ledger.latest_verdicts()
        lost = {key for key, verdict in verdicts.items() if verdict is Verdict.LOST}
        assert broken <= lost
        assert {(i.channel, i.municipality) for i in open_ones} == lost
        # The window opens at the send time of the last canary delivered before the break.
        first = all_routes[0]
        incident = next(i for i in open_ones if (i.channel, i.municipality) == first.key)
        recent = ledger.recent_canaries(first.channel, first.kommunenummer, 20)
        delivered = [r.created_at for r in recent if r.verdict is Verdict.DELIVERED]
        assert incident.exposure_start == max(delivered)
        assert any(not i.open for i in stored)  # past incidents too (a lost canary every ten days)
    finally:
        ledger.close()


def test_a_short_run_measures_every_page_its_reads_and_the_loop() -> None:
    figures = run(days=0.05, repeat=2, lag_seconds=0.3)
    assert figures.routes == 714
    assert figures.rows >= 714
    assert set(figures.pages) == set(STATUS_PAGES)
    assert figures.pages["national"].size > 714 * 100  # every municipality's cell is on the page
    for name, page in figures.pages.items():
        assert 0 < page.page.median <= page.page.worst, name
        assert 0 < page.reads.median <= page.reads.worst, name
        assert page.ratio == page.page.median / page.reads.median
    loop = figures.loop
    assert loop.idle.wakes > 0
    assert loop.rendering.wakes > 0
    assert loop.renders >= 2  # at least the national and the vendor page, through the app
    assert 0 <= loop.rendering.p99 <= loop.rendering.worst


def test_out_writes_the_figures_the_table_reads_and_the_text_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "status.json"
    main(["--days", "0.05", "--repeat", "2", "--lag-seconds", "0.2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "national" in printed
    assert "loop lag, rendering" in printed
    raw = json.loads(out.read_text())
    figures = status_figures(raw)
    for name in STATUS_PAGES:
        assert figures[f"status_{name}_ms"] == raw["pages"][name]["page"]["median"]
        assert figures[f"status_over_reads_ratio_{name}"] == pytest.approx(raw["ratios"][name])
    assert figures["status_loop_lag_p99_ms"] == raw["loop"]["rendering"]["p99"]
    assert figures["status_loop_lag_idle_p99_ms"] == raw["loop"]["idle"]["p99"]
    table = render_table(summarise({"status": raw}), {"status": raw})
    for key in ("status_national_ms", "status_vendor_ms", "status_municipality_ms", "status_loop_lag_p99_ms"):
        assert key in table
    assert "page/reads" in table
    assert "idle: p99" in table


@pytest.mark.parametrize("bad", [["--days", "0"], ["--repeat", "0"], ["--lag-seconds", "-1"]])
def test_bad_arguments_are_a_usage_error(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(bad)
    assert stopped.value.code == 2
    assert "--days and --lag-seconds must be positive and --repeat at least 1" in capsys.readouterr().err


def test_the_status_part_of_the_smoke_bench_takes_seconds_and_fills_the_table(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--only", "status", "--work", str(tmp_path / "work"),
         "--out", str(out)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(out.read_text())
    for key in ("status_national_ms", "status_vendor_ms", "status_municipality_ms", "status_loop_lag_p99_ms"):
        assert isinstance(summary[key], float), key
        assert key in result.stdout
    assert summary["raw"]["status"]["days"] == summary["plan"]["status_days"]
    assert summary["elapsed_seconds"] < 60  # a few seconds of smoke (generous for a busy machine)
