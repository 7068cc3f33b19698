"""``python -m bench --smoke`` still works end to end: sandbox, floor and Kanari as processes over
loopback, one table, and a JSON summary with every figure. It asserts what was measured, never how fast.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import PER_CANARY_KINDS, SizeFigures
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
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for label in (
        "overhead ratio",
        "scheduler lag",
        "protocol minimum",
        "/metrics render",
        "ledger writes",
        "memory per in-flight canary",
        "requests per canary to readback",
    ):
        assert label in result.stdout

    summary = json.loads(out.read_text())
    (size,) = summary["sizes"]
    assert set(size) == {field.name for field in dataclasses.fields(SizeFigures)}
    assert size["routes"] == 714
    for name in (
        "rate",
        "kanari_cpu_per_canary",
        "floor_cpu_per_canary",
        "overhead_ratio",
        "protocol_minimum_per_canary",
        "requests_ratio",
        "scrape_seconds",
        "ledger_writes_per_canary",
    ):
        assert isinstance(size[name], float), name
        assert size[name] > 0, name
    assert set(size["requests_per_canary"]) == set(PER_CANARY_KINDS)
    assert {"portal", "altinn", "readback"} <= set(size["requests_by_upstream_per_canary"])
    assert size["scrape_series"] > 714 * 20  # every route's series are there
    # Healthy canaries on a healthy sandbox: nothing but deliveries.
    assert set(size["verdicts"]) == {"delivered"}
