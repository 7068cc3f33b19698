"""``kanari demo`` (the main job behind ``make run``) on all 357 municipalities: every one of the 714
routes delivers, and ``kanari_canaries_resolved_total{verdict="delivered"}`` rises for each."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.e2e.processes import environment

pytestmark = pytest.mark.slow


def delivered(url: str) -> dict[tuple[str, str], float]:
    counts = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
        for sample in family.samples:
            if sample.name == "kanari_canaries_resolved_total" and sample.labels["verdict"] == "delivered":
                counts[(sample.labels["channel"], sample.labels["municipality"])] = sample.value
    return counts


def test_demo_delivers_on_all_714_routes(tmp_path: Path) -> None:
    # A copy of the demo configuration, so the demo's state (keys, ledger) goes under tmp_path.
    shutil.copytree(ROOT / "config" / "sandbox", tmp_path / "config" / "sandbox")
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        command = [sys.executable, "-m", "probe", "demo", "--config", str(tmp_path / "config" / "sandbox")]
        command += ["--listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0"]
        command += ["--interval", "20", "--speed", "600"]
        demo = subprocess.Popen(command, cwd=ROOT, env=environment(), stdout=output, stderr=subprocess.STDOUT)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            found = re.search(r"^metrics\s+(\S+)", log.read_text(), re.MULTILINE)
            url = found.group(1) if found else None
            time.sleep(0.2)
        assert url, log.read_text()
        first: dict[tuple[str, str], float] = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            counts = delivered(url)
            if len(counts) == 714 and all(value >= 1 for value in counts.values()):
                first = counts
                break
            time.sleep(2)
        assert first, (
            f"routes without a delivery: {sorted(k for k, v in delivered(url).items() if v < 1)[:20]}"
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = delivered(url)
            if all(counts[route] > first[route] for route in first):
                break
            time.sleep(2)
        rising = [route for route in first if counts[route] > first[route]]
        assert len(rising) == 714, f"{714 - len(rising)} routes did not deliver again"
        text = httpx.get(url).text
        assert 'verdict="lost"} 0.0' in text
        lost = [line for line in text.splitlines() if 'verdict="lost"}' in line and not line.endswith(" 0.0")]
        assert lost == [], lost[:5]
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            assert demo.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            if demo.poll() is None:
                demo.kill()
