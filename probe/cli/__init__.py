"""The ``kanari`` command. Nothing else in the package imports this package."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from probe import __version__
from probe.cli import (
    checking,
    evidence,
    incidents,
    keys,
    onboarding,
    probing,
    readback,
    rendering,
    sandboxing,
    status,
)
from probe.cli.logformat import LOG_FORMATS, LOG_LEVELS, configure_logging


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="kanari", description="Synthetic end-to-end probe for bekymringsmeldinger."
    )
    parser.add_argument("--version", action="version", version=f"kanari {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=LOG_LEVELS)
    parser.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text for people (default); json: one object per line with stable keys, for log shippers",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    probing.add_commands(commands)
    sandboxing.add_commands(commands)
    checking.add_commands(commands)
    onboarding.add_commands(commands)
    status.add_commands(commands)
    incidents.add_commands(commands)
    evidence.add_commands(commands)
    keys.add_commands(commands)
    rendering.add_commands(commands)
    readback.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kanari`` and ``python -m probe``."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    configure_logging(arguments.log_level, arguments.log_format)
    result: int = arguments.handler(arguments)
    return result
