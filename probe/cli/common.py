"""Helpers shared by the commands: loading a configuration, opening the ledger to read it, and running
until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from probe.cli.logformat import tell
from probe.config.loader import KanariConfig, load_config
from probe.errors import InvalidConfigError, KanariError
from probe.ledger.postgres import PostgresLedger, PostgresTarget
from probe.ledger.sqlite import Ledger

DEFAULT_CONFIG = Path("config")

log = logging.getLogger("kanari")


class UsageError(KanariError):
    """A command was given arguments it cannot use (exit code 2)."""


def add_config_argument(parser: argparse.ArgumentParser, default: Path = DEFAULT_CONFIG) -> None:
    """``--config DIR``."""
    parser.add_argument(
        "--config", type=Path, default=default, help=f"configuration directory (default: {default})"
    )


def load_or_explain(
    directory: Path, overrides: Mapping[str, Any] | None = None, *, secrets: bool = True
) -> KanariConfig | None:
    """Load the configuration, or print every problem to stderr and return ``None``.

    ``secrets=False`` is for the commands that only read the ledger (``kanari status``, ``incidents``,
    ``evidence``): no secret or key file is read or required, so they run on a host (or in a shell)
    that does not hold the probe's credentials, except the one secret reading needs, the PostgreSQL
    ledger's ``password`` when one is configured."""
    try:
        config = load_config(directory, overrides=overrides, with_secrets=secrets)
        if not secrets:
            _resolve_ledger_password(config)
    except InvalidConfigError as error:
        problems = [problem.render() for problem in error.errors]
        lines = "".join(f"\n  {problem}" for problem in problems)
        tell(f"configuration in {directory} is not valid:{lines}", level=logging.ERROR, problems=problems)
        return None
    except KanariError as error:
        tell(f"configuration in {directory} is not usable: {error}", level=logging.ERROR)
        return None
    for warning in config.warnings:
        tell(f"warning: {warning}")
    return config


def _resolve_ledger_password(config: KanariConfig) -> None:
    """Read the PostgreSQL ledger's password (the only secret a reader needs); a
    :class:`KanariError` naming the field and its source (never the value) if it cannot be read."""
    postgres = config.settings.ledger_postgres
    if postgres is None or postgres.password is None:
        return
    try:
        postgres.password.resolve(config.directory, os.environ)
    except LookupError as error:
        raise KanariError(f"ledger_postgres.password: {error}") from None


LedgerReader = Ledger | PostgresLedger


def open_ledger_read_only(config: KanariConfig, holder: str) -> LedgerReader:
    """The configured ledger, for reading only: SQLite opened read-only (a wrong path is an error naming
    it, never a new ledger; a read-only file or directory is fine), or the PostgreSQL database the
    replicas share, creating nothing and holding no lease (any write would be refused). ``holder``
    names the command in PostgreSQL's connection list (``kanari-status``). Raises
    :class:`~probe.errors.LedgerError` naming what is wrong."""
    postgres = config.settings.ledger_postgres
    if postgres is None:
        return Ledger.open_read_only(config.path(config.settings.ledger))
    target = PostgresTarget(
        postgres.dsn, postgres.password.value() if postgres.password else None, postgres.lease
    )
    return PostgresLedger(target, holder=holder, epoch=lambda: None, create=False)


def warn_if_incomplete(ledger: LedgerReader) -> None:
    """Warn on stderr when a SQLite ledger's ``-wal`` could not be read: the newest rows may be missing."""
    if isinstance(ledger, Ledger) and not ledger.complete:
        print(
            f"warning: {ledger.path}-wal could not be read (no usable -shm in a read-only directory): "
            "the newest verdicts may be missing",
            file=sys.stderr,
        )


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``main(stop)`` in a new event loop until it returns.

    SIGINT or SIGTERM sets ``stop`` for a clean shutdown (bounded: see :meth:`Engine.shutdown`); a
    second one stops at once, leaving what was not yet recorded to be resumed at the next start (exit
    128 + the signal's number). SIGHUP is logged and ignored: the configuration is read only at start,
    so a changed configuration takes a restart (docs/runbooks.md).
    """
    second: list[int] = []

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        main_task = asyncio.current_task()

        def stop_requested(signum: signal.Signals) -> None:
            if not stop.is_set():
                log.info("%s: shutting down (a second signal stops at once)", signum.name)
                stop.set()
                return
            log.warning("%s again: stopping now, without waiting for requests under way", signum.name)
            second.append(int(signum))
            if main_task is not None:
                main_task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop_requested, signum)
        loop.add_signal_handler(
            signal.SIGHUP,
            log.warning,
            "SIGHUP ignored: Kanari reads its configuration only at start; restart it to apply changes",
        )
        return await main(stop)

    try:
        return asyncio.run(runner())
    except asyncio.CancelledError:
        if not second:
            raise
        return 128 + second[0]
