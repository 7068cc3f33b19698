"""``kanari config check``: validate a configuration directory and show coverage."""

from __future__ import annotations

import argparse
from typing import Any

from probe.cli.common import add_config_argument
from probe.config.loader import KanariConfig, check_config
from probe.hops import Channel

EXIT_VALID, EXIT_INVALID = 0, 1


def add_commands(commands: Any) -> None:
    """Register ``config check``."""
    config = commands.add_parser("config", help="configuration tools")
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate everything and report all problems at once")
    add_config_argument(check)
    check.add_argument("--quiet", action="store_true", help="print problems only, not coverage")
    check.set_defaults(handler=command_check)


def command_check(arguments: argparse.Namespace) -> int:
    """``kanari config check``: exit 0 when valid, 1 when not."""
    result = check_config(arguments.config)
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.errors:
        print(f"{len(result.errors)} problem(s) in {arguments.config}:")
        for error in result.errors:
            print(f"  {error.render()}")
    if result.config is not None and not arguments.quiet:
        print(coverage(result.config))
    if result.errors:
        return EXIT_INVALID
    print(f"{arguments.config}: valid ({len(result.config.routes) if result.config else 0} routes)")
    return EXIT_VALID


def coverage(config: KanariConfig) -> str:
    """How many of the registry's municipalities are onboarded per channel, and which are not."""
    total = len(config.registry)
    lines = [f"coverage of the national registry ({total} municipalities, {config.registry.source}):"]
    for channel in Channel:
        covered = {route.kommunenummer for route in config.routes if route.channel is channel}
        missing = [m for m in config.registry if m.kommunenummer not in covered]
        lines.append(f"  {channel.value:<7} {len(covered):>4}/{total} onboarded")
        if missing:
            shown = ", ".join(f"{m.kommunenummer} {m.name}" for m in missing[:12])
            more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
            lines.append(f"          not onboarded: {shown}{more}")
    return "\n".join(lines)
