"""Building blocks of a Grafana dashboard JSON model (schemaVersion 39).

Every panel and every query uses the ``datasource`` template variable (``${datasource}``), never an
import placeholder (``${DS_...}``), so the files work both when provisioned and when imported. Every
query is confined to the ``job`` variable (the scrape job, default ``alerting.job``) and, for the raw
series, the ``instance`` variable (one replica or all): :func:`~probe.render.promql.scoped` adds the
matchers, so no query can forget them. Panels are laid out left to right in rows of 24 grid units by
:class:`Layout`, and numbered in order, so ids and positions are stable from one render to the next.

Links between the dashboards are relative (``d/<uid>?...``, no leading slash): Grafana's page carries
``<base href>`` with its sub-path, so they work under ``https://host/grafana/`` too, and they carry the
time range (``${__url_time_range}``), the datasource, the job and the instance.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from probe.render.dashboards.variables import (
    DATASOURCE,
    INSTANCE,
    JOB,
    datasource_variable,
    scope_variables,
)
from probe.render.promql import scoped

SCHEMA_VERSION = 39
GRID_WIDTH = 24
# Passed on by every link between the dashboards.
CONTEXT = "${__url_time_range}&${datasource:queryparam}&${job:queryparam}&${instance:queryparam}"


def link(uid: str, variable: str | None = None, value: str = "${__value.raw}") -> str:
    """A link to dashboard ``uid`` keeping sub-path, time range, datasource, job and instance, with
    ``var-<variable>=<value>`` (by default the clicked cell's value)."""
    chosen = f"var-{variable}={value}&" if variable else ""
    return f"d/{uid}?{chosen}{CONTEXT}"


@dataclasses.dataclass(frozen=True)
class Query:
    """One PromQL query of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False

    def target(self, ref_id: str) -> dict[str, Any]:
        """The Grafana target: the expression confined to the selected job and instances (recorded
        series have no instance: they are per job)."""
        return {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": scoped(self.expr, [JOB, INSTANCE], [JOB]),
            "format": "table" if self.table else "time_series",
            "instant": self.instant,
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "refId": ref_id,
        }


def _targets(queries: list[Query]) -> list[dict[str, Any]]:
    return [query.target(chr(ord("A") + index)) for index, query in enumerate(queries)]


def _base(kind: str, title: str, description: str, queries: list[Query]) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "description": description,
        "targets": _targets(queries),
        "title": title,
        "type": kind,
    }


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    """Absolute thresholds: ``(None, "green"), (0.99, "red")`` means green below 0.99, red above."""
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def timeseries(
    title: str,
    description: str,
    queries: list[Query],
    *,
    unit: str = "short",
    min_interval: str | None = None,
    stack: bool = False,
    bars: bool = False,
) -> dict[str, Any]:
    """A time series panel. ``min_interval`` raises ``$__rate_interval`` for sparse canary counters:
    a route sends one canary per interval, so a one-minute rate is mostly zero."""
    panel = _base("timeseries", title, description, queries)
    panel["fieldConfig"] = {
        "defaults": {
            "custom": {
                "drawStyle": "bars" if bars else "line",
                "fillOpacity": 60 if bars else 10,
                "lineWidth": 1,
                "showPoints": "never",
                "spanNulls": False,
                "stacking": {"group": "A", "mode": "normal" if stack else "none"},
            },
            "min": 0,
            "unit": unit,
        },
        "overrides": [],
    }
    panel["options"] = {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    if min_interval is not None:
        panel["interval"] = min_interval
    return panel


def stat(
    title: str,
    description: str,
    queries: list[Query],
    *,
    unit: str = "short",
    steps: dict[str, Any] | None = None,
    mappings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A stat panel showing the last value of each series."""
    panel = _base("stat", title, description, queries)
    panel["fieldConfig"] = {
        "defaults": {
            "mappings": mappings or [],
            "thresholds": steps or thresholds((None, "text")),
            "unit": unit,
        },
        "overrides": [],
    }
    panel["options"] = {
        "colorMode": "background" if steps else "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    }
    return panel


@dataclasses.dataclass(frozen=True)
class Column:
    """A value column of a table merged from several instant queries (``Value #B`` and so on)."""

    query: Query
    name: str
    unit: str = "short"
    steps: dict[str, Any] | None = None
    mappings: list[dict[str, Any]] | None = None


def table(
    title: str,
    description: str,
    keys: Query,
    columns: list[Column],
    *,
    hide: tuple[str, ...] = (),
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A table with one row per series of ``keys`` (its labels become columns, its value is hidden)
    and one column per :class:`Column`, joined on the shared labels by Grafana's *merge*.

    ``links`` maps a column name to a data link URL (``${__value.raw}`` is the cell's value).
    """
    queries = [dataclasses.replace(keys, instant=True, table=True)] + [
        dataclasses.replace(column.query, instant=True, table=True) for column in columns
    ]
    panel = _base("table", title, description, queries)
    if not columns:
        raise ValueError("a table needs at least one value column")
    names = {f"Value #{chr(ord('B') + index)}": column.name for index, column in enumerate(columns)}
    excluded = {"Time": True, "Value #A": True} | dict.fromkeys(hide, True)
    panel["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": excluded, "renameByName": names}},
    ]
    overrides: list[dict[str, Any]] = []
    for column in columns:
        properties: list[dict[str, Any]] = [{"id": "unit", "value": column.unit}]
        if column.steps is not None:
            properties += [
                {"id": "thresholds", "value": column.steps},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            ]
        if column.mappings is not None:
            properties.append({"id": "mappings", "value": column.mappings})
        overrides.append({"matcher": {"id": "byName", "options": column.name}, "properties": properties})
    for name, url in sorted((links or {}).items()):
        overrides.append(
            {
                "matcher": {"id": "byName", "options": name},
                "properties": [{"id": "links", "value": [{"title": "Open", "url": url}]}],
            }
        )
    panel["fieldConfig"] = {"defaults": {"custom": {"filterable": True}}, "overrides": overrides}
    panel["options"] = {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True}
    return panel


def none_row(label: str, text: str = "none") -> str:
    """``or`` a one-row stand-in for an empty table (``label`` reads ``text``, the value 0), appended to
    a table's query: "none firing" instead of Grafana's "No data", which also shows when the query
    fails. ``on ()`` keeps it out whenever the query has any row."""
    return f'or on () label_replace(vector(0), "{label}", "{text}", "", "")'


def value_text(mapping: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """A value mapping from exact values to (text, colour)."""
    return [
        {
            "options": {
                value: {"color": color, "index": index, "text": text}
                for index, (value, (text, color)) in enumerate(sorted(mapping.items()))
            },
            "type": "value",
        }
    ]


class Layout:
    """Places panels left to right, wrapping to a new row at 24 units, and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_height = 0

    def row(self, title: str) -> None:
        """Start a new titled row."""
        self._newline()
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self._y},
                "id": len(self.panels) + 1,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self._y += 1

    def add(self, panel: dict[str, Any], width: int, height: int) -> None:
        """Add ``panel`` ``width`` units wide and ``height`` high."""
        if self._x + width > GRID_WIDTH:
            self._newline()
        self.panels.append(
            {
                **panel,
                "gridPos": {"h": height, "w": width, "x": self._x, "y": self._y},
                "id": len(self.panels) + 1,
            }
        )
        self._x += width
        self._row_height = max(self._row_height, height)

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_height
        self._x = 0
        self._row_height = 0


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    *,
    job: str,
    variables: list[dict[str, Any]] | None = None,
    time_from: str = "now-24h",
) -> dict[str, Any]:
    """A complete dashboard: UTC, the datasource, job and instance variables first, links to the other
    Kanari dashboards (keeping the time range and the variables)."""
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["kanari"],
                "title": "Kanari dashboards",
                "type": "dashboards",
            }
        ],
        "panels": layout.panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["kanari"],
        "templating": {"list": [datasource_variable(), *scope_variables(job), *(variables or [])]},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def series_table(
    title: str, description: str, query: Query, value_name: str, *, unit: str = "short"
) -> dict[str, Any]:
    """A table of one instant query: one row per series, its labels as columns, its value renamed,
    the largest value first (the rows that matter on top of the zeros)."""
    panel = _base("table", title, description, [dataclasses.replace(query, instant=True, table=True)])
    panel["transformations"] = [
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True}, "renameByName": {"Value": value_name}},
        }
    ]
    panel["fieldConfig"] = {
        "defaults": {"custom": {"filterable": True}},
        "overrides": [
            {
                "matcher": {"id": "byName", "options": value_name},
                "properties": [{"id": "unit", "value": unit}],
            }
        ],
    }
    panel["options"] = {
        "cellHeight": "sm",
        "footer": {"show": False},
        "showHeader": True,
        "sortBy": [{"desc": True, "displayName": value_name}],
    }
    return panel
