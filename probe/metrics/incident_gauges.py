"""The incident gauges of DESIGN section 4: ``kanari_incidents_open`` by blamed hop and owner, and, while
a route's incident is open, its exposure window's start and the date KS holds its reports until.

Each route has at most one open incident (:mod:`probe.lifecycle.incidents`). ``kanari_incidents_open``
is pre-created at 0 for every hop and owner a lost or failed canary on the route can be blamed on, so a
sum by owner reads 0 rather than nothing; the two timestamps exist only while the incident is open, so
an alert's annotation can show them and nothing shows a window that is over.
"""

from __future__ import annotations

from collections.abc import Mapping

from probe.config.routes import Route
from probe.hops import FAILURE_OWNER, HOPS, Channel, Hop, Owner, hops_of
from probe.lifecycle.incident import Incident
from probe.metrics.exposition import RouteSeries, Series

OPEN, START, RETAINED = "incidents_open", "incident_exposure_start", "incident_retained_until"


def blame_pairs(channel: Channel) -> list[tuple[Hop, Owner]]:
    """Every (hop, owner) a lost or failed canary on ``channel`` can be blamed on: each hop's owner, the
    upstream's explicit failure at any hop (:data:`~probe.hops.FAILURE_OWNER`), and the probe's own
    refused send."""
    pairs = set(HOPS[channel]) | {(hop, FAILURE_OWNER[channel]) for hop in hops_of(channel)}
    return sorted(pairs | {(Hop.ACCEPTED, Owner.OPS)})


def incident_children(route: Route) -> list[Series]:
    """The incident series a route has from the start: none open."""
    return [(OPEN, (hop.value, owner.value), 0.0) for hop, owner in blame_pairs(route.channel)]


class IncidentGauges:
    """Sets the incident gauges of the routes in ``routes`` (the metric set's configured routes, read
    live) on ``series``."""

    def __init__(self, series: RouteSeries, routes: Mapping[tuple[Channel, str], Route]) -> None:
        self._series = series
        self._routes = routes
        # The (hop, owner) each route's open incident is shown under.
        self._open: dict[tuple[Channel, str], tuple[str, str]] = {}

    def show(self, incident: Incident) -> None:
        """Show ``incident`` as it is now: open, or closed (its gauges back to none open)."""
        key = (incident.channel, incident.municipality)
        route = self._routes.get(key)
        if route is None or route.vendor != incident.vendor:
            return
        shown = self._open.pop(key, None)
        if shown is not None:
            self._series.set(key, OPEN, 0.0, shown)
        if not incident.open:
            self._series.discard(key, START)
            self._series.discard(key, RETAINED)
            return
        blamed = (incident.hop.value, incident.owner.value)
        self._open[key] = blamed
        self._series.set(key, OPEN, 1.0, blamed)
        self._series.set(key, START, incident.exposure_start)
        self._series.set(key, RETAINED, incident.retained_until)
