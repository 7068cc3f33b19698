"""Looking at a ledger's place before anything writes there, so every problem an operator can meet is
reported as one clear sentence (path, what is wrong, what to do) instead of an SQLite traceback, and a
ledger Kanari must not change is left exactly as it is.

Three uses, none of which writes unless it is meant to:

* :func:`prepare` (``kanari run``): create the directory, check that it and the file can be written,
  and look at what the file holds through a *read-only* connection: closing a read-write connection
  checkpoints the ``-wal`` into the main file, which would change a newer Kanari's ledger just by
  reading its version.
* :func:`connect_read_only` (``kanari status``): never creates a file or a directory.
* :func:`check_location` (``kanari config check``): the same questions, answered without creating or
  changing anything at all.

Writability is asked of the kernel with :func:`os.access`, which answers for permissions, read-only
file systems and immutable files alike, without creating a probe file.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from probe.errors import LedgerUnusableError
from probe.ledger.migrations import OLDEST_SCHEMA
from probe.ledger.rows import SCHEMA_VERSION

# What an operator can do about a file that is not a ledger of this Kanari.
_ELSEWHERE = "point `ledger` in kanari.yaml at the right file, or move this one away to start a new ledger"
_WRITABLE = "make it writable for that user, or set `ledger` in kanari.yaml to a writable place"
_SIDE_FILES = ("-wal", "-shm")


def _user() -> str:
    return f"this user (uid {os.geteuid()})"


def _side_file(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _is_file(path: Path, action: str) -> bool:
    """True if ``path`` is a file, False if there is nothing; a directory there is an error."""
    if path.is_dir():
        raise LedgerUnusableError(
            str(path),
            "it is a directory, not a file",
            f"set `ledger` in kanari.yaml to a file, e.g. {path / 'kanari.sqlite3'}",
            action=action,
        )
    return path.exists()


def _check_directory(directory: Path, path: Path) -> None:
    """``directory`` exists or can be created, and is writable; nothing is made here."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LedgerUnusableError(
            str(path),
            f"its directory {directory} cannot be created: {existing} is not a directory",
            "set `ledger` in kanari.yaml to a path under a directory",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        problem = (
            f"its directory {directory} is not writable by {_user()} (SQLite writes the ledger's -wal "
            "and -shm files beside it)"
            if existing == directory
            else f"its directory {directory} cannot be created: {existing} is not writable by {_user()}"
        )
        raise LedgerUnusableError(str(path), problem, _WRITABLE)


def _check_file_writable(path: Path) -> None:
    for candidate in (path, *(_side_file(path, suffix) for suffix in _SIDE_FILES)):
        if candidate.exists() and not os.access(candidate, os.R_OK | os.W_OK):
            what = "the file" if candidate == path else f"its {candidate.name}"
            raise LedgerUnusableError(str(path), f"{what} is not writable by {_user()}", _WRITABLE)


