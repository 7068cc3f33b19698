"""``python -m bench.production``'s counting and figures: the parts of the week and their lengths, the
request tally by part, upstream and kind, the figures from a made-up observation, and a tiny week run
for real (four simulated hours on 6 routes) that gives every figure. Nothing here asserts a speed."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from bench.production import figures, main, parse
from bench.simulate import Observation, Sample, simulate
from bench.tally import RequestTally, status_id
from bench.week import DAY, FULL, HOUR, SMOKE, Cast, Plan
from bench.workload import KINDS
from probe.runtime import Runtime

BENCH = Path(__file__).resolve().parents[2] / "bench"
KEYS = {
    "status_reads_per_canary_portal",
    "status_reads_per_canary_portal_max",
    "status_reads_per_canary_altinn",
    "status_reads_per_canary_altinn_max",
    "requests_per_canary_healthy",
    "requests_per_canary_outage",
    "outage_load_ratio",
    "outage_load_ratio_altinn",
    "outage_load_ratio_readback",
    "detection_minutes_outage",
    "detection_bound_minutes",
    "rss_growth_7d_ratio",
    "rss_mb_samples",
    "open_canaries_samples",
    "open_canaries_max",
    "open_growth_7d_ratio",
    "cleanup_failures",
    "canaries_judged",
    "simulated_days",
    "wall_seconds",
    "notes",
}
TINY = Plan(
    days=4 / 24,
    outage_start=1.5 * HOUR,
    outage_end=3 * HOUR,
    steady_start=0.5 * HOUR,
    recovery=0.5 * HOUR,
    sample_every=HOUR,
    cast=Cast(down=("1576",), refusing=("1833",), others=("1130",)),
)


def test_the_bench_never_imports_the_tests() -> None:
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("tests"), path.name
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("tests") for alias in node.names), path.name


def test_the_parts_of_the_week_and_their_lengths() -> None:
    assert [FULL.period(hours * HOUR) for hours in (0, 47, 48, 71, 72, 95, 96, 101, 102, 167)] == [
        "warmup", "warmup", "healthy", "healthy", "outage", "outage", "recovery", "recovery",
        "healthy", "healthy",
    ]  # fmt: skip
    hours = {period: FULL.seconds_in(period) / HOUR for period in ("warmup", "healthy", "outage", "recovery")}
    assert hours == {"warmup": 48, "healthy": 90, "outage": 24, "recovery": 6}
    assert sum(hours.values()) * HOUR == FULL.length == 7 * DAY
    assert SMOKE.seconds_in("outage") == 6 * HOUR
    assert SMOKE.seconds_in("healthy") == 12 * HOUR
    assert len(SMOKE.cast.municipalities) == 5  # one per vendor
    assert len(FULL.cast.municipalities) == 10


def test_requests_are_counted_by_part_upstream_and_kind_and_status_reads_by_id() -> None:
    period = ["healthy"]
    tally = RequestTally(lambda: period[0], judged=lambda upstream_id: upstream_id == "report-1")
    status = "/fiks/bekymringsmelding/api/v2/mottak/fagsystem/org/bekymringsmelding/report-1/status"
    tally.count("portal", "GET", status)
    tally.count("portal", "GET", status)
    tally.count("altinn", "GET", "/altinn/correspondence/api/v1/correspondence/corr-1/details")
    tally.count("readback:vidde", "GET", "/vendors/vidde/kanari/v1/municipalities/1576/canaries")
    period[0] = "outage"
    tally.count("readback:kystdata", "DELETE", "/vendors/kystdata/kanari/v1/municipalities/1833/canaries/c1")
    tally.count("portal", "POST", "/fiks/bekymringsmelding/api/v2/mottak/fagsystem/org/1576/00/offentlig")
    assert tally.status_reads == {"report-1": 2, "corr-1": 1}
    assert tally.watch_reads == {("healthy", "portal"): 2}  # report-1's canary was already judged
    assert tally.total(["healthy"]) == 4
    assert tally.total(["healthy"], upstream="portal", kind="status") == 2
    assert tally.total(["healthy", "outage"], upstream="readback") == 2
    assert tally.total(["outage"], upstream="readback:kystdata", kind="cleanup") == 1
    assert tally.total(["outage"], kind="send") == 1
    assert status_id("/x/bekymringsmelding/abc/status") == "abc"


@pytest.mark.anyio
async def test_the_hook_sees_every_request_of_each_upstream() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[])

    clients = {
        key: httpx.AsyncClient(transport=httpx.MockTransport(answer)) for key in ("portal", "readback:a")
    }
    runtime = cast(
        Runtime, SimpleNamespace(upstreams={key: SimpleNamespace(client=c) for key, c in clients.items()})
    )
    tally = RequestTally(lambda: "healthy")
    tally.attach(runtime)
    await clients["portal"].get("http://ks/bekymringsmelding/r1/status")
    await clients["readback:a"].get("http://v/kanari/v1/municipalities/1576/canaries")
    for client in clients.values():
        await client.aclose()
    assert dict(tally.counts) == {
        ("healthy", "portal", "status"): 1,
        ("healthy", "readback:a", "readback"): 1,
    }


def _row(channel: str, municipality: str, verdict: str, at: float, upstream_id: str) -> dict[str, Any]:
    return {
        "id": upstream_id,
        "channel": channel,
        "municipality": municipality,
        "vendor": "x",
        "created_at": at - 600,
        "verdict": verdict,
        "verdict_at": at,
        "upstream_id": upstream_id,
    }


def test_figures_from_a_made_up_observation() -> None:
    start = 1000.0
    tally = RequestTally(lambda: "healthy")
    for upstream_id, reads in (("h1", 1), ("h2", 3), ("a1", 2), ("d1", 9)):
        for _ in range(reads):
            tally.counts[("healthy", "portal", "status")] += 1
            tally.status_reads[upstream_id] += 1
    tally.counts[("outage", "portal", "status")] = 36  # 24 h of outage against 90 h healthy
    tally.counts[("healthy", "portal", "send")] = 90
    healthy_at = start + 50 * HOUR
    observation = Observation(
        plan=FULL,
        start=start,
        tally=tally,
        samples=[Sample(0, 100, 0), Sample(48, 200, 40), Sample(168, 220, 44)],
        canaries=[
            _row("portal", "1101", "delivered", healthy_at, "h1"),
            _row("portal", "1122", "delivered", healthy_at, "h2"),
            _row("altinn", "1101", "delivered", healthy_at, "a1"),
            _row("portal", "1576", "delivered", healthy_at, "d1"),  # a route that went down: left out
            _row("portal", "1576", "lost", start + 72.5 * HOUR, "d2"),
            {**_row("portal", "1101", "", 0, "open"), "verdict": None, "verdict_at": None},
        ],
        cleanup_failures={"kystdata": 12.0, "fjordsys": 0.0},
        upstream_requests={"portal": 142, "readback:kystdata": 12},
        detection_bounds={"portal": 45 * 60.0},
        vendors={"1122": "kystdata", "1833": "kystdata"},
        log_lines={"kanari.engine WARNING": 3},
        wall_seconds=1.5,
    )
    result = figures(observation)
    assert set(result) >= KEYS
    assert result["status_reads_per_canary_portal"] == 2.0  # (1 + 3) / 2
    assert result["status_reads_per_canary_portal_max"] == 3.0
    assert result["status_reads_per_canary_altinn"] == 2.0
    assert result["requests_per_canary_healthy"]["send"] == 90 / 4
    assert set(result["requests_per_canary_healthy"]) == set(KINDS)
    assert result["requests_per_canary_outage"]["status"] == 36.0  # one canary judged in the outage
    assert result["outage_load_ratio"] == pytest.approx((36 / 24) / ((15 + 90) / 90))
    assert result["detection_minutes_outage"] == 30.0
    assert result["detection_bound_minutes"] == 45.0
    assert result["rss_growth_7d_ratio"] == 1.1
    assert result["open_growth_7d_ratio"] == 1.1
    assert result["open_canaries_max"] == 44
    assert result["cleanup_failures"] == 12.0
    assert result["canaries_judged"] == 5
    json.dumps(result)


def test_the_command_line() -> None:
    arguments = parse(["--work", "w", "--out", "o.json", "--smoke", "--cpu", "1"])
    assert (arguments.work, arguments.out, arguments.smoke, arguments.cpu) == (
        Path("w"),
        Path("o.json"),
        True,
        1,
    )
    with pytest.raises(SystemExit):
        main(["--out", "o.json"])


@pytest.mark.anyio
async def test_a_tiny_week_gives_every_figure(tmp_path: Path) -> None:
    observation = await simulate(tmp_path, TINY)
    result = figures(observation, smoke=True)
    assert set(result) >= KEYS
    for name in ("status_reads_per_canary_portal", "outage_load_ratio", "rss_growth_7d_ratio"):
        assert isinstance(result[name], float), name
        assert result[name] > 0, name
    assert result["requests_seen_by_hook_ratio"] == 1.0
    assert result["cleanup_failures"] > 0  # the refusing vendor's canaries are given up on
    assert result["cleanup_failures_by_vendor"]["kystdata"] == result["cleanup_failures"]
    assert 0 < result["detection_minutes_outage"] <= result["detection_bound_minutes"] + TINY.step / 60
    assert len(result["rss_mb_samples"]) == len(result["open_canaries_samples"]) == 5  # 0 h to 4 h
    assert result["canaries_judged"] > 0
    assert result["verdicts_by_period"]["healthy"] == {
        "delivered": result["verdicts_by_period"]["healthy"]["delivered"]
    }
    assert result["portal_requests_per_hour"]["outage"]["status_watch"] > 0  # lost canaries are watched
    assert "smoke" in result["notes"]
    assert sum(result["log_lines"].values()) >= result["cleanup_failures"]  # a line per abandoned cleanup
