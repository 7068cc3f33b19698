"""One sender per SQLite ledger, as an operator meets it: a second ``kanari run`` or ``kanari demo`` on a
ledger in use exits 2 naming the holder, before it sends anything; the lock goes with the first."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from probe.hops import Channel
from probe.ledger.lock import lock_path
from tests.conftest import ROOT
from tests.e2e.processes import environment, fast_timing, kanari, sandbox_process, write_probe_config
from tests.e2e.test_crash import metrics_url, sandbox_registrations
from tests.ledger_view import all_records
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

INTERVAL = 3.0
FAST = fast_timing(f"{INTERVAL:g}s", "6s", "12s", "4s")
MUNICIPALITIES = ["4601"]  # nordlys: its read-back shows every portal canary that arrived


def start(arguments: list[str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "probe", *arguments],
            cwd=cwd,
            env=environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, log.read_text()


def holder_named(pid: int) -> str:
    return f"another Kanari probe holds it (pid {pid} on host {socket.gethostname()} since "


def test_a_second_run_on_the_same_ledger_exits_2_naming_the_holder_and_sends_nothing(tmp_path: Path) -> None:
    log = tmp_path / "first.log"
    with sandbox_process(tmp_path / "sandbox") as manifest:
        config = write_probe_config(tmp_path / "config", manifest, MUNICIPALITIES, settings=FAST)
        ledger = config / "kanari.sqlite3"
        first = start(["run", "--config", str(config)], log)
        try:
            metrics_url(log, runs_before=0)
            wait_for(
                lambda: len(all_records(ledger)) >= 2, 30, "the first probe's canaries", explain=log.read_text
            )

            second = kanari("run", "--config", str(config), "--listen", "127.0.0.1:0", timeout=60)
            assert second.returncode == 2, second.stderr
            assert second.stderr.startswith(
                f"kanari run: cannot open ledger {ledger}: {holder_named(first.pid)}"
            )
            assert "kanari: probing" not in second.stdout  # refused before the engine or HTTP started

            # The first goes on alone: a few more intervals, then stopped.
            sent = len(all_records(ledger))
            wait_for(lambda: len(all_records(ledger)) >= sent + 3, 30, "more canaries from the first")
        finally:
            stop(first, log)

        # Lock released with the first: a new probe on the ledger starts.
        again_log = tmp_path / "again.log"
        again = start(["run", "--config", str(config)], again_log)
        try:
            metrics_url(again_log, runs_before=0)
        finally:
            stop(again, again_log)

        records = all_records(ledger)
        # Nothing from the refused probe: the sandbox holds exactly the ledger's canaries, once each,
        # and each route's canaries are one interval apart (two senders resuming one ledger both send
        # at the route's next due time, a fraction of a second apart).
        registered = sandbox_registrations(manifest, "nordlys", "4601")
        assert len(registered) == len(set(registered))
        assert set(registered) <= {record.id for record in records}
        for channel in Channel:
            created = [record.created_at for record in records if record.channel is channel]
            assert len(created) >= 3, channel
            gaps = [later - earlier for earlier, later in itertools.pairwise(created)]
            assert min(gaps) >= 0.9 * INTERVAL, (channel, gaps)


def test_a_second_demo_on_the_same_state_is_refused_and_deletes_nothing(tmp_path: Path) -> None:
    state, log = tmp_path / "state", tmp_path / "demo.log"
    arguments = [
        "demo",
        "--state-dir",
        str(state),
        "--listen",
        "127.0.0.1:0",
        "--sandbox-listen",
        "127.0.0.1:0",
    ]
    arguments += ["--municipalities", "4601", "--interval", "2", "--speed", "600"]
    first = start(arguments, log, cwd=tmp_path)
    try:
        wait_for(lambda: "metrics " in log.read_text(), 60, "the first demo", explain=log.read_text)
        [ledger] = list(state.rglob("*.sqlite3"))
        wait_for(
            lambda: len(all_records(ledger)) >= 2, 30, "the first demo's canaries", explain=log.read_text
        )
        before = {record.id for record in all_records(ledger)}

        second = subprocess.run(
            [sys.executable, "-m", "probe", *arguments],
            cwd=tmp_path, env=environment(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert second.returncode == 2, second.stderr
        # Its last line (the sandbox it started first logs before it): the refusal, naming the holder.
        refusal = second.stderr.splitlines()[-1]
        assert refusal.startswith(f"kanari demo: cannot open ledger {ledger}: {holder_named(first.pid)}")
        # The first demo's ledger was not deleted under it: its canaries are still there, and it goes on.
        assert before <= {record.id for record in all_records(ledger)}
        wait_for(lambda: len(all_records(ledger)) > len(before), 30, "the first demo going on")
    finally:
        stop(first, log)
    assert lock_path(ledger).exists()
    assert os.path.getsize(ledger) > 0
