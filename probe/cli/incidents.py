"""``kanari incidents``: the incidents in the ledger (DESIGN section 7), newest first, as a table or as
JSON for scripts. Each names its route, the blamed hop and owner, when it was detected, its exposure
window (the span in which real reports on the route may be lost) and the date until which KS still holds
the reports sent in it: what a municipality must act on.

Like ``kanari status`` it only reads: the ledger opened read-only (a missing one is an error naming it,
exit 2), and the configuration loaded without any secret or key file.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from typing import Any

from probe.cli.common import add_config_argument, load_or_explain, open_ledger_read_only, warn_if_incomplete
from probe.cli.exits import Exit
from probe.cli.logformat import tell
from probe.cli.timestamps import both, shown
from probe.config.loader import KanariConfig
from probe.errors import LedgerError
from probe.hops import Channel
from probe.lifecycle.incident import Incident

# The version of the JSON document's shape: a script can tell when fields change meaning.
JSON_FORMAT = 1


def add_commands(commands: Any) -> None:
    """Register ``incidents``."""
    parser = commands.add_parser(
        "incidents", help="list incidents with their exposure window and KS retention date, from the ledger"
    )
    add_config_argument(parser)
    parser.add_argument("--open", action="store_true", help="only incidents still open")
    parser.add_argument("--channel", choices=[channel.value for channel in Channel], help="only this channel")
    parser.add_argument("--municipality", metavar="NNNN", help="only this municipality (kommunenummer)")
    parser.add_argument("--json", action="store_true", help="one JSON document (stable keys) for scripts")
    parser.set_defaults(handler=command_incidents)


def command_incidents(arguments: argparse.Namespace) -> int:
    """``kanari incidents``."""
    config = load_or_explain(arguments.config, secrets=False)
    if config is None:
        return Exit.USAGE
    try:
        ledger = open_ledger_read_only(config, "kanari-incidents")
        try:
            found = ledger.incidents(
                open_only=arguments.open,
                channel=Channel(arguments.channel) if arguments.channel else None,
                municipality=arguments.municipality,
            )
        finally:
            ledger.close()
    except LedgerError as error:
        tell(f"kanari incidents: {error}", level=logging.ERROR)
        return Exit.USAGE
    warn_if_incomplete(ledger)
    print(render_json(config, found) if arguments.json else render_table(config, found, arguments.open))
    return Exit.OK


def _names(config: KanariConfig) -> dict[str, str]:
    return {route.kommunenummer: route.municipality_name for route in config.routes}


def as_json(incident: Incident, municipality_name: str | None) -> dict[str, object]:
    """One incident as the JSON document lists it."""
    return {
        "id": incident.id,
        "route": f"{incident.channel.value}/{incident.municipality}",
        "channel": incident.channel.value,
        "municipality": incident.municipality,
        "municipality_name": municipality_name,
        "vendor": incident.vendor,
        "hop": incident.hop.value,
        "owner": incident.owner.value,
        "open": incident.open,
        "status": incident.status,
        "canaries": incident.canaries,
        "first_canary": incident.first_canary,
        **both("opened_at", incident.opened_at),
        **both("closed_at", incident.closed_at),
        **both("exposure_start", incident.exposure_start),
        **both("exposure_end", incident.exposure_end),
        **both("retained_until", incident.retained_until),
    }


def render_json(config: KanariConfig, incidents: Sequence[Incident]) -> str:
    """The JSON document: ``{"format": 1, "incidents": [...]}``, newest first."""
    names = _names(config)
    document = {
        "format": JSON_FORMAT,
        "incidents": [as_json(incident, names.get(incident.municipality)) for incident in incidents],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def render_table(config: KanariConfig, incidents: Sequence[Incident], only_open: bool = False) -> str:
    """The table for people: one line per incident, times in UTC."""
    if not incidents:
        return "no open incidents" if only_open else "no incidents in the ledger"
    names = _names(config)
    header = (
        "ROUTE", "MUNICIPALITY", "VENDOR", "BLAMED", "STATE", "CANARIES", "DETECTED (UTC)",
        "EXPOSED FROM (UTC)", "EXPOSED UNTIL (UTC)", "KS HOLDS UNTIL (UTC)", "ID",
    )  # fmt: skip
    rows = [header]
    for incident in incidents:
        rows.append(
            (
                f"{incident.channel.value}/{incident.municipality}",
                names.get(incident.municipality, "-"),
                incident.vendor,
                f"{incident.hop.value}/{incident.owner.value}",
                incident.status,
                str(incident.canaries),
                shown(incident.opened_at),
                shown(incident.exposure_start),
                shown(incident.exposure_end) if not incident.open else "still open",
                shown(incident.retained_until),
                incident.id,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
