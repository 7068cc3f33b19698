"""YAML files with the line of every value, so errors can point at ``file:line``.

Besides the data, a :class:`YamlDocument` keeps the text each scalar was written as: YAML reads an
unquoted ``0301`` as the octal number 193, and an operator must be told what *they* wrote, not what
the parser made of it. Keys written twice in one mapping are errors (YAML silently keeps the last one,
so a second ``deadline:`` would quietly win).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from probe.config.messages import explain_validation_error
from probe.errors import ConfigError

Location = tuple[str | int, ...]


@dataclasses.dataclass
class YamlDocument:
    """One parsed YAML file: its data, the 1-based line of each value by its path, and the text each
    scalar was written as."""

    name: str
    data: Any
    lines: dict[Location, int]
    scalars: dict[Location, str] = dataclasses.field(default_factory=dict)

    def line(self, location: Location) -> int | None:
        """The line of the deepest known part of ``location``."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return None

    def where(self, location: Location) -> str:
        """``file:line`` for the deepest known part of ``location`` (just ``file`` if none)."""
        line = self.line(location)
        return f"{self.name}:{line}" if line is not None else self.name

    def written(self, location: Location) -> str | None:
        """The text of the scalar at ``location`` as written in the file, or ``None``."""
        return self.scalars.get(tuple(location))

    def errors_from(
        self,
        error: ValidationError,
        model: type[BaseModel],
        relocate: Callable[[Location], str | None] | None = None,
    ) -> list[ConfigError]:
        """One :class:`ConfigError` per pydantic error, naming file:line, the field and the value.

        ``relocate`` may name another origin for a location (an environment variable that overrides
        the file); values of secret fields are never shown.
        """

        def origin(location: Location) -> str | None:
            return relocate(location) if relocate else None

        return explain_validation_error(
            error,
            model,
            where=lambda location: origin(location) or self.where(location),
            # A value from elsewhere was not written here: do not quote the file's text for it.
            written=lambda location: None if origin(location) else self.written(location),
        )


def read_yaml(directory: Path, name: str, errors: list[ConfigError]) -> YamlDocument | None:
    """Parse ``directory/name``; a missing, unreadable or malformed file becomes an error with its line."""
    path = Path(name) if Path(name).is_absolute() else directory / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(
            ConfigError(name, "(file)", str(path), "file does not exist", "check --config and the path")
        )
        return None
    except IsADirectoryError:
        errors.append(ConfigError(name, "(file)", str(path), "is a directory, not a YAML file"))
        return None
    except UnicodeDecodeError as error:
        errors.append(
            ConfigError(
                name, "(file)", str(path), f"not UTF-8 text ({error.reason})", "save the file as UTF-8"
            )
        )
        return None
    except OSError as error:
        errors.append(ConfigError(name, "(file)", str(path), f"cannot read: {error.strerror}"))
        return None
    return parse_yaml(text, name, errors)


# Hints for the parser's most common complaints, by a phrase of its message.
_YAML_HINTS = (
    ("'\\t'", "indent with spaces; YAML does not allow tabs"),
    ("mapping values are not allowed", "quote a value that contains ': ', or check the indentation"),
    ("could not find expected ':'", "each line is 'key: value'; check the indentation and quotes"),
    ("expected a single document", "a configuration file holds one document: remove the extra '---'"),
    ("found undefined alias", "define the anchor (&name) before using it (*name)"),
    ("found unexpected end of stream", "close the quote or bracket opened on the line named"),
)


def parse_yaml(text: str, name: str, errors: list[ConfigError]) -> YamlDocument | None:
    """Parse YAML text named ``name``; malformed YAML becomes one error with its line and column."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        errors.append(_malformed(error, name))
        return None
    except yaml.reader.ReaderError as error:
        # A control character (often pasted from a terminal or a word processor).
        line = text[: max(error.position, 0)].count("\n") + 1
        errors.append(
            ConfigError(
                f"{name}:{line}",
                "(yaml)",
                f"#x{error.character:04x}" if isinstance(error.character, int) else None,
                "a character YAML does not allow (a control character)",
                "delete it; retype the line if it was pasted",
            )
        )
        return None
    except yaml.YAMLError as error:
        errors.append(ConfigError(name, "(yaml)", None, f"malformed YAML: {error}"))
        return None
    except RecursionError:
        errors.append(ConfigError(name, "(yaml)", None, "nested too deeply to read"))
        return None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors.append(
            ConfigError(
                name,
                "(document)",
                type(data).__name__,
                "must be a mapping of fields (key: value lines), not a single value or a list",
            )
        )
        return None
    document = YamlDocument(name, data, {})
    if node is not None:
        _collect(node, (), document, errors, set())
    return document


def _malformed(error: yaml.MarkedYAMLError, name: str) -> ConfigError:
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
    text = f"{problem} {error.context or ''}"
    hint = next((hint for phrase, hint in _YAML_HINTS if phrase in text), "check indentation and quotes here")
    return ConfigError(where, "(yaml)", None, f"malformed YAML at{column}: {problem}{started}", hint)


def _collect(
    node: yaml.Node,
    location: Location,
    document: YamlDocument,
    errors: list[ConfigError],
    seen: set[int],
) -> None:
    # An alias reuses a node: visit each once, so a self-referencing alias cannot loop forever.
    if id(node) in seen:
        return
    seen.add(id(node))
    document.lines.setdefault(location, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        document.scalars[location] = str(node.value)
    elif isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key: str = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                field = ".".join(str(part) for part in (*location, key))
                errors.append(
                    ConfigError(
                        f"{document.name}:{line}",
                        field,
                        key,
                        f"duplicate key: '{key}' is also on line {first_line[key]}, and YAML keeps only "
                        "the last one",
                        "remove one of them",
                    )
                )
                continue
            first_line.setdefault(key, line)
            _collect(value_node, (*location, key), document, errors, seen)
            # Errors about a key point at the key's line, where the operator looks for it.
            document.lines[(*location, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect(item, (*location, index), document, errors, seen)
