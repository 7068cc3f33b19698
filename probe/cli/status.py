"""``kanari status``: each route's latest verdict from the ledger, as a table.

The ledger is only read: opened read-only (:meth:`Ledger.open_read_only`), so a wrong path is an error
naming it (exit 2) instead of a new empty ledger, and a read-only file or directory is fine. With the
PostgreSQL ledger (``ledger_postgres``) it reads the database the replicas share, creating nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from probe.cli.common import add_config_argument, load_or_explain
from probe.cli.exits import Exit
from probe.config.loader import KanariConfig
from probe.errors import LedgerError
from probe.hops import Channel, Verdict
from probe.ledger.postgres import PostgresLedger, PostgresTarget
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at


def add_commands(commands: Any) -> None:
    """Register ``status``."""
    status = commands.add_parser("status", help="print every route's last verdict from the ledger")
    add_config_argument(status)
    status.add_argument(
        "--problems", action="store_true", help="only routes whose last verdict is not delivered"
    )
    status.set_defaults(handler=command_status)


def command_status(arguments: argparse.Namespace) -> int:
    """``kanari status``."""
    config = load_or_explain(arguments.config)
    if config is None:
        return Exit.USAGE
    postgres = config.settings.ledger_postgres
    try:
        ledger: Ledger | PostgresLedger
        if postgres is not None:
            target = PostgresTarget(
                postgres.dsn, postgres.password.value() if postgres.password else None, postgres.lease
            )
            # Reads only (no epoch: any write would be refused), beside the replicas.
            ledger = PostgresLedger(target, holder="kanari-status", epoch=lambda: None, create=False)
        else:
            ledger = Ledger.open_read_only(config.path(config.settings.ledger))
        try:
            latest = ledger.latest_per_route()
        finally:
            ledger.close()
    except LedgerError as error:
        print(f"kanari status: {error}", file=sys.stderr)
        return Exit.USAGE
    if isinstance(ledger, Ledger) and not ledger.complete:
        print(
            f"warning: {ledger.path}-wal could not be read (no usable -shm in a read-only directory): "
            "the newest verdicts may be missing",
            file=sys.stderr,
        )
    print(render_status(config, latest, only_problems=arguments.problems))
    return Exit.OK


def render_status(
    config: KanariConfig,
    latest: dict[tuple[Channel, str], list[CanaryRecord]],
    *,
    only_problems: bool = False,
) -> str:
    """The table: route, municipality, vendor, version, last verdict, blamed hop/owner, latency, when, and
    what the upstreams said about a verdict other than delivered."""
    header = (
        "ROUTE",
        "MUNICIPALITY",
        "VENDOR",
        "VERSION",
        "LAST VERDICT",
        "BLAMED",
        "LATENCY",
        "SENT (UTC)",
        "IN FLIGHT",
        "DETAIL",
    )
    rows = [header]
    for route in sorted(config.routes, key=lambda r: (r.kommunenummer, r.channel.value)):
        records = latest.get(route.key, [])
        resolved = next((r for r in records if r.verdict is not None), None)
        in_flight = sum(1 for r in records if r.verdict is None)
        if only_problems and resolved is not None and resolved.verdict is Verdict.DELIVERED:
            continue
        verdict, blamed, latency, sent, detail = "-", "-", "-", "-", ""
        version = next((r.api_version for r in records if r.api_version), None) or "-"
        if resolved is not None and resolved.verdict is not None:
            if resolved.verdict is not Verdict.DELIVERED:
                detail = resolved.diagnostics or ""
            verdict = resolved.verdict.value
            if resolved.blamed_hop is not None:
                owner = resolved.blamed_owner.value if resolved.blamed_owner else "?"
                blamed = f"{resolved.blamed_hop.value}/{owner}"
            arrived = delivered_at(resolved)
            if arrived is not None:
                latency = f"{arrived - resolved.created_at:.1f}s"
            sent = dt.datetime.fromtimestamp(resolved.created_at, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(
            (
                route.name,
                route.municipality_name,
                route.vendor,
                version,
                verdict,
                blamed,
                latency,
                sent,
                str(in_flight),
                detail,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
