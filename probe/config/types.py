"""Small value types shared by the configuration models: durations and secret references."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, SecretStr, model_validator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a Prometheus-style duration string (``90s``, ``5m``, ``1h30m``, ``7d``)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(number + unit for number, unit in parts) != text:
                raise ValueError(
                    f"not a duration: {value!r} (use seconds or e.g. '90s', '5m', '1h30m', '7d')"
                )
            seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError("a duration is a number of seconds or a string such as '5m'")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``1h30m``, ``45s``); used for rule ``for:`` fields and docs."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0s"
    text = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            text += f"{remaining // size}{unit}"
            remaining %= size
    return text


Duration = Annotated[float, BeforeValidator(parse_duration)]


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
    # An environment variable's name. The pattern also stops a secret pasted here by mistake from being
    # echoed back as "environment variable <the secret> is not set".
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    _value: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of 'file' or 'env'")
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        return f"file {self.file}" if self.file is not None else f"environment variable {self.env}"

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
                raise LookupError(f"environment variable {self.env} is not set")
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
