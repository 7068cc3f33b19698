"""The ``kanari`` command. Nothing else in the package imports this package."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from probe import __version__
from probe.cli import checking, keys, onboarding, probing, rendering, sandboxing, status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="kanari", description="Synthetic end-to-end probe for bekymringsmeldinger."
    )
    parser.add_argument("--version", action="version", version=f"kanari {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    probing.add_commands(commands)
    sandboxing.add_commands(commands)
    checking.add_commands(commands)
    onboarding.add_commands(commands)
    status.add_commands(commands)
    keys.add_commands(commands)
    rendering.add_commands(commands)
    return parser


def configure_logging(level: str) -> None:
    """Log to stderr; httpx/httpcore request lines only at DEBUG (they are noise at 714 routes)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if level != "DEBUG":
        for name in ("httpx", "httpcore", "apscheduler"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kanari`` and ``python -m probe``."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    configure_logging(arguments.log_level)
    result: int = arguments.handler(arguments)
    return result
