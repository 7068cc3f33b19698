"""The alert pipeline watches itself: a dead probe, a stuck scheduler and a silent Prometheus are each
caught — by no replica leading (target down or absent), the stale heartbeat and the KanariWatchdog dead
man's switch."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.test_alerting import HEARTBEAT, JOB, OPS, TIMING, world
from tests.waiting import holds_for, wait_for

pytestmark = pytest.mark.slow


def test_a_dead_probe_pages_the_operations_centre(tmp_path: Path) -> None:
    with world(tmp_path) as (_stack, sinks, _):
        wait_for(lambda: bool(sinks.received(HEARTBEAT, alertname="KanariWatchdog")), 60, "the Watchdog")
        [probe_pid] = [
            int(pid) for pid in os.listdir("/proc") if pid.isdigit()
            and "probe" in _cmdline(pid) and "run" in _cmdline(pid) and str(tmp_path) in _cmdline(pid)
        ]  # fmt: skip
        os.kill(probe_pid, signal.SIGKILL)
        wait_for(lambda: bool(sinks.received(OPS, alertname="KanariProbeDown")), 90, "ProbeDown")
        [page, *_] = sinks.received(OPS, alertname="KanariProbeDown")
        assert page.labels["owner"] == "ops"
        assert page.labels["severity"] == "critical"


def test_a_stuck_scheduler_is_caught_by_the_heartbeat_while_the_target_is_up(tmp_path: Path) -> None:
    wrapper = [sys.executable, str(ROOT / "tests" / "e2e" / "stalled_probe.py")]
    os.environ["STALL_AFTER"] = "12"
    try:
        with world(tmp_path, probe_command=wrapper) as (stack, sinks, _):
            wait_for(lambda: bool(sinks.received(OPS, alertname="KanariHeartbeatStale")), 120,
                     "HeartbeatStale")  # fmt: skip
            up = stack.query(f'up{{job="{JOB}"}}')["data"]["result"]
            assert up
            assert up[0]["value"][1] == "1"  # the process answers; only its scheduler is stuck
            # Every scrape since Prometheus started, and how long each took: what to read if it was down.
            scrapes = stack.query(f'up{{job="{JOB}"}}[10m]')["data"]["result"]
            durations = stack.query(f'scrape_duration_seconds{{job="{JOB}"}}[10m]')["data"]["result"]
            assert sinks.received(alertname="KanariProbeDown") == [], (scrapes, durations)
    finally:
        del os.environ["STALL_AFTER"]


def test_the_watchdog_keeps_arriving_and_stops_when_prometheus_goes_silent(tmp_path: Path) -> None:
    with world(tmp_path) as (stack, sinks, _):
        wait_for(lambda: len(sinks.received(HEARTBEAT, alertname="KanariWatchdog")) >= 2, 90, "two Watchdogs")
        stack.prometheus.send_signal(signal.SIGKILL)
        stack.prometheus.wait(timeout=10)
        # Alertmanager resolves the Watchdog when the last endsAt Prometheus sent passes (four resend
        # delays: 4 s here) and tells the heartbeat receiver so; after that nothing is queued for it.
        wait_for(
            lambda: sinks.received(HEARTBEAT, status="resolved", alertname="KanariWatchdog"),
            60,
            "the Watchdog's resolution",
        )
        before = len(sinks.received(HEARTBEAT, alertname="KanariWatchdog"))
        # The dead man's switch outside (the heartbeat receiver) now hears nothing for longer than the
        # heartbeat route ever stays quiet while the Watchdog fires: that is its alarm.
        quiet = TIMING.scaled(TIMING.heartbeat_repeat_interval + TIMING.heartbeat_group_interval)
        holds_for(
            lambda: len(sinks.received(HEARTBEAT, alertname="KanariWatchdog")) == before,
            quiet,
            "the heartbeat receiver's silence",
        )
        assert len(sinks.received(HEARTBEAT, alertname="KanariWatchdog")) == before


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
