"""Overriding ``kanari.yaml`` from the environment: ``KANARI_<FIELD>``, nested with ``__``
(``KANARI_CHANNELS__PORTAL__INTERVAL=60``), read from a mapping the caller can give (tests, ``config
check``) instead of the process environment."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from probe.config.schema import holds_secret

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


def environment_variable_for(location: tuple[str | int, ...], environ: Mapping[str, str]) -> str | None:
    """The ``KANARI_`` variable that supplies ``location`` of ``kanari.yaml``, if one does, so an error
    there names the variable rather than a line of the file that it overrides."""
    best: tuple[int, str] | None = None
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER))
        wanted = tuple(str(part).lower() for part in location[: len(path)])
        if path == wanted and (best is None or len(path) > best[0]):
            best = (len(path), name)
    return best[1] if best else None
