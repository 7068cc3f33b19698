"""The links every alert carries: its runbook section and the dashboard to open first.

One pattern each, so a test can check that every alert's runbook anchor exists:

- ``runbook_url = <alerting.runbook_url>#<alertname in lower-kebab-case>``; ``docs/runbooks.md`` has a
  heading per alert whose GitHub anchor is exactly that.
- ``dashboard_url = <alerting.dashboard_url>/<dashboard uid>[?var-<name>=<label>]``, with the dashboard's
  variable set from the alert's labels where it has one (Grafana opens ``/d/<uid>`` without a slug).
"""

from __future__ import annotations

import enum
import re

from probe.config.models import AlertingSettings


class Dashboard(enum.StrEnum):
    """The shipped dashboards by their stable ``uid`` (links in alerts and runbooks depend on them)."""

    OVERVIEW = "kanari-overview"
    VENDOR = "kanari-vendor"
    MUNICIPALITY = "kanari-municipality"
    PROBE = "kanari-probe"


def kebab(name: str) -> str:
    """``KanariRouteLosingCanaries`` → ``kanari-route-losing-canaries``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def runbook_url(alerting: AlertingSettings, alertname: str) -> str:
    """The runbook link of ``alertname``."""
    return f"{alerting.runbook_url}#{kebab(alertname)}"


def dashboard_url(alerting: AlertingSettings, dashboard: Dashboard, variable: str | None = None) -> str:
    """The dashboard link, with ``var-<variable>`` set from the alert label of the same name."""
    url = f"{alerting.dashboard_url.rstrip('/')}/{dashboard.value}"
    if variable is not None:
        url += f"?var-{variable}={{{{ $labels.{variable} }}}}"
    return url
