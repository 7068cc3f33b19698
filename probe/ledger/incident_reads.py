"""The incident questions both ledgers answer the same way (``kanari incidents``, ``kanari evidence``,
the status page, a restart): the SQL is :mod:`probe.ledger.incidents_sql`'s, written once; each backend
only says how it runs a query (:meth:`IncidentReads._incident_rows`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from probe.hops import Channel
from probe.ledger import incidents_sql
from probe.ledger.rows import from_row
from probe.lifecycle.incident import Incident
from probe.lifecycle.incidents import RouteIncidents
from probe.lifecycle.record import CanaryRecord


class IncidentReads:
    """Incident reads over a backend's :meth:`_incident_rows`."""

    def _incident_rows(self, query: str, parameters: tuple[object, ...]) -> Sequence[Any]:
        """Rows of ``query`` (written with ``?`` placeholders) with ``parameters``."""
        raise NotImplementedError

    def incidents(
        self, *, open_only: bool = False, channel: Channel | None = None, municipality: str | None = None
    ) -> list[Incident]:
        """Incidents, newest first, optionally only open ones, of one channel or municipality."""
        query, parameters = incidents_sql.select(
            open_only=open_only, channel=channel, municipality=municipality
        )
        return [incidents_sql.from_row(row).incident for row in self._incident_rows(query, parameters)]

    def incident_state(
        self, unresolved_since: Mapping[tuple[Channel, str], float]
    ) -> dict[tuple[Channel, str], RouteIncidents]:
        """Each route's incident state at start (:func:`probe.ledger.incidents_sql.restore`)."""
        return incidents_sql.restore(self._incident_rows, unresolved_since)

    def canary(self, canary_id: str) -> CanaryRecord | None:
        """The canary ``canary_id``, or ``None`` if the ledger has none of that id."""
        found = self._incident_rows(incidents_sql.CANARY, (canary_id,))
        return from_row(found[0]) if found else None
