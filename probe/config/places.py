"""What the checks share: how a place is named, how durations are shown."""

from __future__ import annotations

from collections.abc import Callable

from probe.config.types import format_duration
from probe.config.yamlfile import Location, YamlDocument

SETTINGS_FILE = "kanari.yaml"
VENDORS_FILE = "vendors.yaml"

Where = Callable[[Location], str]


def where_in(document: YamlDocument | None, fallback: str) -> Where:
    """``file:line`` of a location in ``document``, or just ``fallback`` when there is no document."""
    if document is None:
        return lambda _location: fallback
    return document.where


def human(seconds: float) -> str:
    """A duration as an operator writes it: ``30s``, ``10m``, ``1h30m`` (``0.5s`` below a second)."""
    if seconds >= 1 and float(seconds).is_integer():
        return format_duration(seconds)
    return f"{seconds:g}s"


def dotted(*parts: str | int) -> str:
    """A field path as written in messages: ``channels.portal.deadline``, ``vendors[2].readback``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
