"""Every PromQL expression shipped (rules and dashboards) at least parses, after the dashboard
variables are substituted. The end-to-end test runs the same expressions against a real Prometheus."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT
from tests.render.conftest import run
from tests.render.promql import DEFAULT_VARIABLES, all_expressions, as_rule_file, substitute


def test_extraction_finds_rules_dashboards_and_variables() -> None:
    expressions = all_expressions(ROOT)
    kinds = {expression.kind for expression in expressions}
    assert kinds == {"rule", "panel", "variable"}
    sources = {expression.source for expression in expressions}
    assert "config/prometheus/alerts.yml" in sources
    assert {
        f"dashboards/kanari-{name}.json" for name in ("overview", "vendor", "municipality", "probe")
    } <= sources
    for expression in expressions:
        assert "$" not in expression.concrete(), expression.where


def test_substitution_covers_every_form() -> None:
    text = 'rate(x{v="$vendor",m="${municipality}",d="${datasource:text}"}[$__rate_interval]) [[__range]]'
    assert substitute(text, DEFAULT_VARIABLES) == (
        'rate(x{v="example-vendor",m="4601",d="prometheus"}[1m]) 1h'
    )


def test_every_expression_parses(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "parse.yml"
    path.write_text(as_rule_file(all_expressions(ROOT)), encoding="utf-8")
    result = run([promtool, "check", "rules", "--lint=none", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr
