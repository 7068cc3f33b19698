"""The per-route metric families of DESIGN section 4 (served by :class:`~probe.metrics.exposition.
RouteSeries`) and the label sets they carry."""

from __future__ import annotations

from probe.lifecycle import counters
from probe.metrics.exposition import Family

# The label sets a route's series carry: its identity, its descriptive info, its timing.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "route": ("channel", "municipality", "vendor"),
    "info": ("channel", "municipality", "municipality_name", "county", "vendor", "final_hop", "api_version"),
    "timing": ("channel", "municipality"),
}

# Keyed by the counter names of :mod:`probe.lifecycle.counters` (the ledger's counters too), plus the
# gauges.
FAMILIES: dict[str, Family] = {
    counters.SENT: Family(
        "kanari_canaries_sent", "counter", "Canaries whose send attempt concluded.", "route"
    ),
    counters.SEND_FAILURES: Family(
        "kanari_send_failures",
        "counter",
        "Canary sends that failed, by bounded reason.",
        "route",
        ("reason",),
    ),
    counters.RESOLVED: Family(
        "kanari_canaries_resolved", "counter", "Canaries that reached a verdict.", "route", ("verdict",)
    ),
    counters.UNDELIVERED: Family(
        "kanari_undelivered",
        "counter",
        "Lost or failed canaries by the first hop they did not reach and its owner.",
        "route",
        ("hop", "owner"),
    ),
    counters.LATE_ARRIVALS: Family(
        "kanari_late_arrivals", "counter", "Lost canaries that turned up after their deadline.", "route"
    ),
    counters.REJECTIONS: Family(
        "kanari_rejections",
        "counter",
        "Canaries the upstream itself ended as failed: on the portal rejected by the fagsystem and "
        "sent as paper post, on Altinn status Failed.",
        "route",
    ),
    counters.DUPLICATES: Family(
        "kanari_duplicates", "counter", "Canaries registered more than once by the receiving system.", "route"
    ),
    counters.CLEANUP_FAILURES: Family(
        "kanari_cleanup_failures",
        "counter",
        "Canaries closed still visible at the vendor: it kept refusing to remove them.",
        "route",
    ),
    "last_delivery_seconds": Family(
        "kanari_last_delivery_seconds", "gauge", "Latency of the newest delivered canary.", "route"
    ),
    "last_delivered_timestamp": Family(
        "kanari_last_delivered_timestamp_seconds",
        "gauge",
        "When the newest delivered canary arrived.",
        "route",
    ),
    "route_info": Family(
        "kanari_route_info", "gauge", "One per monitored route, carrying its descriptive labels.", "info"
    ),
    "route_interval": Family(
        "kanari_route_interval_seconds",
        "gauge",
        "How often the route sends a canary (so alert thresholds can follow each route's own timing).",
        "timing",
    ),
    "route_deadline": Family(
        "kanari_route_deadline_seconds",
        "gauge",
        "How long after sending a canary on the route may take to reach each hop: learned from the route's "
        "delivered canaries, or the configured deadline (office seconds for a person's hop).",
        "timing",
        ("hop",),
    ),
    "route_silence_limit": Family(
        "kanari_route_silence_limit_seconds",
        "gauge",
        "How long, in wall-clock seconds from now, the route may go without a delivered canary before it "
        "counts as silent: the final hop's deadline as it falls now (across closed office hours for a "
        "person's hop) plus two send intervals and the route's normal latency (a delivery is learned at "
        "its canary's first check).",
        "timing",
    ),
    "overdue": Family(
        "kanari_overdue",
        "gauge",
        "Canaries past their route's usual latency to the hop they wait for, not seen there by a check "
        "made since, not yet past its deadline: a break forming.",
        "route",
        ("hop", "owner"),
    ),
    # Incidents (DESIGN section 7; set by probe.metrics.incident_gauges).
    "incidents_open": Family(
        "kanari_incidents_open",
        "gauge",
        "1 while the route has an open incident blamed on this hop and owner (from its first lost or failed "
        "canary to the next delivered one), else 0.",
        "route",
        ("hop", "owner"),
    ),
    "incident_exposure_start": Family(
        "kanari_incident_exposure_start_timestamp_seconds",
        "gauge",
        "Start of the open incident's exposure window: the send time of the route's last canary delivered "
        "before the break. Real reports sent on the route since may be lost. Only while an incident is open.",
        "route",
    ),
    "incident_retained_until": Family(
        "kanari_incident_retained_until_timestamp_seconds",
        "gauge",
        "Until when KS still holds the reports sent in the open incident's window (its start plus KS's "
        "retention, ks_retention): recover them before then. Only while an incident is open.",
        "route",
    ),
}
