"""One sender per SQLite ledger: the lock a read-write open holds, who it names, and when it goes."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.errors import LedgerLockedError, LedgerUnusableError
from probe.hops import Channel, Hop, Verdict
from probe.ledger.lock import LedgerLock, lock_path, reset
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State

# A process that holds the ledger's lock until it is killed, as a probe would.
HOLDER = """
import sys, time
from pathlib import Path
from probe.ledger.lock import LedgerLock
LedgerLock.acquire(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


def delivered(canary_id: str) -> CanaryRecord:
    return CanaryRecord(
        id=canary_id, channel=Channel.PORTAL, municipality="4601", vendor="fjordsys", bydel=None,
        final_hop=Hop.REGISTERED, created_at=100.0, deadline_at=1000.0, marker="KANARI1.a.b",
        state=State.CLOSED, verdict=Verdict.DELIVERED,
    )  # fmt: skip


def test_a_second_open_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    first = Ledger(path)
    try:
        with pytest.raises(LedgerLockedError) as raised:
            Ledger(path)
        since = first._lock.holder.since if first._lock else ""
        assert str(raised.value) == (
            f"cannot open ledger {path}: another Kanari probe holds it (pid {os.getpid()} on host "
            f"{socket.gethostname()} since {since}); one probe sends per ledger: stop that one first, or "
            "give this one a ledger of its own (two replicas with a standby need the PostgreSQL ledger)"
        )
        # The refused open wrote nothing: the first still works on its own.
        first.save([delivered("d1")])
    finally:
        first.close()


def test_the_lock_file_names_pid_host_and_start_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    moment = datetime.datetime(2026, 12, 1, 19, 30, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    held = LedgerLock.acquire(path, now=moment)
    try:
        assert json.loads(lock_path(path).read_text()) == {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": "2026-12-01T18:30:05Z",
        }
        assert (
            held.holder.describe()
            == f"pid {os.getpid()} on host {socket.gethostname()} since 2026-12-01T18:30:05Z"
        )
    finally:
        held.release()


def test_close_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    Ledger(path).close()
    again = Ledger(path)
    again.close()
    assert not (again._lock and again._lock.held)


def test_a_read_only_open_beside_a_running_probe_is_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    running = Ledger(path)
    try:
        running.save([delivered("d1")])
        reader = Ledger.open_read_only(path)
        try:
            assert [r.id for r in reader.newest_delivered()] == ["d1"]
        finally:
            reader.close()
    finally:
        running.close()


def test_a_lock_file_naming_nobody_is_still_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    held = LedgerLock.acquire(path)
    lock_path(path).write_text("")  # as if the holder had not written it yet
    try:
        with pytest.raises(LedgerLockedError, match=r"holds it \(its lock file does not name it yet\)"):
            LedgerLock.acquire(path)
    finally:
        held.release()


def test_a_lock_file_that_cannot_be_opened_is_an_unusable_ledger(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    lock_path(path).mkdir()  # a directory where the lock file goes
    with pytest.raises(LedgerUnusableError, match=r"its lock file .*kanari.sqlite3.lock cannot be opened"):
        LedgerLock.acquire(path)


@contextlib.contextmanager
def holder_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding the lock of ``path`` until the block ends, when it is SIGKILLed."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        try:
            assert process.stdout.readline() == "held\n"
            yield process
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    with holder_process(path) as process, pytest.raises(LedgerLockedError, match=f"pid {process.pid} on"):
        Ledger(path)
    assert lock_path(path).exists()  # the file stays, naming the dead process; the lock went with it
    ledger = Ledger(path)
    try:
        assert json.loads(lock_path(path).read_text())["pid"] == os.getpid()
    finally:
        ledger.close()


def test_reset_deletes_a_ledger_nobody_holds(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "kanari.sqlite3"
    path.parent.mkdir()
    Ledger(path).close()
    reset(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["kanari.sqlite3.lock"]


def test_reset_refuses_a_ledger_in_use_and_leaves_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "kanari.sqlite3"
    with holder_process(path) as process:
        path.write_bytes(b"in use")
        with pytest.raises(LedgerLockedError, match=f"pid {process.pid}"):
            reset(path)
        assert path.read_bytes() == b"in use"
