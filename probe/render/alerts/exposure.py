"""The open incident's exposure window in a route alert's annotations (DESIGN section 7).

A municipality paged about a broken route must learn which real reports may be lost and until when KS
still holds them. The probe exports both per route while an incident is open
(``kanari_incident_exposure_start_timestamp_seconds`` and
``kanari_incident_retained_until_timestamp_seconds``); the annotations look them up with Prometheus'
``query`` template function, keyed by the alert's own ``channel`` and ``municipality``. The job matcher
is added to the looked-up selectors like to every expression
(:func:`probe.render.alerts.rules.rule_groups`), so the annotation reads this deployment's incident.

With no open incident (the gauges absent) the lookups expand to nothing: the description reads as
before and the two annotations are empty.
"""

from __future__ import annotations

from probe.hops import Channel
from probe.render.promql import ROUTE_KEY, selector

EXPOSURE_START = "kanari_incident_exposure_start_timestamp_seconds"
"""Start of the open incident's exposure window (the send time of the last canary delivered before it)."""
RETAINED_UNTIL = "kanari_incident_retained_until_timestamp_seconds"
"""Until when KS keeps the reports sent in the window (its start plus ``ks_retention``)."""

# Go time layouts: RFC 3339 in the annotations scripts read (exact to the second, parseable by
# datetime.fromisoformat), minutes in the sentence people read. toTime gives UTC, so MST reads "UTC".
MACHINE_LAYOUT = "2006-01-02T15:04:05Z07:00"
HUMAN_LAYOUT = "2006-01-02 15:04 MST"


def _lookup(metric: str, body: str) -> str:
    """``body`` expanded with ``.`` set to the route's series of ``metric``, or nothing when it has none.

    The selector is a Go raw string (backquotes), so its label values' quotes need no escaping; ``%q``
    quotes the alert's labels as PromQL strings."""
    matchers = [f"{label}=%q" for label in ROUTE_KEY]
    labels = " ".join(f"$labels.{label}" for label in ROUTE_KEY)
    return f"{{{{ with printf `{selector(metric, *matchers)}` {labels} | query }}}}{body}{{{{ end }}}}"


def _time(layout: str) -> str:
    """The first looked-up sample's value (a Unix timestamp) formatted with the Go ``layout``."""
    return f'{{{{ (. | first | value | toTime).Format "{layout}" }}}}'


def incident_annotations() -> dict[str, str]:
    """``exposure_start`` and ``ks_retained_until``: RFC 3339 UTC timestamps, empty with no open
    incident."""
    return {
        "exposure_start": _lookup(EXPOSURE_START, _time(MACHINE_LAYOUT)),
        "ks_retained_until": _lookup(RETAINED_UNTIL, _time(MACHINE_LAYOUT)),
    }


def sentence(channel: Channel) -> str:
    """What the description adds while the route has an open incident (with a leading space).

    The retention date is KS's on the portal, where KS keeps every report it forwarded; on Altinn the
    messages stay in the municipality's inbox, and the date is the incident's own retention date."""
    retention = {
        Channel.PORTAL: "; KS holds them until {time}: compare KS's list with the fagsystem before then",
        Channel.ALTINN: "; they stay in the municipality's Altinn inbox (the incident's retention date is "
        "{time}): open them there",
    }[channel]
    retained = _lookup(RETAINED_UNTIL, retention.format(time=_time(HUMAN_LAYOUT)))
    return _lookup(
        EXPOSURE_START,
        f" Real reports sent on this route since {_time(HUMAN_LAYOUT)} may be lost (the open incident's "
        f"exposure window){retained}.",
    )
