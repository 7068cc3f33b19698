"""``kanari config check``: validate a configuration directory and show coverage.

Every problem is printed at once, one per line, as ``file:line: field: message (value: ...); fix: ...``,
sorted by file and line so the output reads alongside the files. Exit 0 when valid, 1 when not.

Beside the files, the place of the ledger is checked (unless ``--skip-secrets``: like the secrets, it
exists only where the probe runs): its directory exists or can be created and is writable, and a file
already there is a writable Kanari ledger of a schema this Kanari can use. Nothing is created or
changed: the file is looked at read-only (:func:`probe.ledger.opening.check_location`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from cryptography import x509

from probe.cli.common import add_config_argument
from probe.cli.exits import Exit
from probe.config.loader import KanariConfig, check_config
from probe.config.registry import Municipality
from probe.config.yamlfile import read_yaml
from probe.errors import ConfigError, LedgerUnusableError
from probe.hops import Channel
from probe.ledger.opening import check_location
from probe.ledger.rows import SCHEMA_VERSION

# Enough names to see what is missing at a glance; --missing lists them all.
SHOWN_MISSING = 12


def add_commands(commands: Any) -> None:
    """Register ``config check``."""
    config = commands.add_parser("config", help="configuration tools")
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="validate everything, report all problems at once, show coverage (exit 0 valid, 1 not)"
    )
    add_config_argument(check)
    check.add_argument("--quiet", action="store_true", help="print problems only, not coverage")
    check.add_argument(
        "--missing", action="store_true", help="list every municipality not onboarded, by county"
    )
    check.add_argument(
        "--skip-secrets",
        action="store_true",
        help="do not read secrets and key files (e.g. in CI, where they are not)",
    )
    check.set_defaults(handler=command_check)


def command_check(arguments: argparse.Namespace) -> int:
    """``kanari config check``: exit 0 when valid, 1 when not."""
    result = check_config(arguments.config, with_secrets=not arguments.skip_secrets)
    if result.config is not None and not arguments.skip_secrets:
        problems, notes = ledger_check(result.config)
        result.errors.extend(problems)
        result.warnings.extend(notes)
    if result.errors:
        print(f"{len(result.errors)} problem(s) in {arguments.config}:")
        for error in sort_problems(result.errors):
            print(f"  {error.render()}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.config is not None and not arguments.quiet:
        print(coverage(result.config, every_missing=arguments.missing))
        if not arguments.skip_secrets:
            for line in certificate_expiries(result.config):
                print(line)
    if result.errors:
        print(f"{arguments.config}: not valid ({len(result.errors)} problem(s) above)")
        return Exit.FAILED
    routes = len(result.config.routes) if result.config else 0
    skipped = " (secrets, key files and the ledger not checked)" if arguments.skip_secrets else ""
    print(f"{arguments.config}: valid ({routes} routes){skipped}")
    return Exit.OK


def ledger_check(config: KanariConfig) -> tuple[list[ConfigError], list[str]]:
    """The problem with the ledger's place, as a problem of the ``ledger`` setting, if there is one; and
    a note when an older ledger will be migrated at the next start. With the PostgreSQL ledger the
    SQLite file is unused and nothing is looked at: the database is reached only by ``kanari run``."""
    if config.settings.ledger_postgres is not None:
        return [], []
    setting = config.settings.ledger
    path = config.path(setting)
    try:
        found = check_location(path)
    except LedgerUnusableError as error:
        document = read_yaml(config.directory, "kanari.yaml", [])
        line = document.lines.get(("ledger",)) if document is not None else None
        place = f"kanari.yaml:{line}" if line is not None else "kanari.yaml"
        return [ConfigError(place, "ledger", str(setting), f"{path}: {error.problem}", error.fix)], []
    if found is not None and found < SCHEMA_VERSION:
        return [], [
            f"ledger {path} has schema {found}: kanari run migrates it to schema {SCHEMA_VERSION} "
            "(in one transaction) when it next starts"
        ]
    return [], []


_PLACE = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+))?$")


def sort_problems(errors: Sequence[ConfigError]) -> list[ConfigError]:
    """Problems by file (kanari.yaml, vendors.yaml, then the rest by name) and line; the order of
    problems on one line is kept."""

    def key(error: ConfigError) -> tuple[int, str, int]:
        match = _PLACE.match(error.file)
        name = match.group("file") if match else error.file
        line = int(match.group("line")) if match and match.group("line") else 0
        rank = {"kanari.yaml": 0, "vendors.yaml": 1}.get(name, 2)
        return (rank, name, line)

    return sorted(errors, key=key)


def coverage(config: KanariConfig, *, every_missing: bool = False) -> str:
    """How many of the registry's municipalities are onboarded per channel, and which are not."""
    total = len(config.registry)
    lines = [f"coverage of the national registry ({total} municipalities, {config.registry.source}):"]
    anywhere: set[str] = set()
    for channel in Channel:
        covered = {route.kommunenummer for route in config.routes if route.channel is channel}
        anywhere |= covered
        missing = [m for m in config.registry if m.kommunenummer not in covered]
        lines.append(f"  {channel.value:<7} {len(covered):>4}/{total} onboarded")
        if not missing:
            continue
        if every_missing:
            lines.extend(_by_county(missing))
            continue
        shown = ", ".join(f"{m.kommunenummer} {m.name}" for m in missing[:SHOWN_MISSING])
        more = (
            f" and {len(missing) - SHOWN_MISSING} more (--missing lists them all)"
            if len(missing) > SHOWN_MISSING
            else ""
        )
        lines.append(f"          not onboarded: {shown}{more}")
    lines.append(f"  {'either':<7} {len(anywhere):>4}/{total} onboarded on at least one channel")
    return "\n".join(lines)


def certificate_expiries(config: KanariConfig) -> list[str]:
    """When each configured certificate chain's first certificate expires, for the renewal calendar."""
    settings = config.settings
    chains = {
        "business_certificate.certificate_chain_file": (
            settings.business_certificate.certificate_chain_file if settings.business_certificate else None
        ),
        "maskinporten.certificate_chain_file": settings.maskinporten.certificate_chain_file,
    }
    lines = []
    now = dt.datetime.now(dt.UTC)
    for field, path in chains.items():
        if path is None:
            continue
        try:
            leaf = x509.load_pem_x509_certificates(config.path(path).read_bytes())[0]
        except (OSError, ValueError, IndexError):
            continue  # reported among the problems above
        expires = leaf.not_valid_after_utc
        lines.append(
            f"{field}: {leaf.subject.rfc4514_string()} valid until {expires:%Y-%m-%d} "
            f"({(expires - now).days} days)"
        )
    return lines


def _by_county(missing: list[Municipality]) -> list[str]:
    counties: dict[str, list[Municipality]] = defaultdict(list)
    for municipality in missing:
        counties[municipality.county or municipality.county_number or "?"].append(municipality)
    lines = []
    for county, municipalities in counties.items():
        names = ", ".join(f"{m.kommunenummer} {m.name}" for m in municipalities)
        lines.append(f"          not onboarded in {county} ({len(municipalities)}): {names}")
    return lines
