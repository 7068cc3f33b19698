"""The template variables of the dashboards: the datasource, the scrape job and instance every query
selects (:data:`JOB`, :data:`INSTANCE`), and query variables (vendor, municipality)."""

from __future__ import annotations

from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job="$job"'
"""The matcher of the selected scrape job."""
INSTANCE = 'instance=~"$instance"'
"""The matcher of the selected replicas (all by default)."""


def datasource_variable() -> dict[str, Any]:
    """The ``datasource`` variable every panel uses."""
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def query_variable(
    name: str,
    label: str,
    query: str,
    regex: str = "",
    *,
    default: str | None = None,
    every: bool = False,
) -> dict[str, Any]:
    """A variable filled from Prometheus (``label_values(...)`` or ``query_result(...)``): one value
    (``default`` first), or with ``every`` any number of them and "All" (the regex ``.*``)."""
    current = {"selected": True, "text": default, "value": default} if default is not None else {}
    if every:
        current = {"selected": True, "text": ["All"], "value": ["$__all"]}
    variable: dict[str, Any] = {
        "current": current,
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": every,
        "label": label,
        "multi": every,
        "name": name,
        "options": [],
        # The classic string form (label_values(...), query_result(...)), which every Grafana version
        # since 5 reads and newer ones migrate to their structured editor on load.
        "query": query,
        "refresh": 2,
        "regex": regex,
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }
    if every:
        variable["allValue"] = ".*"
    return variable


def scope_variables(job: str) -> list[dict[str, Any]]:
    """The ``job`` variable (default: the configured scrape job) and the ``instance`` variable (every
    replica by default), which every query of every dashboard selects."""
    return [
        query_variable("job", "Job", "label_values(kanari_build_info, job)", default=job),
        query_variable(
            "instance", "Instance", f"label_values(kanari_build_info{{{JOB}}}, instance)", every=True
        ),
    ]
