"""Ledger files of every kind a probe can meet (older, newer, corrupt, another program's), places it
cannot write, and a snapshot to show that a file was left exactly as it was.

Unwritable places are made so by the kernel, not by patching: mode 0555/0444, and where that does not
bind (root ignores modes) the immutable attribute (``chattr +i``), which binds root too. A test skips
only where neither is possible.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from probe.ledger.lock import lock_path

# The tables as schema version 1 wrote them (before api_version, diagnostics and counters).
SCHEMA_1 = """
CREATE TABLE canaries (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, municipality TEXT NOT NULL, vendor TEXT NOT NULL, bydel TEXT,
    final_hop TEXT NOT NULL, created_at REAL NOT NULL, deadline_at REAL NOT NULL, state TEXT NOT NULL,
    upstream_id TEXT, unconfirmed INTEGER NOT NULL DEFAULT 0, marker TEXT NOT NULL, hop_accepted REAL,
    hop_forwarded REAL, hop_receipted REAL, hop_published REAL, hop_fetched REAL, hop_read REAL,
    hop_registered REAL, last_status TEXT, status_ok_at REAL, readback_ok_at REAL, verdict TEXT,
    verdict_at REAL, blamed_hop TEXT, blamed_owner TEXT, failure_reason TEXT, late_at REAL,
    duplicate INTEGER NOT NULL DEFAULT 0, cleaned_at REAL
);
CREATE TABLE archived_counts (
    metric TEXT NOT NULL, channel TEXT NOT NULL, municipality TEXT NOT NULL, vendor TEXT NOT NULL,
    label_a TEXT NOT NULL DEFAULT '', label_b TEXT NOT NULL DEFAULT '', value INTEGER NOT NULL,
    PRIMARY KEY (metric, channel, municipality, vendor, label_a, label_b)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO canaries (id, channel, municipality, vendor, final_hop, created_at, deadline_at, state, marker,
    verdict) VALUES ('old', 'portal', '4601', 'fjordsys', 'registered', 10, 910, 'closed', 'KANARI1.a.b',
    'delivered');
"""
# Not a database at all: what a mistyped path or a damaged disk leaves.
RANDOM_BYTES = bytes(range(256)) * 64
TEXT_FILE = b"instance: kanari\nledger: var/kanari.sqlite3\n"

Snapshot = dict[str, tuple[bytes, int]]


def sqlite_file(path: Path, script: str, *, wal: bool = False) -> Path:
    """An SQLite database at ``path`` made by ``script``; in WAL mode (as Kanari writes) with ``wal``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.executescript(script)
    finally:
        db.close()
    return path


def schema_1(path: Path, *, version: str = "1", archive: bool = True) -> Path:
    """A ledger as schema 1 wrote it, claiming ``version``; without its ``archive`` table, migrating it
    to schema 3 fails half way (after schema 2's columns were added)."""
    script = SCHEMA_1.replace("'schema_version', '1'", f"'schema_version', '{version}'")
    if not archive:
        start = script.index("CREATE TABLE archived_counts")
        script = script[:start] + script[script.index(");", start) + 2 :]
    return sqlite_file(path, script, wal=True)


def crashed_with_wal(path: Path, version: str) -> Path:
    """A WAL ledger claiming schema ``version`` whose last transaction is still in its ``-wal`` (its
    writer died before a checkpoint): closing a read-write connection to it would rewrite the main file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    source = path.with_name("writer.sqlite3")
    writer = sqlite3.connect(source, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.executescript(SCHEMA_1.replace("'schema_version', '1'", f"'schema_version', '{version}'"))
        # Copied while the writer still holds it: the -wal has frames the main file has not.
        for suffix in ("", "-wal", "-shm"):
            shutil.copy(f"{source}{suffix}", f"{path}{suffix}")
    finally:
        writer.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{source}{suffix}").unlink(missing_ok=True)
    assert Path(f"{path}-wal").stat().st_size > 0
    return path


def snapshot(path: Path) -> Snapshot:
    """Bytes and modification time of the ledger's content, ``path`` and its ``-wal`` where there is
    one, and the names of every file beside it (nothing may appear). The ``-shm`` is SQLite's index of
    the ``-wal`` in shared memory, which any reader rebuilds when it finds it stale: only its presence
    counts. The lock file (:mod:`probe.ledger.lock`) is left out: a refused read-write open has taken
    the lock before it found the problem, and the file stays for the next holder."""
    taken: Snapshot = {
        name: (candidate.read_bytes(), candidate.stat().st_mtime_ns)
        for name in (path.name, f"{path.name}-wal")
        if (candidate := path.with_name(name)).exists()
    }
    taken["(directory)"] = (
        "\n".join(sorted(p.name for p in path.parent.iterdir() if p != lock_path(path))).encode(),
        0,
    )
    return taken


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` (a file or a directory) not writable by this process for the duration; restored after."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    try:
        if os.access(path, os.W_OK):  # root: modes do not bind, the immutable attribute does
            chattr = shutil.which("chattr")
            if chattr is not None:
                result = subprocess.run([chattr, "+i", str(path)], check=False, capture_output=True)
                immutable = result.returncode == 0
            if os.access(path, os.W_OK):
                pytest.skip("no way to make a path unwritable for this user here (root without chattr)")
        yield
    finally:
        if immutable:
            subprocess.run([str(shutil.which("chattr")), "-i", str(path)], check=True)
        path.chmod(mode)
