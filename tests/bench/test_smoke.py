"""``python -m bench --smoke`` still works end to end: every part as its own processes (the sandbox, the
floors and Kanari over loopback, the scale and production parts in process), one table, and a JSON summary
with every figure. It asserts that the run was honest (the same routes on every side, every request
counted and of a known kind, no floor canary failing), never how fast anything was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import FLOORS, PER_CANARY_KINDS, REQUIRED
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_smoke_bench_prints_the_table_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--work", str(tmp_path / "work"), "--out", str(out)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(out.read_text())
    for key in REQUIRED:
        assert isinstance(summary[key], int | float), key
        assert key in result.stdout  # the table names every figure
    assert "NOT HONEST" not in result.stdout
    assert summary["honesty_problems"] == []

    cpu = summary["raw"]["cpu"]
    assert set(cpu) == {"kanari", *FLOORS}
    assert len({run["routes_digest"] for run in cpu.values()}) == 1  # the same routes on every side
    assert {run["routes"] for run in cpu.values()} == {714}
    for name, run in cpu.items():
        assert run["started"] > 0, name
        assert run["requests"].get("other", 0) == 0, name
        assert run["requests"]["send"] > 0, name
    kanari = cpu["kanari"]
    assert sum(kanari["requests"].values()) == sum(kanari["upstreams"].values())
    assert {"portal", "altinn", "readback"} <= set(kanari["upstreams"])
    for counts in summary["requests_per_canary"].values():
        assert set(counts) == set(PER_CANARY_KINDS)
    assert set(summary["breakdown_ms_per_canary"]) == {
        "content", "http_minimal", "httpx_over_h11", "ledger", "engine_and_metrics",
    }  # fmt: skip
    # Healthy canaries on a healthy sandbox: nothing but deliveries.
    assert set(kanari["ledger"]["verdicts"]) <= {"delivered"}
    assert summary["raw"]["large"]["scrape"]["scrapes"] >= 1  # /metrics was scraped during the run
    # The status part: every page against its reads, the loop's lag against the same loop idle.
    assert summary["raw"]["status"]["routes"] == 714
    assert summary["status_loop_lag_idle_p99_ms"] >= 0
    assert summary["status_over_reads_ratio_national"] > 0
