"""The status page's and the learned deadlines' reads on the PostgreSQL ledger (:mod:`probe.ledger.
history` holds the queries): mixed into :class:`probe.ledger.postgres.PostgresLedger`, which gives the
connection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from probe.errors import LedgerError
from probe.hops import Channel, Verdict
from probe.ledger import history
from probe.ledger.rows import from_row
from probe.lifecycle.record import CanaryRecord


def first_line(error: BaseException) -> str:
    """The first line of a database error's text (its detail lines may quote values)."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class PostgresHistory:
    """Reads of a route's history, over the connection :meth:`_connection` gives."""

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        raise NotImplementedError  # pragma: no cover - PostgresLedger's own

    def _bound(self, query: str, parameters: tuple[object, ...] = ()) -> list[dict[str, Any]]:
        try:
            return self._connection().execute(query, parameters or None).fetchall()
        except psycopg.Error as error:
            raise LedgerError(f"ledger read failed: {first_line(error)}") from None

    def latest_verdicts(self) -> dict[tuple[Channel, str], Verdict]:
        """Each route's newest verdict (:mod:`probe.ledger.history`)."""
        rows = self._bound(history.POSTGRES_LATEST_VERDICTS)
        return {(Channel(row["channel"]), row["municipality"]): Verdict(row["verdict"]) for row in rows}

    def recent_canaries(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` canaries, newest first (:mod:`probe.ledger.history`)."""
        rows = self._bound(history.POSTGRES_RECENT, (channel.value, municipality, limit))
        return [from_row(row) for row in rows]

    def delivered_history(self, channel: Channel, municipality: str, limit: int) -> list[CanaryRecord]:
        """A route's newest ``limit`` delivered canaries, newest first (:mod:`probe.ledger.history`)."""
        rows = self._bound(history.POSTGRES_DELIVERED, (channel.value, municipality, limit))
        return [from_row(row) for row in rows]

    def verdict_counts(
        self, routes: Iterable[tuple[Channel, str]], since: float
    ) -> dict[tuple[Channel, str], dict[Verdict, int]]:
        """Per route: its canaries created since ``since`` by verdict (:mod:`probe.ledger.history`)."""
        return {
            (channel, municipality): history.tally(
                (row["verdict"], row["n"])
                for row in self._bound(history.POSTGRES_VERDICTS, (channel.value, municipality, since))
            )
            for channel, municipality in routes
        }
