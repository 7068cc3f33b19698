"""Every PromQL expression Kanari ships, extracted from the rule file and the dashboards.

For the end-to-end test against a real Prometheus (and for the parse test here)::

    from tests.render.promql import all_expressions, DEFAULT_VARIABLES

    for expression in all_expressions(ROOT):
        query = expression.concrete({"vendor": "example-vendor", "municipality": "4601"})
        ...  # GET /api/v1/query?query=<query>; expression.where says where it came from

Dashboard variables (``$__rate_interval``, ``$__range``, ``$vendor``, ``${municipality}`` ...) must be
replaced before Prometheus can run an expression: :meth:`Expression.concrete` does that with
:data:`DEFAULT_VARIABLES` overridden by what you pass.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

RULES = Path("config/prometheus/alerts.yml")
DASHBOARDS = Path("dashboards")

DEFAULT_VARIABLES: dict[str, str] = {
    # Grafana's built-ins: $__rate_interval is at least four scrape intervals; $__range is the picker.
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "datasource": "prometheus",
    "vendor": "example-vendor",
    "municipality": "4601",
    "job": "kanari",
    "instance": ".*",
}


@dataclasses.dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it is used."""

    source: str
    """File it came from, relative to the repository root."""
    where: str
    """Human-readable location: the rule (``alert KanariChannelDown``) or the panel and query."""
    kind: str
    """``rule`` (recording or alerting rule), ``panel`` (a panel query) or ``variable``."""
    expr: str
    """As written, possibly with dashboard variables."""
    panel: str | None = None
    """The panel title, for panel queries."""

    def concrete(self, variables: Mapping[str, str] | None = None) -> str:
        """The expression with every dashboard variable substituted."""
        return substitute(self.expr, {**DEFAULT_VARIABLES, **(variables or {})})


_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """Replace ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]``; unknown names raise
    ``KeyError`` so a test notices a variable nobody defined."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return variables[name]

    return _VARIABLE.sub(replace, expr)


def rule_expressions(root: Path, path: Path = RULES) -> list[Expression]:
    """Every recording and alerting rule's expression in the rule file at ``root / path``."""
    document = yaml.safe_load((root / path).read_text(encoding="utf-8"))
    found = []
    for group in document["groups"]:
        for rule in group["rules"]:
            name = f"alert {rule['alert']}" if "alert" in rule else f"record {rule['record']}"
            found.append(Expression(str(path), f"group {group['name']} / {name}", "rule", rule["expr"]))
    return found


def _variable_expr(query: Any) -> str | None:
    text = query.get("query", "") if isinstance(query, dict) else str(query)
    for function in ("label_values", "query_result"):
        if text.startswith(f"{function}(") and text.endswith(")"):
            inner = text[len(function) + 1 : -1]
            if function == "label_values":
                # label_values(expr, label): the expression is everything before the last comma.
                inner, _, _ = inner.rpartition(",")
            return inner.strip() or None
    return None


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_expressions(root: Path, path: Path) -> list[Expression]:
    """Every panel query and query-variable expression of the dashboard at ``root / path``."""
    model = json.loads((root / path).read_text(encoding="utf-8"))
    found = []
    for variable in model.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            expr = _variable_expr(variable.get("query"))
            if expr:
                found.append(Expression(str(path), f"variable {variable['name']}", "variable", expr))
    for panel in _panels(model.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                found.append(
                    Expression(
                        str(path),
                        f"panel {panel['title']!r} / {target['refId']}",
                        "panel",
                        target["expr"],
                        panel=panel["title"],
                    )
                )
    return found


def all_expressions(root: Path) -> list[Expression]:
    """The rules' expressions, then every dashboard's (``dashboards/*.json``, by file name)."""
    found = rule_expressions(root)
    for path in sorted((root / DASHBOARDS).glob("*.json")):
        found += dashboard_expressions(root, path.relative_to(root))
    return found


def as_rule_file(expressions: list[Expression], variables: Mapping[str, str] | None = None) -> str:
    """A rule file recording every expression (``kanari_parse_check:expr_<n>``), for
    ``promtool check rules``, which parses each one."""
    rules = [
        {"record": f"kanari_parse_check:expr_{index}", "expr": expression.concrete(variables)}
        for index, expression in enumerate(expressions)
    ]
    return yaml.safe_dump({"groups": [{"name": "parse-check", "rules": rules}]}, sort_keys=False)
