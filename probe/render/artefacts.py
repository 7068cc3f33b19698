"""The generated files, where they are committed, and writing or checking them.

``kanari render`` writes them and ``kanari render --check`` (CI) compares a fresh render with what is
committed, failing with a diff on any difference (the kubernetes-mixin habit: artefacts as code).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
from pathlib import Path

from probe.config.loader import KanariConfig
from probe.render.alertmanager import SinkUrl, render_alertmanager
from probe.render.alerts import render_rules
from probe.render.dashboards import render_dashboards
from probe.render.timing import PRODUCTION, Timing

ALERTS_PATH = Path("config/prometheus/alerts.yml")
ALERTMANAGER_PATH = Path("config/alertmanager/alertmanager.yml")
DASHBOARDS_DIR = Path("dashboards")


class Kind(enum.StrEnum):
    """What ``kanari render`` can generate."""

    ALERTS = "alerts"
    ALERTMANAGER = "alertmanager"
    DASHBOARDS = "dashboards"


@dataclasses.dataclass(frozen=True)
class Artefact:
    """One generated file: where it goes and its text."""

    path: Path
    text: str


def render(
    kind: Kind,
    config: KanariConfig,
    target: Path | None = None,
    timing: Timing = PRODUCTION,
    sink: SinkUrl | None = None,
) -> list[Artefact]:
    """The files of ``kind``. ``target`` is the output file (alerts, alertmanager) or directory
    (dashboards); by default the committed location relative to the working directory."""
    if kind is Kind.ALERTS:
        return [Artefact(target or ALERTS_PATH, render_rules(config, timing))]
    if kind is Kind.ALERTMANAGER:
        return [Artefact(target or ALERTMANAGER_PATH, render_alertmanager(config, timing, sink))]
    directory = target or DASHBOARDS_DIR
    return [Artefact(directory / name, text) for name, text in sorted(render_dashboards(config).items())]


def render_all(config: KanariConfig, root: Path = Path()) -> list[Artefact]:
    """Every committed file, under ``root`` (the repository root)."""
    return [
        *render(Kind.ALERTS, config, root / ALERTS_PATH),
        *render(Kind.ALERTMANAGER, config, root / ALERTMANAGER_PATH),
        *render(Kind.DASHBOARDS, config, root / DASHBOARDS_DIR),
    ]


def write(artefacts: list[Artefact]) -> None:
    """Write every artefact (creating directories); unchanged files are left untouched."""
    for artefact in artefacts:
        if artefact.path.is_file() and artefact.path.read_text(encoding="utf-8") == artefact.text:
            continue
        artefact.path.parent.mkdir(parents=True, exist_ok=True)
        artefact.path.write_text(artefact.text, encoding="utf-8")


def drift(artefacts: list[Artefact]) -> list[str]:
    """A unified diff per artefact whose file differs from its fresh render (missing counts as empty)."""
    diffs = []
    for artefact in artefacts:
        current = artefact.path.read_text(encoding="utf-8") if artefact.path.is_file() else ""
        if current == artefact.text:
            continue
        lines = difflib.unified_diff(
            current.splitlines(keepends=True),
            artefact.text.splitlines(keepends=True),
            fromfile=f"{artefact.path} (committed)",
            tofile=f"{artefact.path} (fresh render)",
        )
        diffs.append("".join(lines))
    return diffs
