"""Walking the configuration models by path, for error messages.

Given a model class and a path as pydantic reports it (``("channels", "portal", "intervall")``), these
helpers answer what an operator needs in a message: which fields exist at that place (to suggest the
one a typo meant) and whether the place holds a secret (so its value is never printed). They read the
models' annotations, so a new field or a new secret is covered without a list to keep up to date.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from probe.config.types import SecretRef

Path = tuple[str | int, ...]

# Names that mark a secret even where the annotation does not say so (a key someone writes where no
# field exists, or a field added later as a plain string): such a value is never printed either.
# ``dsn``: a connection string may hold a password (refused there, but never echoed while refusing it).
SECRET_WORDS = ("passord", "password", "token", "secret", "dsn")


def alternatives(annotation: Any) -> list[Any]:
    """The types an annotation may hold: ``Annotated`` unwrapped, unions and ``Optional`` flattened."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return alternatives(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found: list[Any] = []
        for argument in typing.get_args(annotation):
            found.extend(alternatives(argument))
        return found
    return [annotation]


def _model(candidate: Any) -> type[BaseModel] | None:
    return candidate if inspect.isclass(candidate) and issubclass(candidate, BaseModel) else None


def child(annotation: Any, part: str | int) -> Any | None:
    """The annotation of ``part`` inside a value of type ``annotation`` (a field of a model, an item of a
    list, a value of a mapping), or ``None`` when there is no such place."""
    for candidate in alternatives(annotation):
        model = _model(candidate)
        if model is not None:
            if isinstance(part, str) and part in model.model_fields:
                return model.model_fields[part].annotation
            continue
        origin = typing.get_origin(candidate)
        arguments = typing.get_args(candidate)
        if origin in (list, tuple) and arguments and isinstance(part, int):
            return arguments[0]
        if origin is dict and len(arguments) == 2:
            return arguments[1]
    return None


def annotation_at(root: type[BaseModel], path: Path) -> Any | None:
    """The annotation at ``path`` below ``root``, or ``None`` if the path leaves the schema."""
    annotation: Any = root
    for part in path:
        annotation = child(annotation, part)
        if annotation is None:
            return None
    return annotation


def fields_at(root: type[BaseModel], path: Path) -> list[str]:
    """The field names of the model at ``path`` (empty when ``path`` is not a model)."""
    annotation = annotation_at(root, path)
    names: list[str] = []
    for candidate in alternatives(annotation) if annotation is not None else []:
        model = _model(candidate)
        if model is not None:
            names.extend(name for name in model.model_fields if name not in names)
    return names


def closest(word: str, choices: list[str]) -> str | None:
    """The choice a typo most likely meant (``intervall`` → ``interval``), or ``None``."""
    matches = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def holds_secret(annotation: Any) -> bool:
    """True if a value of this type is, or contains only as a reference, a secret."""
    return any(candidate is SecretRef for candidate in alternatives(annotation))


def _secret_name(name: str) -> bool:
    # ``password`` and ``basic_auth_password`` are secrets; ``token_url`` is not.
    lowered = name.lower()
    return any(lowered == word or lowered.endswith(f"_{word}") for word in SECRET_WORDS)


def is_secret_path(root: type[BaseModel], path: Path) -> bool:
    """True if ``path`` is a secret field or lies inside one (``integrasjon_passord.env``), or if one
    of its keys names a secret (``password``, ``token`` ...)."""
    if any(isinstance(part, str) and _secret_name(part) for part in path):
        return True
    annotation: Any = root
    for part in path:
        annotation = child(annotation, part)
        if annotation is None:
            return False
        if holds_secret(annotation):
            return True
    return False


def secret_paths(root: type[BaseModel]) -> Iterator[Path]:
    """Every path to a secret field below ``root`` (list items as index 0, mapping values as ``*``);
    used by tests to prove that no secret field is ever echoed."""

    def walk(annotation: Any, path: Path, seen: frozenset[type[BaseModel]]) -> Iterator[Path]:
        for candidate in alternatives(annotation):
            model = _model(candidate)
            if model is not None and model is not SecretRef and model not in seen:
                for name, field in model.model_fields.items():
                    if holds_secret(field.annotation):
                        yield (*path, name)
                    else:
                        yield from walk(field.annotation, (*path, name), seen | {model})
                continue
            origin = typing.get_origin(candidate)
            arguments = typing.get_args(candidate)
            if origin in (list, tuple) and arguments:
                yield from walk(arguments[0], (*path, 0), seen)
            elif origin is dict and len(arguments) == 2:
                yield from walk(arguments[1], (*path, "*"), seen)

    yield from walk(root, (), frozenset())
