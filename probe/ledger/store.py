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

from probe.hops import Channel
from probe.ledger.rows import LedgerCount
from probe.lifecycle.record import CanaryRecord


class LedgerStore(Protocol):
    """The canary ledger as the engine uses it. ``writes`` and ``commits`` count rows written and
    transactions committed (the benchmark reads them)."""

    writes: int
    commits: int

    def save(self, records: Iterable[CanaryRecord], counts: Mapping[LedgerCount, int] | None = None) -> None:
        """Write ``records``, add ``counts`` to the counters and move ``route_latest``, in one
        transaction; a :class:`~probe.errors.LedgerError` if it could not be committed."""

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

    def counts(self) -> dict[LedgerCount, int]:
        """Every counter's total."""

    def close(self) -> None:
        """Close the connections (and give up what the ledger holds: its lock)."""
