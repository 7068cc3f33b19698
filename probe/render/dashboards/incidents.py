"""Panels of the learned deadlines, the overdue canaries and the open incidents, shared by the overview,
vendor and municipality dashboards (each passes its filter as ``where``, e.g. ``'vendor="$vendor"'``).

- **Open incidents** (DESIGN section 7): one row per route and blamed hop with an open incident, its
  exposure window's start (real reports sent since may be lost) and the date until which KS keeps
  them (``kanari_incidents_open``, ``kanari_incident_exposure_start_timestamp_seconds``,
  ``kanari_incident_retained_until_timestamp_seconds``).
- **Overdue canaries**: canaries past their route's usual latency and not yet past its bound, by the
  hop they wait for and its owner (``kanari_overdue``, what ``KanariRouteOverdue`` tickets).
- **Learned deadlines**: each route's current bound per hop (``kanari_route_deadline_seconds``; office
  seconds for the hops that need a person).

Empty tables read "none open" / "none overdue" rather than Grafana's "No data", which also shows when a
query fails.
"""

from __future__ import annotations

from typing import Any

from probe.render.alerts.exposure import EXPOSURE_START, RETAINED_UNTIL
from probe.render.dashboards.model import (
    Column,
    Query,
    none_row,
    series_table,
    stat,
    table,
    thresholds,
)
from probe.render.promql import ROUTE_KEY, selector

INCIDENT_KEY = "channel, municipality, vendor, hop, owner"
"""The labels of an open incident's row (and of an overdue canary's): its route, blamed hop and owner."""


def _own(where: tuple[str, ...]) -> tuple[str, ...]:
    """The matchers of ``where`` a per-route timing gauge can take (it has no ``vendor`` label)."""
    return tuple(matcher for matcher in where if matcher.split("=")[0].rstrip("!~") in ROUTE_KEY)


def open_incidents(where: tuple[str, ...] = (), links: dict[str, str] | None = None) -> dict[str, Any]:
    """The table of open incidents with their exposure window and KS retention date."""
    route = "max by (channel, municipality, vendor)"
    # Grafana's date units read milliseconds.
    start = f"{route} ({selector(EXPOSURE_START, *where)}) * 1000"
    retained = f"{route} ({selector(RETAINED_UNTIL, *where)}) * 1000"
    keys = Query(
        f"sum by ({INCIDENT_KEY}) ({selector('kanari_incidents_open', *where)}) > 0\n"
        f"{none_row('hop', 'none open')}"
    )
    return table(
        "Open incidents",
        "Routes with an open incident (from the first lost or failed canary to the next delivered one), "
        "the hop blamed and its owner. Real reports sent on the route since the exposure window's "
        "start may be lost; KS keeps them until the retention date, so check them against the "
        "fagsystem before then.",
        keys,
        [
            Column(Query(start), "Exposure window start", unit="dateTimeAsIso"),
            Column(Query(f"{route} (time() - {selector(EXPOSURE_START, *where)})"), "Exposed for", unit="s"),
            Column(Query(retained), "KS keeps reports until", unit="dateTimeAsIso"),
        ],
        links=links,
    )


def overdue(where: tuple[str, ...] = ()) -> dict[str, Any]:
    """The table of overdue canaries by route, awaited hop and its owner."""
    return series_table(
        "Overdue canaries",
        "Canaries past their route's usual latency (learned from its delivered history) and not yet "
        "past its deadline, by the hop they wait for and its owner: a break may be forming. The owner "
        "gets a ticket (KanariRouteOverdue); past the deadline the canary is lost.",
        Query(
            f"sum by ({INCIDENT_KEY}) ({selector('kanari_overdue', *where)}) > 0\n"
            f"{none_row('hop', 'none overdue')}"
        ),
        "Overdue",
    )


def deadlines(where: tuple[str, ...] = ()) -> dict[str, Any]:
    """The table of each route's current bound per hop."""
    # The gauge has no vendor label: the route's info series carries the filter.
    info = selector("kanari_route_info", *where)
    bound = selector("kanari_route_deadline_seconds", *_own(where))
    return series_table(
        "Learned deadlines by hop",
        "Each route's current bound per hop, measured from sending: learned from its delivered history "
        "(a high quantile with a margin, within the configured limits), the configured deadline until "
        "enough history exists. Hops that need a person (Altinn fetched and read, a route's manual "
        "hops) count office time: 8 hours is eight working hours, which can span a weekend.",
        Query(
            f"max by (channel, municipality, hop) ({bound})\n"
            f"* on (channel, municipality) group_left ()\n"
            f"max by (channel, municipality) ({info})"
        ),
        "Bound",
        unit="s",
    )


def counts(where: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Two stats: open incidents and overdue canaries now."""
    return [
        stat(
            "Incidents open",
            "Routes with an open incident (by blamed hop).",
            [Query(f"sum({selector('kanari_incidents_open', *where)}) or vector(0)")],
            steps=thresholds((None, "green"), (1, "red")),
        ),
        stat(
            "Canaries overdue",
            "Canaries past their route's usual latency, not yet lost.",
            [Query(f"sum({selector('kanari_overdue', *where)}) or vector(0)")],
            steps=thresholds((None, "green"), (1, "orange")),
        ),
    ]
