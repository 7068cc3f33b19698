"""The pieces every Kanari alert is built from: the :class:`Alert` record, the thresholds shared by
the alert groups, and the PromQL and template fragments they repeat."""

from __future__ import annotations

import dataclasses
from typing import Any

from probe.config.loader import KanariConfig
from probe.render import recording
from probe.render.durations import prom_duration
from probe.render.links import Dashboard, dashboard_url, runbook_url
from probe.render.promql import ROUTE_KEY, on, selector, window

PROBE_WIDE = "all"
"""The ``channel`` label of alerts about the probe itself rather than one channel."""

# The SLO behind the burn-rate alerts is ``alerting.slo_target`` (default 99 % on both channels): the
# share of judged canaries (delivered, lost or failed; not unknown, not failed on the probe's own side)
# delivered by their deadline over 30 days. At 99 %, a 14.4x burn means one canary in seven lost across
# the country. Altinn's deadline already allows for office hours, so it gets the same default.
DEFAULT_SLO_TARGET = 0.99

# Losses a route must show in its loss window before a route alert fires: two, so one isolated lost or
# late canary never pages anyone.
ROUTE_LOSSES = 2

# A channel is only "down" when at least this many routes fail together (besides the configured
# share): with a single route, channel down and route down are the same thing, and the route alert
# names the hop.
CHANNEL_DOWN_MIN_ROUTES = 2

STATUS_SUMMARY = "{{ $labels.channel }}: Kanari cannot follow canaries ({{ $labels.target }} checks failing)"
VALUE = '{{ printf "%.0f" $value }}'
ROUTE = "{{ $labels.channel }}/{{ $labels.municipality }} {{ $labels.municipality_name }}"
ROUTE_LONG = (
    "the {{ $labels.channel }} route to {{ $labels.municipality_name }} ({{ $labels.municipality }}, "
    "vendor {{ $labels.vendor }})"
)


@dataclasses.dataclass(frozen=True)
class Alert:
    """One alerting rule before rendering."""

    name: str
    expr: str
    for_: float | None
    labels: dict[str, str]
    summary: str
    description: str
    dashboard: Dashboard
    variable: str | None = None
    extra_annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    """Annotations besides the four every alert has (the loss alerts' exposure window)."""

    def rule(self, config: KanariConfig) -> dict[str, Any]:
        """The rule as it appears in the rule file."""
        alerting = config.settings.alerting
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ is not None:
            rule["for"] = prom_duration(self.for_)
        rule["labels"] = dict(sorted(self.labels.items()))
        rule["annotations"] = {
            "dashboard_url": dashboard_url(alerting, self.dashboard, self.variable),
            "description": self.description,
            "runbook_url": runbook_url(alerting, self.name),
            "summary": self.summary,
        }
        rule["annotations"] = dict(sorted({**rule["annotations"], **self.extra_annotations}.items()))
        return rule


def with_names(expr: str) -> str:
    """Join ``municipality_name`` onto a per-route expression (its value is unchanged: info is 1)."""
    return (
        f"(\n{indent(expr)}\n)\n* {on(*ROUTE_KEY)} group_left (municipality_name)\n  {recording.ROUTE_NAMES}"
    )


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def increase(metric: str, matchers: list[str], seconds: float) -> str:
    return f"increase({selector(metric, *matchers)}{window(seconds)})"


def recording_labels() -> tuple[str, ...]:
    """The labels identifying a route's series."""
    return ("channel", "municipality", "vendor")
