"""Secret references shared by the configuration models: where a secret comes from, and how that is
named in a message without showing the secret (durations: :mod:`probe.config.durations`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

# An environment variable's name is shown in messages only when it looks like one by convention
# (upper-case letters, digits and '_', not too long): anything else may be a secret pasted where the name
# belongs, and "environment variable <the secret> is not set" would print it.
_SHOWN_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")


def shown_env_name(name: str) -> str | None:
    """``name`` if it is safe to print (``KANARI_FIKS_INTEGRASJON_PASSORD``), else ``None``."""
    return name if _SHOWN_ENV_NAME.fullmatch(name) else None


def not_shown(name: str) -> str:
    """What a message says instead of a name that :func:`shown_env_name` does not show."""
    return f"{len(name)} characters, not shown: it may be a secret"


def _secret_ref_from_text(value: object) -> object:
    # ``file:PATH`` and ``env:NAME`` are accepted as strings so that environment overrides can name a
    # secret in one variable (KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD=file:/run/secrets/fiks).
    if isinstance(value, str):
        kind, separator, rest = value.partition(":")
        if separator and kind in {"file", "env"} and rest:
            return {kind: rest}
        raise ValueError(
            "a secret is never written into the configuration: give {file: PATH} or {env: VARIABLE} "
            "(or the text 'file:PATH' / 'env:VARIABLE')"
        )
    return value


class SecretRef(BaseModel):
    """Where a secret comes from: a file (first line, trailing newline stripped) or an environment
    variable. The value is read by :meth:`resolve` and kept as :class:`SecretStr`, so it is never
    printed, logged or put in an exception."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: Path | None = None
    # An environment variable's name. The pattern refuses most secrets pasted here by mistake; one that
    # passes it (letters and digits only) is still never echoed: see shown_env_name.
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    _value: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to print (an unlikely variable name is described, not shown)."""
        if self.file is not None:
            return f"file {self.file}"
        assert self.env is not None
        name = shown_env_name(self.env)
        return (
            f"environment variable {name}"
            if name
            else f"the variable named after env: ({not_shown(self.env)})"
        )

    def resolve(self, base_dir: Path, environ: os._Environ[str] | dict[str, str]) -> SecretStr:
        """Read the secret; raises ``LookupError`` naming the source (never the value) if absent."""
        if self.file is not None:
            path = self.file if self.file.is_absolute() else base_dir / self.file
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise LookupError(f"cannot read secret file {path}: {error.strerror}") from None
            value = text.rstrip("\r\n")
        else:
            assert self.env is not None
            if self.env not in environ or not environ[self.env]:
                raise LookupError(f"{self.describe()} is not set")
            value = environ[self.env]
        if not value:
            raise LookupError(f"secret from {self.describe()} is empty")
        self._value = SecretStr(value)
        return self._value

    def value(self) -> str:
        """The resolved secret; only adapters that put it on the wire call this."""
        if self._value is None:
            raise LookupError(f"secret from {self.describe()} has not been resolved")
        return self._value.get_secret_value()


SecretSource = Annotated[SecretRef, BeforeValidator(_secret_ref_from_text)]


def secret_refs(model: Any) -> list[tuple[str, SecretRef]]:
    """Every :class:`SecretRef` inside a model, with its dotted field path."""
    found: list[tuple[str, SecretRef]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, SecretRef):
            found.append((path, value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{path}.{name}" if path else name)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(model, "")
    return found
