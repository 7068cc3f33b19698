"""Helpers shared by the commands: loading a configuration and running until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from probe.config.loader import KanariConfig, load_config
from probe.errors import InvalidConfigError, KanariError

DEFAULT_CONFIG = Path("config")

log = logging.getLogger("kanari")


class UsageError(KanariError):
    """A command was given arguments it cannot use (exit code 2)."""


def add_config_argument(parser: argparse.ArgumentParser, default: Path = DEFAULT_CONFIG) -> None:
    """``--config DIR``."""
    parser.add_argument(
        "--config", type=Path, default=default, help=f"configuration directory (default: {default})"
    )


def load_or_explain(directory: Path, overrides: Mapping[str, Any] | None = None) -> KanariConfig | None:
    """Load the configuration, or print every problem to stderr and return ``None``."""
    try:
        config = load_config(directory, overrides=overrides)
    except InvalidConfigError as error:
        print(f"configuration in {directory} is not valid:", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem.render()}", file=sys.stderr)
        return None
    except KanariError as error:
        print(f"configuration in {directory} is not usable: {error}", file=sys.stderr)
        return None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config


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
