"""``kanari onboard``: write a municipality file pre-filled from the national registry, check the
configuration with it, and say what to do next.

Exit codes: 0 the file was written and the configuration is valid; 1 the file was written but the
configuration has problems (listed, with those in the new file marked); 2 nothing was written (usage,
unknown kommunenummer or vendor, an existing file, an unusable configuration).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from probe.cli.checking import sort_problems
from probe.cli.common import add_config_argument
from probe.cli.exits import Exit
from probe.config.loader import check_config
from probe.config.onboarding import OnboardingRefusedError, OnboardRequest, Plan, plan, write
from probe.hops import Channel


def add_commands(commands: Any) -> None:
    """Register ``onboard``."""
    onboard = commands.add_parser(
        "onboard",
        help="write municipalities/<kommunenummer>-<name>.yaml pre-filled from the national registry",
        description="Write a municipality file pre-filled from the national registry (never overwriting "
        "one), check the configuration with it, and print the next steps.",
    )
    onboard.add_argument("kommunenummer", metavar="KOMMUNENUMMER", help="four digits, e.g. 4601 or 0301")
    onboard.add_argument("--vendor", required=True, help="the fagsystem vendor's id in vendors.yaml")
    onboard.add_argument(
        "--channels",
        type=_channel_list,
        help="comma-separated, e.g. portal,altinn (default: every channel kanari.yaml enables)",
    )
    add_config_argument(onboard)
    onboard.add_argument(
        "--organisasjonsnummer",
        help="only when the registry has none (then needed for the altinn channel); from Enhetsregisteret",
    )
    onboard.add_argument(
        "--contact-email",
        action="append",
        default=[],
        metavar="EMAIL",
        help="who at the municipality receives its alerts (repeatable)",
    )
    onboard.add_argument("--contact-name", help="the contacts' name (default: Barneverntjenesten i <name>)")
    onboard.add_argument(
        "--skip-secrets", action="store_true", help="check without reading secrets and key files"
    )
    onboard.set_defaults(handler=command_onboard)


def _channel_list(text: str) -> tuple[Channel, ...]:
    channels: list[Channel] = []
    for part in text.split(","):
        name = part.strip().lower()
        if not name:
            continue
        try:
            channel = Channel(name)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"unknown channel {name!r}: use " + " and/or ".join(c.value for c in Channel)
            ) from None
        if channel not in channels:
            channels.append(channel)
    if not channels:
        raise argparse.ArgumentTypeError("name at least one channel, e.g. portal,altinn")
    return tuple(channels)


def command_onboard(arguments: argparse.Namespace) -> int:
    """``kanari onboard``."""
    request = OnboardRequest(
        kommunenummer=arguments.kommunenummer.strip(),
        vendor=arguments.vendor.strip(),
        channels=arguments.channels,
        organisasjonsnummer=arguments.organisasjonsnummer,
        contact_emails=tuple(arguments.contact_email),
        contact_name=arguments.contact_name,
    )
    try:
        planned = plan(arguments.config, request)
        write(planned)
    except OnboardingRefusedError as refused:
        print(f"kanari onboard: nothing written, {len(refused.errors)} problem(s):", file=sys.stderr)
        for error in refused.errors:
            print(f"  {error.render()}", file=sys.stderr)
        return Exit.USAGE
    for warning in planned.warnings:
        print(f"warning: {warning}")
    municipality = planned.municipality
    print(
        f"wrote {planned.path}: {municipality.name} ({municipality.kommunenummer}), vendor {planned.vendor}, "
        f"channels {', '.join(channel.value for channel in planned.channels)}"
    )
    return _check_and_advise(arguments, planned)


def _check_and_advise(arguments: argparse.Namespace, planned: Plan) -> int:
    result = check_config(arguments.config, with_secrets=not arguments.skip_secrets)
    new_file = planned.path.name
    if result.errors:
        print(f"{len(result.errors)} problem(s) in {arguments.config} (→ marks the new file):")
        for error in sort_problems(result.errors):
            mark = "→" if new_file in error.file else " "
            print(f" {mark} {error.render()}")
    else:
        routes = len(result.config.routes) if result.config else 0
        print(f"{arguments.config}: valid ({routes} routes)")
    number = planned.municipality.kommunenummer
    print("next:")
    print(f"  1. Fill in contacts (and bydel, if canaries go to a named office) in {planned.path}.")
    print("  2. With the operations centre, send one canary on each channel and follow it to its final hop:")
    for channel in planned.channels:
        print(f"       kanari once --config {arguments.config} --municipality {number} --channel {channel}")
    print(
        "     Each must end with 'delivered in ...'. Tell the case workers first: a test report will appear."
    )
    print("  3. Open a merge request with the file; the operations centre reviews it, runs")
    print("     `kanari config check` and `make render`, and merges. See docs/municipalities.md.")
    return Exit.FAILED if result.errors else Exit.OK
