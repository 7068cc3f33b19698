"""Helpers shared by the commands: loading a configuration and running until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from probe.config.loader import KanariConfig, load_config
from probe.errors import InvalidConfigError, KanariError

DEFAULT_CONFIG = Path("config")


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
    """Run ``main(stop)`` in a new event loop; SIGINT/SIGTERM set ``stop`` for a clean shutdown."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await main(stop)

    return asyncio.run(runner())
