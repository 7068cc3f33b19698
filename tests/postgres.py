"""A real PostgreSQL server for the tests, started by them: Debian's ``postgresql`` binaries, a cluster
in a temporary directory, a Unix socket only (no TCP port at all), password authentication as a
deployment would have it.

PostgreSQL refuses to run as root: under root (CI, containers) the cluster's directory is given to the
``postgres`` user and every server command runs as that user through ``runuser``. A missing PostgreSQL
fails the test that needs it with what to install, never skips it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROLE = "kanari"
ROLE_PASSWORD = "kanari-test-password"  # a test cluster's, on a socket only this machine reaches
_SUPERUSER_PASSWORD = "superuser-test-password"
_names = itertools.count(1)


def binaries() -> Path:
    """The newest installed PostgreSQL's ``bin`` directory."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): the PostgreSQL ledger's "
            "tests need it; install Debian's package: apt-get install -y postgresql",
            pytrace=False,
        )
    return found[-1].parent


class Cluster:
    """A running PostgreSQL cluster on a Unix socket in its own directory."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="kanari-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.socket_dir.mkdir()
        self.port = 5432  # only names the socket file: listen_addresses is empty
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o755)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        """``initdb`` (password authentication everywhere), then ``pg_ctl start``, waiting until it runs."""
        password_file = self.root / "superuser-password"
        password_file.write_text(_SUPERUSER_PASSWORD)
        if self._as_postgres:
            owner = pwd.getpwnam("postgres")
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                  f"--pwfile={password_file}", "--no-sync")  # fmt: skip
        password_file.unlink()
        options = f"-c listen_addresses='' -c unix_socket_directories={self.socket_dir} -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.root / "server.log"), "start")  # fmt: skip
        with self.admin() as db:
            db.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PASSWORD}'")

    def stop(self) -> None:
        """``pg_ctl stop`` (fast), then the directory removed."""
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str, user: str = ROLE) -> str:
        """A libpq connection string to ``database`` (no password: that goes apart)."""
        return f"host={self.socket_dir} port={self.port} dbname={database} user={user}"

    @contextlib.contextmanager
    def admin(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A superuser connection (autocommit)."""
        with psycopg.connect(
            self.dsn("postgres", "postgres"), password=_SUPERUSER_PASSWORD, autocommit=True
        ) as db:
            yield db

    def database(self) -> str:
        """A new, empty database owned by the test role: one ledger."""
        name = f"ledger_{os.getpid()}_{next(_names)}"
        with self.admin() as db:
            db.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return name

    def log(self) -> str:
        """The server's log (for a failing test's message)."""
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A started cluster until the block ends."""
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
