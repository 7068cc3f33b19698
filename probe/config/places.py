"""What the checks share: how a place is named (a line of a file, or the ``KANARI_`` variable that
overrides it) and how a value is shown as it was written."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from probe.config.environment import environment_variable_for, setting_path
from probe.config.yamlfile import Location, YamlDocument

SETTINGS_FILE = "kanari.yaml"
VENDORS_FILE = "vendors.yaml"

Where = Callable[[Location], str]


def where_in(document: YamlDocument | None, fallback: str) -> Where:
    """``file:line`` of a location in ``document``, or just ``fallback`` when there is no document."""
    if document is None:
        return lambda _location: fallback
    return document.where


@dataclasses.dataclass(frozen=True)
class SettingsOrigin:
    """Where each value of ``kanari.yaml``'s settings comes from: a line of the file, or the ``KANARI_``
    variable that overrides it. Every check of the settings names the place through this, so an error in
    a value set by ``KANARI_CHANNELS__PORTAL__DEADLINE`` names that variable, not the file's line."""

    document: YamlDocument | None
    # Only the variables that name a setting (see environment.split_overrides).
    environ: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def variable(self, location: Location) -> str | None:
        """``environment variable NAME`` if a variable supplies ``location``, else ``None``."""
        name = environment_variable_for(location, self.environ, self._has_section)
        return f"environment variable {name}" if name else None

    def where(self, location: Location) -> str:
        """The variable that supplies ``location``, else ``kanari.yaml:line``."""
        return self.variable(location) or where_in(self.document, SETTINGS_FILE)(location)

    def written(self, location: Location) -> str | None:
        """The value at ``location`` as written: in the variable, or in the file."""
        name = environment_variable_for(location, self.environ, self._has_section)
        if name is not None:
            return self.environ[name] if len(location) == len(setting_path(name)) else None
        return self.document.written(location) if self.document else None

    def _has_section(self, location: Location) -> bool:
        # The file holds a mapping of its own at ``location`` (a key with no scalar value, or the top).
        if not location:
            return True
        document = self.document
        return document is not None and location in document.lines and document.written(location) is None


def dotted(*parts: str | int) -> str:
    """A field path as written in messages: ``channels.portal.deadline``, ``vendors[2].readback``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
