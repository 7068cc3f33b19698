"""Every alert's runbook anchor exists in docs/runbooks.md (GitHub-style heading anchors)."""

from __future__ import annotations

import re

from probe.config.loader import KanariConfig
from probe.render.alerts import rule_groups
from tests.conftest import ROOT

RUNBOOKS = ROOT / "docs" / "runbooks.md"


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", RUNBOOKS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {github_anchor(heading) for heading in headings}


def test_every_alert_has_a_runbook_section(config: KanariConfig) -> None:
    names = {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for group in rule_groups(config)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    available = anchors()
    for name, url in names.items():
        base, _, anchor = url.partition("#")
        assert base == config.settings.alerting.runbook_url
        assert anchor in available, f"{name}: docs/runbooks.md has no section with anchor #{anchor}"
        # The section names the alert, so a search for the alert name finds it too.
        assert f"`{name}`" in RUNBOOKS.read_text(encoding="utf-8")


def test_anchor_rules() -> None:
    assert github_anchor("Kanari route losing canaries") == "kanari-route-losing-canaries"
    assert github_anchor("Kanari watchdog") == "kanari-watchdog"
