"""YAML files with the line of every value, so errors can point at ``file:line``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from probe.errors import ConfigError

Location = tuple[str | int, ...]


@dataclasses.dataclass
class YamlDocument:
    """One parsed YAML file: its data and the 1-based line of each value by its path."""

    name: str
    data: Any
    lines: dict[Location, int]

    def where(self, location: Location) -> str:
        """``file:line`` for the deepest known part of ``location`` (just ``file`` if none)."""
        for end in range(len(location), 0, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return f"{self.name}:{line}"
        return self.name

    def errors_from(self, error: ValidationError) -> list[ConfigError]:
        """One :class:`ConfigError` per pydantic error, naming file:line, the field and the value."""
        found: list[ConfigError] = []
        for detail in error.errors(include_url=False):
            # pydantic adds the tag of a validator or union member to the location; drop what is not
            # a real key in the document so the field path reads as the user wrote it.
            location = tuple(part for part in detail["loc"] if not str(part).startswith("function-"))
            field = ".".join(str(part) for part in location) or "(document)"
            value = detail.get("input")
            if detail["type"] == "missing":
                value = None
            message = str(detail["msg"]).removeprefix("Value error, ")
            if detail["type"] == "extra_forbidden":
                message = "unknown field (a typo?)"
            found.append(ConfigError(self.where(location), field, _printable(field, value), message))
        return found


def _printable(field: str, value: Any) -> Any:
    # A validation error on a secret field must not echo what was typed there.
    if any(word in field for word in ("passord", "password", "token", "secret")) and isinstance(value, str):
        return "<redacted>"
    if isinstance(value, dict | list):
        return "<" + type(value).__name__ + ">"
    return value


def read_yaml(directory: Path, name: str, errors: list[ConfigError]) -> YamlDocument | None:
    """Parse ``directory/name``; a missing, unreadable or malformed file becomes an error with its line."""
    path = Path(name) if Path(name).is_absolute() else directory / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(ConfigError(name, "(file)", str(path), "file does not exist"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        errors.append(ConfigError(name, "(file)", str(path), f"cannot read: {error}"))
        return None
    return parse_yaml(text, name, errors)


def parse_yaml(text: str, name: str, errors: list[ConfigError]) -> YamlDocument | None:
    """Parse YAML text named ``name``; malformed YAML becomes one error with its line and column."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{name}:{mark.line + 1}" if mark else name
        column = f" column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "malformed YAML"
        context = error.context_mark
        started = (
            f" ({error.context} at line {context.line + 1})"
            if context is not None and error.context and context is not mark
            else ""
        )
        errors.append(ConfigError(where, "(yaml)", None, f"malformed YAML at{column}: {problem}{started}"))
        return None
    except yaml.YAMLError as error:
        errors.append(ConfigError(name, "(yaml)", None, f"malformed YAML: {error}"))
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.append(ConfigError(name, "(document)", type(data).__name__, "must be a mapping of fields"))
        return None
    lines: dict[Location, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return YamlDocument(name, data, lines)


def _collect_lines(node: yaml.Node, location: Location, lines: dict[Location, int]) -> None:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: str | int = key_node.value
            lines[(*location, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*location, key), lines)
            lines[(*location, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, (*location, index), lines)
