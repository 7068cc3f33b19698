"""Overriding ``kanari.yaml`` from the environment: ``KANARI_<FIELD>``, nested with ``__``
(``KANARI_CHANNELS__PORTAL__INTERVAL=60``), read from a mapping the caller can give (tests, ``config
check``) instead of the process environment."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from probe.config.schema import child, closest, fields_at, holds_secret
from probe.config.yamlfile import Location
from probe.errors import ConfigError

ENV_PREFIX = "KANARI_"
ENV_NESTED_DELIMITER = "__"


_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("kanari_environment", default=None)


@contextmanager
def environment(environ: Mapping[str, str]) -> Iterator[None]:
    """Within the block, ``kanari.yaml``'s settings read overrides from ``environ`` instead of the
    process environment (tests and ``config check`` pass their own)."""
    token = _ENVIRONMENT.set(environ)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source reading the mapping set by :func:`environment`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRONMENT.get()
        if environ is None:
            return super()._load_env_vars()
        return {(key if self.case_sensitive else key.lower()): value for key, value in environ.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        # A secret reference is a model, so pydantic-settings expects JSON; the documented short forms
        # ``file:PATH`` and ``env:NAME`` are not JSON. Hand such text to the model, which understands
        # them (and refuses, without echoing, a secret given as a value).
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            if isinstance(value, str) and field is not None and holds_secret(field.annotation):
                return value
            raise


def environment_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    """The source of ``KANARI_`` overrides for ``settings_cls``: the mapping set by :func:`environment`,
    else the process environment."""
    return _EnvironmentSource(settings_cls)


def setting_path(name: str) -> tuple[str, ...]:
    """The settings path a ``KANARI_`` variable names: ``KANARI_CHANNELS__PORTAL__INTERVAL`` →
    ``("channels", "portal", "interval")``."""
    return tuple(name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER))


def environment_variable_for(
    location: Location, environ: Mapping[str, str], file_has_section: Callable[[Location], bool]
) -> str | None:
    """The ``KANARI_`` variable that supplies ``location`` of ``kanari.yaml``, if one does, so an error
    there names the variable rather than a line of the file that it overrides.

    A variable supplies its own place and everything below it (``KANARI_CHANNELS`` as JSON supplies
    ``channels.portal.interval``). It is also to blame for a place above it that the file does not hold
    as a section of its own (``file_has_section``): ``KANARI_CHANNELS__FAX__INTERVAL`` creates
    ``channels.fax``, and ``KANARI_METRICS__BASIC_AUTH_USERNAME`` alone makes an incomplete ``metrics``.
    """
    wanted = tuple(str(part).lower() for part in location)
    best: tuple[int, str] | None = None
    below: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = setting_path(name)
        if path == wanted[: len(path)] and (best is None or len(path) > best[0]):
            best = (len(path), name)
        elif len(path) > len(wanted) and path[: len(wanted)] == wanted:
            below.append(name)
    if best is not None:
        return best[1]
    if below and not file_has_section(location):
        return below[0]
    return None


def split_overrides(
    environ: Mapping[str, str], root: type[BaseModel]
) -> tuple[dict[str, str], list[ConfigError]]:
    """``environ`` without the ``KANARI_`` variables that name no setting of ``root`` below a setting
    that exists, and those variables explained.

    pydantic-settings ignores some of them (``KANARI_LISTEN__X``: ``listen`` is one value) and reports
    others at the place in ``kanari.yaml`` they would have created (``KANARI_CHANNELS__FAX__INTERVAL``
    as ``kanari.yaml:13: channels.fax``); both must name the variable. A variable whose first part names
    no setting is kept: it may be another program's, and the loader warns about it.
    """
    kept: dict[str, str] = {}
    unknown: list[ConfigError] = []
    for name, value in environ.items():
        problem = _unknown_setting(name, root) if name.upper().startswith(ENV_PREFIX) else None
        if problem is None:
            kept[name] = value
        else:
            unknown.append(problem)
    return kept, sorted(unknown, key=lambda error: error.file)


def _unknown_setting(name: str, root: type[BaseModel]) -> ConfigError | None:
    path = setting_path(name)
    if path[0] not in root.model_fields:
        return None
    annotation: Any = root
    for depth, part in enumerate(path):
        parent = ".".join(path[:depth])
        found = child(annotation, part) if part else None
        if found is not None:
            annotation = found
            continue
        fields = fields_at(root, path[:depth])
        if not part:
            message = (
                f"no such setting: the name has an empty part ('{ENV_NESTED_DELIMITER}' twice in a row, "
                "or at its end)"
            )
            hint = ("the settings there are " + ", ".join(fields)) if fields else ""
        elif fields:
            guess = closest(part, fields)
            message = f"no such setting: {parent} has no '{part}'"
            listed = "the settings there are " + ", ".join(fields)
            hint = f"did you mean '{guess}'? ({listed})" if guess else listed
        else:
            message = f"no such setting: {parent} is a single value, with no '{part}' under it"
            hint = f"set {ENV_PREFIX}{parent.upper().replace('.', ENV_NESTED_DELIMITER)} itself"
        # The value is not shown: a misnamed KANARI_..._PASSWORD may well hold the password.
        return ConfigError(f"environment variable {name}", ".".join(path), None, message, hint)
    return None
