"""What the engine asks of a ledger, whichever database holds it: the SQLite file
(:class:`probe.ledger.sqlite.Ledger`, one probe) or PostgreSQL (:class:`probe.ledger.postgres.
PostgresLedger`, replicas of which one leads).

Both keep the same guarantees: :meth:`LedgerStore.save` is one transaction (records, the counts they add
and ``route_latest``), committed before the engine moves a metric or lets a request leave; the restart
questions are answered from maintained tables, never from a scan of the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from probe.hops import Channel, Verdict
from probe.ledger.rows import LedgerCount
from probe.lifecycle.incident import Incident
from probe.lifecycle.incidents import RouteIncidents, TrackedIncident
from probe.lifecycle.record import CanaryRecord


class LedgerStore(Protocol):
    """The canary ledger as the engine uses it. ``writes`` and ``commits`` count rows written and
    transactions committed (the benchmark reads them)."""

    writes: int
    commits: int

    def save(
        self,
        records: Iterable[CanaryRecord],
        counts: Mapping[LedgerCount, int] | None = None,
        incidents: Iterable[TrackedIncident] = (),
    ) -> None:
        """Write ``records``, add ``counts`` to the counters, move ``route_latest`` and write the
        ``incidents`` their verdicts changed, in one transaction; a :class:`~probe.errors.LedgerError`
        if it could not be committed."""

    def incidents(
        self, *, open_only: bool = False, channel: Channel | None = None, municipality: str | None = None
    ) -> list[Incident]:
        """Incidents (DESIGN section 7), newest first: only open ones, of one channel, of one
        municipality. The one way other parts read incidents."""

    def incident_state(
        self, unresolved_since: Mapping[tuple[Channel, str], float]
    ) -> dict[tuple[Channel, str], RouteIncidents]:
        """Per route, what the engine needs at start to go on judging incidents; ``unresolved_since``
        is each route's oldest unresolved canary's send time (:mod:`probe.ledger.incidents_sql`)."""

    def canary(self, canary_id: str) -> CanaryRecord | None:
        """One canary by id (``kanari evidence``), or ``None``."""

    def open_records(self) -> list[CanaryRecord]:
        """Every canary that is not closed, oldest first."""

    def writable(self) -> bool:
        """True if a write could be committed now (``/readyz``)."""

    def connected(self) -> bool:
        """True if the database answers (a standby's readiness: it does not write)."""

    def last_created(self) -> dict[tuple[Channel, str], float]:
        """The newest canary's creation time per route."""

    def latest_versions(self) -> dict[tuple[Channel, str], str]:
        """The API version of each route's newest canary sent in one."""

    def newest_delivered(self) -> list[CanaryRecord]:
        """The newest delivered canary of each route."""

    def latest_per_route(self) -> dict[tuple[Channel, str], list[CanaryRecord]]:
        """Per route: its unresolved canaries and its newest resolved one, newest first (``status``)."""

    def latest_verdicts(self) -> dict[tuple[Channel, str], Verdict]:
        """Each route's newest verdict (the status page's national grid), without reading records."""

    def recent_canaries(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` canaries, newest first (the status page's timeline): one range of
        the route index."""

    def delivered_history(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` delivered canaries, newest first (what its learned deadlines are
        learned from again at start): one range of the route index."""

    def verdict_counts(
        self, routes: Iterable[tuple[Channel, str]], since: float
    ) -> dict[tuple[Channel, str], dict[Verdict, int]]:
        """Per route of ``routes``: how many canaries created since ``since`` got each verdict (the
        status page's delivered share over 7 and 30 days): one range of the route index per route."""

    def counts(self) -> dict[LedgerCount, int]:
        """Every counter's total."""

    def close(self) -> None:
        """Close the connections (and give up what the ledger holds: its lock)."""
