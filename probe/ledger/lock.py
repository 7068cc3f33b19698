"""One sender per SQLite ledger: an exclusive lock held for as long as a probe has the ledger open.

Two probes on one ledger both resume its open canaries and both send: every route probed twice, every
``sum()`` doubled. So the read-write open of a ledger (:class:`probe.ledger.sqlite.Ledger`) first takes
an exclusive, non-blocking :func:`fcntl.flock` on a side file, ``<ledger>.lock``, and holds it until the
ledger is closed; a second probe is refused before it has written or sent anything, with a
:class:`~probe.errors.LedgerLockedError` naming the holder, which the lock file records (pid, host and
since when, one JSON object).

Why this lock and not another:

* ``flock`` belongs to the open file, so the kernel releases it when the process ends, however it
  ends: a lock file left by a killed probe is only a file, and the next probe takes the lock and
  rewrites it. A pid file checked by hand would have to guess whether its pid is still that probe.
* Not POSIX ``fcntl`` record locks: a process loses those as soon as it closes *any* descriptor of the
  file, which SQLite and a reader in the same process would do.
* Not SQLite's ``locking_mode=EXCLUSIVE``: it also shuts out the read-only connections of ``kanari
  status`` (and the probe's own pruning connection), which must keep working beside a running probe.
* A side file rather than the database file itself, so that deleting or replacing the ledger (``kanari
  demo`` starts from an empty one) never drops the lock of whoever holds it.

``flock`` is local to one host's kernel (over NFS Linux maps it onto the server's byte-range locks);
SQLite itself needs a local file system, and two replicas on separate hosts need the PostgreSQL ledger
and its lease instead (docs/operations.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import fcntl
import json
import os
import socket
from pathlib import Path

from probe.errors import LedgerLockedError, LedgerUnusableError

LOCK_SUFFIX = ".lock"


def lock_path(ledger: Path) -> Path:
    """The lock file of the ledger at ``ledger``."""
    return ledger.with_name(ledger.name + LOCK_SUFFIX)


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds a ledger: process id, host name and when it took the lock (UTC, ISO 8601)."""

    pid: int
    host: str
    since: str

    def describe(self) -> str:
        """``pid 123 on host a since 2026-12-01T18:00:00Z``."""
        return f"pid {self.pid} on host {self.host} since {self.since}"


def _read_holder(path: Path) -> Holder | None:
    """The holder a lock file names, or None when it names none (being written, or not ours)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["host"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class LedgerLock:
    """The held lock of one ledger; :meth:`release` (or process exit) gives it up."""

    def __init__(self, ledger: Path, descriptor: int, holder: Holder) -> None:
        self.ledger = ledger
        self.holder = holder
        self._descriptor: int | None = descriptor

    @classmethod
    def acquire(cls, ledger: Path, *, now: datetime.datetime | None = None) -> LedgerLock:
        """Take the lock of the ledger at ``ledger`` (its directory must exist), or raise
        :class:`LedgerLockedError` naming the process that holds it. Never waits."""
        path = lock_path(ledger)
        try:
            # O_CLOEXEC: a child process (none today) must not inherit and outlive the lock.
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise LedgerUnusableError(
                str(ledger),
                f"its lock file {path} cannot be opened ({error.strerror or error})",
                "make the ledger's directory writable for this user",
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LedgerUnusableError(
                    str(ledger),
                    f"its lock file {path} cannot be locked ({error.strerror or error})",
                    "put the ledger on a local file system",
                ) from None
            holder = _read_holder(path)
            raise LedgerLockedError(str(ledger), holder.describe() if holder else None) from None
        moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
        holder = Holder(os.getpid(), socket.gethostname(), moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        try:
            # Rewritten in place: the descriptor (and so the lock) stays the same file.
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps(dataclasses.asdict(holder)).encode() + b"\n", 0)
        except OSError as error:
            os.close(descriptor)
            raise LedgerUnusableError(
                str(ledger),
                f"its lock file {path} cannot be written ({error.strerror or error})",
                "free space on the ledger's file system",
            ) from None
        return cls(ledger, descriptor, holder)

    @property
    def held(self) -> bool:
        """True until :meth:`release`."""
        return self._descriptor is not None

    def release(self) -> None:
        """Give the lock up (the file stays: removing it could race with the next holder)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def reset(ledger: Path) -> None:
    """Delete the ledger at ``ledger`` and its ``-wal``/``-shm`` (``kanari demo`` starts empty), under
    its lock: a ledger another probe holds is refused with :class:`LedgerLockedError`, never deleted.

    The lock is given up again afterwards, and the probe's own open takes it anew; a probe that takes it
    in between finds an empty ledger (nothing lost), and then this one is refused at its open."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    held = LedgerLock.acquire(ledger)
    try:
        for suffix in ("", "-wal", "-shm", "-journal"):
            ledger.with_name(ledger.name + suffix).unlink(missing_ok=True)
    finally:
        held.release()
