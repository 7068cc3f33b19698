"""Grafana dashboards, one module each, rendered to ``dashboards/<uid>.json``.

- ``kanari-overview``: national overview (:mod:`.overview`)
- ``kanari-vendor``: vendor scorecard (:mod:`.vendor`)
- ``kanari-municipality``: municipality drill-down (:mod:`.municipality`)
- ``kanari-probe``: probe health (:mod:`.probe_health`)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from probe.config.loader import KanariConfig
from probe.render.dashboards import municipality, overview, probe_health, vendor
from probe.render.links import Dashboard
from probe.render.output import to_json

BUILDERS: dict[Dashboard, Callable[[KanariConfig], dict[str, Any]]] = {
    Dashboard.OVERVIEW: overview.build,
    Dashboard.VENDOR: vendor.build,
    Dashboard.MUNICIPALITY: municipality.build,
    Dashboard.PROBE: probe_health.build,
}


def dashboards(config: KanariConfig) -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model by file name (``kanari-overview.json``)."""
    return {f"{uid.value}.json": build(config) for uid, build in BUILDERS.items()}


def render_dashboards(config: KanariConfig) -> dict[str, str]:
    """Every dashboard file's text by file name."""
    return {name: to_json(model) for name, model in dashboards(config).items()}


__all__ = ["BUILDERS", "dashboards", "render_dashboards"]
