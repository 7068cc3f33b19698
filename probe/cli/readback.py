"""``kanari readback verify``: prove a vendor's read-back API against the v1 contract before onboarding.

Prints one line per rule of :mod:`probe.checks.conformance` (``PASS``, ``FAIL`` or ``SKIP``, the rule's
id, its explanation and what was seen), then a summary. Exit codes: 0 every rule passed; 1 a rule
failed; 2 the command could not run as asked (unreadable token file or CA file, a URL Kanari would not
send a token to, an unknown municipality); 3 nothing failed but some rules were skipped (no registered
canary to test ``since`` and DELETE with): the endpoint is not proven yet.

The limits are the probe's own, read from the one place each is defined: the read-back timeout and the
answer size bound from the settings' defaults, the clock difference ``since`` tolerates and how far back
it reaches from the engine and the settings. The URL rule is the configuration's (https, or plain http
to this machine only), and TLS verification is always on (``--ca-file`` adds a private CA).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import ssl
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pydantic

from probe.checks.conformance import RULES, Limits, Outcome, Status, verify
from probe.checks.conformance.contract import version
from probe.cli.common import UsageError
from probe.cli.exits import Exit
from probe.clock import SystemClock
from probe.config.models import AltinnSettings, HttpSettings, PortalSettings, ProbeSettings, ReadbackSettings
from probe.config.registry import packaged_registry
from probe.config.types import SecretRef
from probe.config.validation.vendors import READBACK_PATH
from probe.config.vendors import ReadbackAuth, Vendor, VendorReadback
from probe.engine.readback_batches import SINCE_MARGIN
from probe.runtime import USER_AGENT, ssl_context

COMMAND = "kanari readback verify"
VENDOR_ID = "vendor-under-test"
LABELS = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.SKIP: "SKIP"}


def add_commands(commands: Any) -> None:
    """Register ``readback verify``."""
    readback = commands.add_parser("readback", help="tools for vendors' read-back APIs")
    actions = readback.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify_parser = actions.add_parser(
        "verify",
        help="run the read-back v1 contract against a vendor's API, one pass/fail line per rule "
        "(exit 0 all passed, 1 a rule failed, 2 usage, 3 rules skipped)",
        description="Run the read-back v1 contract (docs/readback-openapi.yaml) against a vendor's "
        "implementation for one municipality it serves.",
        epilog="exit codes: 0 every rule passed; 1 a rule failed; 2 usage (the message names the "
        "argument); 3 nothing failed but rules were skipped (no registered canary): not proven yet",
    )
    verify_parser.add_argument(
        "--url", required=True, help=f"the vendor's read-back base URL, without {READBACK_PATH}"
    )
    verify_parser.add_argument(
        "--token-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="file holding the bearer token (first line)",
    )
    verify_parser.add_argument(
        "--municipality", required=True, metavar="NNNN", help="kommunenummer of a municipality it serves"
    )
    verify_parser.add_argument(
        "--canary-id",
        metavar="ID",
        help="a canary registered for this municipality: the since and DELETE rules use it, and it is "
        "deleted at the end, as Kanari does after a verdict",
    )
    verify_parser.add_argument(
        "--ca-file", type=Path, metavar="PEM", help="a private CA to trust besides the public ones"
    )
    verify_parser.set_defaults(handler=command_verify)


def probe_limits() -> Limits:
    """The limits Kanari applies to a read-back API, from the defaults of its settings and engine."""
    deadlines = (
        PortalSettings.model_fields["deadline"].default,
        AltinnSettings.model_fields["deadline"].default,
    )
    late_window = float(ProbeSettings.model_fields["late_window"].default)
    return Limits(
        timeout=float(ReadbackSettings().timeout),
        max_response_bytes=HttpSettings().max_response_bytes,
        clock_skew=SINCE_MARGIN,
        # Kanari's oldest since: a canary judged lost at its deadline is looked for through the late
        # window, from two minutes before it was sent.
        window=float(max(deadlines)) + late_window + SINCE_MARGIN,
    )


def command_verify(arguments: argparse.Namespace) -> int:
    """``kanari readback verify``."""
    try:
        vendor = _vendor(arguments.url, arguments.token_file)
        kommunenummer = _municipality(arguments.municipality)
        context = _context(arguments.ca_file)
    except UsageError as error:
        print(f"{COMMAND}: {error}", file=sys.stderr)
        return Exit.USAGE
    print(f"{COMMAND}: {arguments.url} for municipality {kommunenummer} (read-back v{version()})")
    outcomes = asyncio.run(_run(vendor, kommunenummer, context, arguments.canary_id))
    return report(outcomes)


async def _run(
    vendor: Vendor, kommunenummer: str, context: ssl.SSLContext, canary_id: str | None
) -> list[Outcome]:
    async with httpx.AsyncClient(
        verify=context, headers={"User-Agent": USER_AGENT}, follow_redirects=False
    ) as http:
        return await verify(
            vendor, kommunenummer, http=http, clock=SystemClock(), limits=probe_limits(), canary_id=canary_id
        )


def report(outcomes: list[Outcome]) -> int:
    """Print one line per outcome and the summary; the exit code."""
    width = max(len(rule.id) for rule in RULES)
    for outcome in outcomes:
        label = LABELS[outcome.status]
        print(f"{label} {outcome.rule.id:<{width}}  {outcome.rule.explanation}: {outcome.detail}")
    counts = {status: sum(1 for outcome in outcomes if outcome.status is status) for status in Status}
    tally = (
        f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, {counts[Status.SKIP]} skipped "
        f"of {len(outcomes)} rules"
    )
    if counts[Status.FAIL]:
        print(f"not conformant: {tally}")
        return Exit.FAILED
    if counts[Status.SKIP]:
        print(f"not proven yet: {tally}; register a canary and run again with --canary-id")
        return Exit.INCOMPLETE
    print(f"conformant: {tally}")
    return Exit.OK


def _vendor(url: str, token_file: Path) -> Vendor:
    """The vendor under test as the configuration would hold it: the URL rule and the token file are
    checked exactly as ``vendors.yaml``'s are."""
    reference = SecretRef(file=token_file)
    try:
        reference.resolve(Path.cwd(), os.environ)
    except LookupError as error:
        raise UsageError(f"--token-file: {error}") from None
    if "@" in urlparse(url).netloc:
        # The URL is printed in the report; credentials belong in the token file.
        raise UsageError(
            "--url: must not carry credentials (user:password@); give the token with --token-file"
        )
    if READBACK_PATH in url:
        raise UsageError(
            f"--url {url!r}: give the base URL without {READBACK_PATH}: Kanari appends it itself"
        )
    try:
        readback = VendorReadback(base_url=url, auth=ReadbackAuth(type="static", token=reference))
    except pydantic.ValidationError as error:
        message = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(f"--url {url!r}: {message}") from None
    return Vendor(id=VENDOR_ID, name="the vendor under test", readback=readback)


def _municipality(value: str) -> str:
    if not re.fullmatch(r"[0-9]{4}", value):
        raise UsageError(f"--municipality {value!r}: must be a 4-digit kommunenummer such as 4601")
    if value not in packaged_registry():
        raise UsageError(f"--municipality {value}: no municipality has this number (2024 numbering)")
    return value


def _context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl_context(ca_file)
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"--ca-file {ca_file}: not a readable PEM CA file ({reason})") from None
