"""``kanari status``: each route's latest verdict from the ledger, as a table for people or JSON for
scripts.

It only reads: the configuration is loaded without secrets (``load_or_explain(..., secrets=False)``), so
it runs where the probe's credentials are not, and the ledger is opened read-only
(:func:`~probe.cli.common.open_ledger_read_only`): a wrong path is an error naming it (exit 2) instead of
a new empty ledger, and a read-only file or directory is fine.

Shown: the configured routes that have been probed (a canary in the ledger), narrowed by ``--channel``,
``--vendor``, ``--county`` and ``--municipality``; ``--all`` adds the configured routes never probed.
``--problems`` keeps the routes whose last verdict is ``lost`` or ``failed`` and exits 1 when there is
any, 0 when there is none, so a script or a deployment check can ask "is anything broken?".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from probe.cli.common import add_config_argument, load_or_explain, open_ledger_read_only, warn_if_incomplete
from probe.cli.exits import Exit
from probe.clock import to_rfc3339
from probe.config.durations import human
from probe.config.loader import KanariConfig
from probe.config.routes import Route
from probe.engine.deadlines import learned_from_ledger
from probe.errors import KanariError, LedgerError
from probe.hops import Channel, Hop, Verdict
from probe.lifecycle.record import CanaryRecord
from probe.lifecycle.verdict import delivered_at

# The verdicts ``--problems`` is about: the route is broken. ``unknown`` (a blind probe) says nothing
# about the route, and the alerts treat it as the probe's problem, not the route's.
PROBLEMS = frozenset({Verdict.LOST, Verdict.FAILED})

Latest = Mapping[tuple[Channel, str], Sequence[CanaryRecord]]
Deadlines = Mapping[tuple[Channel, str], Mapping[Hop, float]]

HEADER = (
    "ROUTE",
    "MUNICIPALITY",
    "VENDOR",
    "VERSION",
    "LAST VERDICT",
    "BLAMED",
    "LATENCY",
    "DEADLINE",
    "SENT (UTC)",
    "IN FLIGHT",
    "DETAIL",
)


class FilterError(KanariError):
    """A filter names nothing in the configuration (exit 2, with what it could have named)."""


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which routes to show: ``None`` is any."""

    channel: Channel | None = None
    vendor: str | None = None
    county: str | None = None
    municipality: str | None = None

    def check(self, config: KanariConfig) -> None:
        """Raise :class:`FilterError` for a vendor, county or municipality no configured route has."""
        routes = config.routes
        if self.vendor is not None and not any(route.vendor == self.vendor for route in routes):
            raise FilterError(
                f"--vendor {self.vendor}: no configured route has this vendor (configured: "
                f"{_listed(sorted({route.vendor for route in routes}))})"
            )
        if self.county is not None and not any(_in_county(route, self.county) for route in routes):
            counties = sorted({route.county for route in routes})
            raise FilterError(
                f"--county {self.county}: no configured route is in this county (give its name or "
                f"number; configured: {_listed(counties)})"
            )
        if self.municipality is not None and not any(r.kommunenummer == self.municipality for r in routes):
            known = config.registry.get(self.municipality)
            if known is None:
                raise FilterError(
                    f"--municipality {self.municipality}: no municipality has this kommunenummer in the "
                    "registry (give the 4-digit kommunenummer, e.g. 4601)"
                )
            raise FilterError(
                f"--municipality {self.municipality}: {known.name} has no configured route (onboard it "
                f"with kanari onboard; {len({r.kommunenummer for r in routes})} municipalities are "
                "configured)"
            )

    def admits(self, route: Route) -> bool:
        """Whether ``route`` passes every filter."""
        return (
            (self.channel is None or route.channel is self.channel)
            and (self.vendor is None or route.vendor == self.vendor)
            and (self.county is None or _in_county(route, self.county))
            and (self.municipality is None or route.kommunenummer == self.municipality)
        )


