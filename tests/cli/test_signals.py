"""Signals to ``kanari run``, as an operator and a container runtime send them, with a read-back API that
accepts the connection and never answers: SIGTERM stops within a bound whatever the upstreams do, a
second SIGTERM stops at once, and SIGHUP is logged and ignored (the runbook says to restart)."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from probe.runtime import SHUTDOWN_GRACE
from tests.conftest import ROOT
from tests.e2e.processes import environment, fast_timing, sandbox_process, write_probe_config
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

# The HTTP surface stops within uvicorn's 5 s, then network work gets SHUTDOWN_GRACE; the rest is
# process start-up and exit.
STOP_BOUND = SHUTDOWN_GRACE + 5 + 5


class SilentServer:
    """Accepts connections on loopback, reads what comes, and never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._socket.accept()
                self.connections.append(connection)

    def close(self) -> None:
        self._socket.close()
        for connection in self.connections:
            connection.close()


@contextlib.contextmanager
def probe_with_a_silent_readback(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], SilentServer, Path]]:
    silent = SilentServer()
    with sandbox_process(tmp_path / "sandbox") as manifest:
        settings = fast_timing("2s", "4s", "8s", "4s")
        settings["readback"]["timeout"] = "60s"  # the request deadline must not be what ends it
        config = write_probe_config(tmp_path / "config", manifest, ["4601"], settings=settings)
        vendors = yaml.safe_load((config / "vendors.yaml").read_text(encoding="utf-8"))
        for vendor in vendors["vendors"]:
            if vendor["id"] == "nordlys":
                vendor["readback"]["base_url"] = silent.url
        (config / "vendors.yaml").write_text(yaml.safe_dump(vendors, sort_keys=False), encoding="utf-8")
        log = tmp_path / "probe.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "probe", "run", "--config", str(config)],
                cwd=ROOT, env=environment(), stdout=output, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        try:
            wait_for(lambda: silent.connections, 60, "a read-back request in flight", explain=log.read_text)
            yield process, silent, log
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            silent.close()


def test_sigterm_stops_within_the_bound_while_a_request_hangs(tmp_path: Path) -> None:
    with probe_with_a_silent_readback(tmp_path) as (process, _, log):
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=STOP_BOUND + 30)
        took = time.monotonic() - began
        assert code == 0, log.read_text()
        assert took < STOP_BOUND, f"stopped after {took:.1f} s"
        assert "cancelled" in log.read_text()  # it says what it gave up on
        assert "Traceback" not in log.read_text()


def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    with probe_with_a_silent_readback(tmp_path) as (process, _, log):
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutting down" in log.read_text(), 10, "the first signal's log line")
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        assert time.monotonic() - began < 3
        assert code == 128 + signal.SIGTERM, log.read_text()
        assert "stopping now" in log.read_text()


def test_sighup_is_logged_and_ignored(tmp_path: Path) -> None:
    with probe_with_a_silent_readback(tmp_path) as (process, _, log):
        process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: "SIGHUP ignored" in log.read_text(), 10, "the SIGHUP log line", explain=log.read_text
        )
        # Still probing: the scheduler keeps ticking after the signal.
        url = wait_for(lambda: re.findall(r"metrics at (\S+)", log.read_text()), 10, "the metrics URL")[0]
        first = heartbeat(url)
        wait_for(lambda: heartbeat(url) > first, 10, "a tick after SIGHUP")
        assert process.poll() is None


def heartbeat(url: str) -> float:
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith("kanari_heartbeat_timestamp_seconds "):
            return float(line.split()[1])
    return 0.0