def connect_read_only(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection to the ledger at ``path``, and whether it sees every committed row.

    Without a ``-wal`` file no Kanari has the ledger open and every row is in the main file: it is
    opened ``immutable``, which reads it without creating the ``-wal`` and ``-shm`` files that a plain
    read-only open of a WAL database leaves behind. With a ``-wal`` the newest rows may be there, so it
    is read through them (``mode=ro``, which needs a usable ``-shm``); if SQLite cannot do that (a
    read-only directory without one), the main file alone is read and the second value is False: rows
    not yet checkpointed are then missing. A Kanari that starts writing while ``immutable`` reads can
    make that read fail; it is a read-only look, so trying again is enough.
    """
    try:
        return _connect_read_only(path)
    except OSError as error:
        raise _unreachable(path, error, "read") from None


def _connect_read_only(path: Path) -> tuple[sqlite3.Connection, bool]:
    if not _is_file(path, "read"):
        raise LedgerUnusableError(
            str(path),
            "there is no such file",
            "check `ledger` in kanari.yaml and --config (kanari run creates the ledger; status never does)",
            action="read",
        )
    if not os.access(path, os.R_OK):
        raise LedgerUnusableError(
            str(path),
            f"the file is not readable by {_user()}",
            "make it readable for that user",
            action="read",
        )
    uri = path.absolute().as_uri()
    if not _side_file(path, "-wal").exists():
        return _connect(f"{uri}?mode=ro&immutable=1"), True
    db = _connect(f"{uri}?mode=ro")
    try:
        db.execute("SELECT 1 FROM sqlite_master").fetchall()
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            db.close()
            return _connect(f"{uri}?mode=ro&immutable=1"), False
    except sqlite3.DatabaseError:
        pass  # not a database: :func:`read_schema` reports it in the ledger's words
    return db, True


def _connect(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    # A read waits for a checkpoint or WAL recovery by the running probe instead of failing at once.
    db.execute("PRAGMA busy_timeout=5000")
    return db


def read_schema(db: sqlite3.Connection, path: Path, *, action: str = "open") -> int | None:
    """The schema version of the ledger on ``db``, or ``None`` for an empty database (a new ledger);
    anything else there (not SQLite, another program's database, no readable version) is an error."""
    try:
        tables = sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    except sqlite3.DatabaseError as error:
        raise LedgerUnusableError(
            str(path), f"it is not a Kanari ledger ({error})", _ELSEWHERE, action=action
        ) from None
    if not tables:
        return None
    if "meta" not in tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise LedgerUnusableError(
            str(path),
            f"it is an SQLite database but not a Kanari ledger (no meta table; its tables: {shown})",
            _ELSEWHERE,
            action=action,
        )
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    value = row[0] if row is not None else None
    if not isinstance(value, str) or not value.strip().isdigit():
        raise LedgerUnusableError(
            str(path),
            f"it is not a Kanari ledger (its meta table has schema_version {value!r}, not a number)",
            _ELSEWHERE,
            action=action,
        )
    return int(value)


def check_schema(
    found: int | None, path: Path, *, migrating: bool, action: str = "open", whole: bool = True
) -> None:
    """Refuse a schema this Kanari must not use: newer (never touched), older than any migration, or,
    when not ``migrating`` (a read-only look), anything but a ledger of this schema; ``whole`` is False
    when that look could not read the ``-wal`` (:func:`connect_read_only`)."""
    if found == SCHEMA_VERSION or (found is None and migrating):
        return
    if found is None:
        unread = "" if whole else "; its -wal cannot be read without a -shm in a read-only directory"
        problem = f"it holds no ledger yet (an empty database{unread})"
        fix = "check `ledger` in kanari.yaml and --config; kanari run writes the ledger"
    elif found > SCHEMA_VERSION:
        problem = (
            f"it was written by a newer Kanari (schema {found}, this one knows {SCHEMA_VERSION}); "
            "refusing to touch it"
        )
        fix = "run the Kanari release that wrote it, or point `ledger` in kanari.yaml at another file"
    elif found < OLDEST_SCHEMA:
        problem = f"its schema {found} is older than any this Kanari migrates (schema {OLDEST_SCHEMA} on)"
        fix = "migrate it with an older Kanari release first, or move it away to start a new ledger"
    elif migrating:
        return
    else:
        problem = f"it has schema {found} and this Kanari reads schema {SCHEMA_VERSION}"
        fix = "start `kanari run` once: it migrates the ledger in one transaction"
    raise LedgerUnusableError(str(path), problem, fix, action=action)


def inspect(path: Path, *, migrating: bool = True, action: str = "open") -> int | None:
    """The schema of the ledger file at ``path`` (``None``: none yet), looked at read-only; an
    unusable file raises :class:`LedgerUnusableError`."""
    if not _is_file(path, action) or path.stat().st_size == 0:
        return None
    db, _ = connect_read_only(path)
    try:
        found = read_schema(db, path, action=action)
    except sqlite3.Error as error:
        # Past the first read (a meta table of another shape, a page that cannot be read).
        raise LedgerUnusableError(
            str(path), f"it is not a Kanari ledger ({error})", _ELSEWHERE, action=action
        ) from None
    finally:
        db.close()
    check_schema(found, path, migrating=migrating, action=action)
    return found


def prepare(path: Path) -> int | None:
    """Before ``kanari run`` opens ``path`` for writing: its directory created, it and the file
    writable, and the file (if any) a ledger of a schema this Kanari can use. Returns that schema."""
    try:
        _is_file(path, "open")
        _check_directory(path.parent, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_file_writable(path)
        return inspect(path)
    except OSError as error:
        raise _unreachable(path, error, "open") from None


def check_location(path: Path) -> int | None:
    """:func:`prepare`'s questions for ``kanari config check``, answered without creating or changing
    anything: the directory exists or can be created, and is writable; an existing file is writable and
    a ledger of a supported schema (returned; ``None`` when there is none yet)."""
    try:
        exists = _is_file(path, "open")
        _check_directory(path.parent, path)
        if not exists:
            return None
        _check_file_writable(path)
        return inspect(path)
    except OSError as error:
        raise _unreachable(path, error, "open") from None


def _unreachable(path: Path, error: OSError, action: str) -> LedgerUnusableError:
    """What the checks above could not even look at (e.g. a directory on the way not searchable)."""
    return LedgerUnusableError(
        str(path),
        f"it cannot be looked at ({error.strerror or error})",
        f"check that {_user()} can reach it through every directory on its path",
        action=action,
    )