@dataclasses.dataclass(frozen=True)
class RouteStatus:
    """One route's line: its newest verdict, what is in flight, and its deadline."""

    route: Route
    version: str | None
    resolved: CanaryRecord | None
    in_flight: int
    deadline: float
    deadline_learned: bool
    # The learned bound of each hop that has one (seconds from sending), for ``--json``.
    learned: Mapping[Hop, float] = dataclasses.field(default_factory=dict)

    @property
    def latency(self) -> float | None:
        """Sending to final hop of the newest resolved canary, if it got there."""
        arrived = delivered_at(self.resolved) if self.resolved is not None else None
        return None if arrived is None or self.resolved is None else arrived - self.resolved.created_at

    @property
    def problem(self) -> bool:
        """Whether the route's last verdict says it is broken (``lost`` or ``failed``)."""
        return self.resolved is not None and self.resolved.verdict in PROBLEMS

    def as_json(self) -> dict[str, Any]:
        """The line for ``--json``: stable keys, ``null`` where there is nothing to say."""
        record = self.resolved
        latency = self.latency
        return {
            "route": self.route.name,
            "channel": self.route.channel.value,
            "municipality": self.route.kommunenummer,
            "municipality_name": self.route.municipality_name,
            "county": self.route.county,
            "vendor": self.route.vendor,
            "final_hop": self.route.final_hop.value,
            "version": self.version,
            "verdict": record.verdict.value if record is not None and record.verdict else None,
            "blamed_hop": record.blamed_hop.value if record is not None and record.blamed_hop else None,
            "blamed_owner": record.blamed_owner.value if record is not None and record.blamed_owner else None,
            "latency_seconds": round(latency, 3) if latency is not None else None,
            "canary_id": record.id if record is not None else None,
            "upstream_id": record.upstream_id if record is not None else None,
            "sent_at": to_rfc3339(record.created_at) if record is not None else None,
            "unresolved": self.in_flight,
            "deadline_seconds": self.deadline,
            "deadline_source": "learned" if self.deadline_learned else "configured",
            "learned_deadlines": {hop.value: seconds for hop, seconds in self.learned.items()},
            "detail": _detail(record) or None,
        }

    def cells(self) -> tuple[str, ...]:
        """The line for the table."""
        record = self.resolved
        verdict, blamed, latency, sent = "-", "-", "-", "-"
        if record is not None and record.verdict is not None:
            verdict = record.verdict.value
            if record.blamed_hop is not None:
                owner = record.blamed_owner.value if record.blamed_owner else "?"
                blamed = f"{record.blamed_hop.value}/{owner}"
            if self.latency is not None:
                latency = f"{self.latency:.1f}s"
            sent = to_rfc3339(record.created_at)[:19].replace("T", " ")
        source = "learned" if self.deadline_learned else "configured"
        return (
            self.route.name,
            self.route.municipality_name,
            self.route.vendor,
            self.version or "-",
            verdict,
            blamed,
            latency,
            f"{human(self.deadline)} {source}",
            sent,
            str(self.in_flight),
            _detail(record),
        )


def add_commands(commands: Any) -> None:
    """Register ``status``."""
    status = commands.add_parser(
        "status",
        help="print each probed route's last verdict from the ledger (no secrets needed)",
        description="Each probed route's last verdict, read from the ledger; needs no secret. Exit 0, "
        "or with --problems 1 when a route's last verdict is lost or failed; 2 when it cannot run.",
    )
    add_config_argument(status)
    status.add_argument("--channel", choices=[channel.value for channel in Channel], help="only this channel")
    status.add_argument("--vendor", help="only routes to this vendor's fagsystem (its id in vendors.yaml)")
    status.add_argument("--county", help="only municipalities in this county (name or number, e.g. Vestland)")
    status.add_argument("--municipality", metavar="KOMMUNENUMMER", help="only this municipality, e.g. 4601")
    status.add_argument(
        "--json", action="store_true", help="one JSON document for scripts instead of a table"
    )
    status.add_argument("--all", action="store_true", help="also configured routes that were never probed")
    status.add_argument(
        "--problems",
        action="store_true",
        help="only routes whose last verdict is lost or failed; exit 1 if there is any",
    )
    status.set_defaults(handler=command_status)


