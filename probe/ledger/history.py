"""A route's history as the status page asks for it: each route's newest verdict, its newest canaries,
and its verdicts over a window.

The newest verdicts are one lookup by id per route through ``route_latest`` (:mod:`probe.ledger.latest`),
reading two columns rather than whole records: the national page's whole read for 714 routes. The others
are ranges of the ``canaries_route`` index (channel, municipality, created_at), one per route, so their
cost follows the routes asked about and the window, never the whole ledger. The queries are written
once for both databases, with the placeholder each driver takes.
"""

from __future__ import annotations

from collections.abc import Iterable

from probe.hops import Verdict

_RECENT = (
    "SELECT * FROM canaries WHERE channel = {p} AND municipality = {p} ORDER BY created_at DESC LIMIT {p}"
)
_VERDICTS = (
    "SELECT verdict, COUNT(*) AS n FROM canaries WHERE channel = {p} AND municipality = {p} "
    "AND created_at >= {p} AND verdict IS NOT NULL GROUP BY verdict"
)
# The learned deadlines' history: a route's newest delivered canaries (the same index range, filtered).
_DELIVERED = (
    "SELECT * FROM canaries WHERE channel = {p} AND municipality = {p} AND verdict = 'delivered' "
    "ORDER BY created_at DESC LIMIT {p}"
)
SQLITE_DELIVERED = _DELIVERED.format(p="?")
POSTGRES_DELIVERED = _DELIVERED.format(p="%s")
# CROSS JOIN: SQLite keeps this order (the small table outside, the id index inside); PostgreSQL plans it.
SQLITE_LATEST_VERDICTS = (
    "SELECT route_latest.channel, route_latest.municipality, canaries.verdict FROM route_latest "
    "CROSS JOIN canaries ON canaries.id = route_latest.resolved_id"
)
POSTGRES_LATEST_VERDICTS = SQLITE_LATEST_VERDICTS.replace("CROSS JOIN", "JOIN")
SQLITE_RECENT = _RECENT.format(p="?")
SQLITE_VERDICTS = _VERDICTS.format(p="?")
POSTGRES_RECENT = _RECENT.format(p="%s")
POSTGRES_VERDICTS = _VERDICTS.format(p="%s")


def tally(rows: Iterable[tuple[str, int]]) -> dict[Verdict, int]:
    """(verdict, count) rows as a count per verdict."""
    return {Verdict(verdict): int(count) for verdict, count in rows}
