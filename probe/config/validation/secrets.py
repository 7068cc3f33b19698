"""Checks of the secrets the configuration refers to (files and environment variables); the key files
and certificates are read by :mod:`probe.config.keys`.

Skipped by ``with_secrets=False`` (``kanari render``, ``config check --skip-secrets`` in CI), where the
secrets are not present. Messages name the file or variable, never what is in it.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from probe.config.keyfiles import mode_problem, private_mode_hint
from probe.config.models import ProbeSettings
from probe.config.places import VENDORS_FILE, Where, dotted, where_in
from probe.config.types import SecretRef, not_shown, secret_refs, shown_env_name
from probe.config.vendors import Vendor
from probe.config.yamlfile import Location, YamlDocument
from probe.errors import ConfigError


def check_secrets(
    *,
    directory: Path,
    settings: ProbeSettings,
    where: Where,
    vendors: list[Vendor],
    vendors_document: YamlDocument | None,
    environ: Mapping[str, str],
    errors: list[ConfigError],
    warnings: list[str],
) -> None:
    """Every secret reference resolves to a non-empty value."""
    for path, ref in secret_refs(settings):
        _resolve(
            ref,
            directory=directory,
            environ=environ,
            where=where(_location(path)),
            field=path,
            whose="",
            errors=errors,
            warnings=warnings,
        )
    vendor_where = where_in(vendors_document, VENDORS_FILE)
    for index, vendor in enumerate(vendors):
        for path, ref in secret_refs(vendor):
            location: Location = ("vendors", index, *_location(path))
            field = dotted("vendors", index, *path.split("."))
            _resolve(
                ref,
                directory=directory,
                environ=environ,
                where=vendor_where(location),
                field=field,
                whose=f" of vendor {vendor.id}",
                errors=errors,
                warnings=warnings,
            )


def _resolve(
    ref: SecretRef,
    *,
    directory: Path,
    environ: Mapping[str, str],
    where: str,
    field: str,
    whose: str,
    errors: list[ConfigError],
    warnings: list[str],
) -> None:
    # The message says what is wrong with the source; the value names the source (never the secret).
    value: str | None
    if ref.env is not None:
        # A name that does not look like one (lower case, punctuation, very long) may be the secret itself,
        # pasted where its name belongs: describe it instead of printing it.
        value = shown_env_name(ref.env)
        named = value or "the variable named after env:"
        hint = (
            f"set {named} in the probe's environment (for docker compose: under environment: in "
            "deploy/compose.yml), or use {file: PATH}"
        )
        problem = (
            "the environment variable is not set"
            if ref.env not in environ
            else "the environment variable is empty"
            if not environ[ref.env]
            else None
        )
        if problem is not None and value is None:
            problem += f" (the name after env: has {not_shown(ref.env)})"
    else:
        assert ref.file is not None
        path = ref.file if ref.file.is_absolute() else directory / ref.file
        value = str(path)
        hint = (
            "create the file with the secret on its first line (chmod 600), or fix the path; relative "
            "paths are resolved against the configuration directory"
        )
        problem = _file_problem(path)
        if problem is None:
            mode_issue = mode_problem(stat.S_IMODE(path.stat().st_mode))
            if mode_issue is not None:
                warnings.append(
                    f"{where}: {field}: secret file {path} {mode_issue}; {private_mode_hint(path)}"
                )
    if problem is None:
        try:
            ref.resolve(directory, dict(environ))
        except LookupError:
            problem = "cannot be read"
    if problem is not None:
        errors.append(ConfigError(where, field, value, f"missing secret{whose}: {problem}", hint))


def _file_problem(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return "the file does not exist"
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    except OSError as error:
        return f"cannot read the file ({error.strerror})"
    return None if text.rstrip("\r\n") else "the file is empty"


def _location(path: str) -> Location:
    return tuple(path.split("."))