def command_status(arguments: argparse.Namespace) -> int:
    """``kanari status``."""
    config = load_or_explain(arguments.config, secrets=False)
    if config is None:
        return Exit.USAGE
    filters = Filters(
        channel=Channel(arguments.channel) if arguments.channel else None,
        vendor=arguments.vendor,
        county=county_name(config, arguments.county) if arguments.county else None,
        municipality=arguments.municipality,
    )
    try:
        filters.check(config)
        ledger = open_ledger_read_only(config, "kanari-status")
        try:
            latest = ledger.latest_per_route()
            # The learned deadlines, worked out again from the ledger as the probe does at start.
            deadlines = learned_from_ledger([r for r in config.routes if filters.admits(r)], ledger)
        finally:
            ledger.close()
    except (FilterError, LedgerError) as error:
        print(f"kanari status: {error}", file=sys.stderr)
        return Exit.USAGE
    warn_if_incomplete(ledger)
    rows = route_statuses(
        config,
        latest,
        filters=filters,
        only_problems=arguments.problems,
        include_unprobed=arguments.all,
        deadlines=deadlines,
    )
    if arguments.json:
        print(json.dumps({"routes": [row.as_json() for row in rows]}, indent=2, ensure_ascii=False))
    else:
        print(_table(rows) if rows else _nothing(arguments.problems, arguments.all))
    if arguments.problems and any(row.problem for row in rows):
        return Exit.FAILED
    return Exit.OK


def route_statuses(
    config: KanariConfig,
    latest: Latest,
    *,
    filters: Filters | None = None,
    only_problems: bool = False,
    include_unprobed: bool = False,
    deadlines: Deadlines | None = None,
) -> list[RouteStatus]:
    """The lines to show, in kommunenummer then channel order. ``deadlines``: each route's learned bound
    per hop (routes or hops missing from it show the configured deadline)."""
    admits: Callable[[Route], bool] = (filters or Filters()).admits
    rows = []
    for route in sorted(config.routes, key=lambda r: (r.kommunenummer, r.channel.value)):
        records = latest.get(route.key, ())
        if not admits(route) or (not records and not include_unprobed):
            continue
        resolved = next((r for r in records if r.verdict is not None), None)
        bounds = (deadlines or {}).get(route.key, {})
        learned = bounds.get(route.final_hop)
        row = RouteStatus(
            route=route,
            version=next((r.api_version for r in records if r.api_version), None),
            resolved=resolved,
            in_flight=sum(1 for r in records if r.verdict is None),
            deadline=learned if learned is not None else route.deadline,
            deadline_learned=learned is not None,
            learned=bounds,
        )
        if not only_problems or row.problem:
            rows.append(row)
    return rows


def render_status(
    config: KanariConfig,
    latest: Latest,
    *,
    only_problems: bool = False,
    include_unprobed: bool = False,
    filters: Filters | None = None,
    deadlines: Deadlines | None = None,
) -> str:
    """The table: route, municipality, vendor, version, last verdict, blamed hop/owner, latency, the
    final hop's deadline (learned or configured), when, in flight, and what the upstreams said about a
    verdict other than delivered."""
    rows = route_statuses(
        config,
        latest,
        filters=filters,
        only_problems=only_problems,
        include_unprobed=include_unprobed,
        deadlines=deadlines,
    )
    return _table(rows)


def _table(rows: Sequence[RouteStatus]) -> str:
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADER))]
    text = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(line.rstrip() for line in text)


def _nothing(only_problems: bool, include_unprobed: bool) -> str:
    if only_problems:
        return "no problems: no shown route's last verdict is lost or failed"
    if include_unprobed:
        return "no configured route matches"
    return "no route has been probed yet (kanari run fills the ledger); --all lists every configured route"


def _detail(record: CanaryRecord | None) -> str:
    if record is None or record.verdict in (None, Verdict.DELIVERED):
        return ""
    return record.diagnostics or ""


def county_name(config: KanariConfig, county: str) -> str:
    """The county's name for ``--county``, which takes a name or a county number (``46`` is Vestland)."""
    text = county.strip()
    if text.isdigit():
        named = {m.county for m in config.registry if m.county_number == text.zfill(2)}
        if len(named) == 1:
            return named.pop()
    return text


def _in_county(route: Route, county: str) -> bool:
    wanted = county.strip().casefold()
    return route.county.casefold() == wanted


def _listed(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"
