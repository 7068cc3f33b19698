"""Loading a configuration directory, reporting every problem at once.

Layout (DESIGN section 7)::

    kanari.yaml                     probe-wide settings (ProbeSettings)
    vendors.yaml                    vendors (VendorsFile)
    municipalities/NNNN-slug.yaml   one file per onboarded municipality (MunicipalityFile)

Relative paths inside the files are resolved against the configuration directory. Each problem becomes
a :class:`~probe.errors.ConfigError` naming the file (with the line where known), the field and the
offending value, plus a fix hint; :func:`load_config` raises them together as
:class:`~probe.errors.InvalidConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from probe.config.environment import ENV_PREFIX, environment, split_overrides
from probe.config.keys import Keys
from probe.config.models import ProbeSettings, unused_environment_variables
from probe.config.municipalities import MunicipalityFile
from probe.config.places import SETTINGS_FILE, SettingsOrigin
from probe.config.registry import Registry, packaged_registry
from probe.config.routes import Route
from probe.config.types import secret_refs
from probe.config.validation import cross_check
from probe.config.vendors import Vendor, VendorsFile
from probe.config.yamlfile import YamlDocument, read_yaml
from probe.errors import ConfigError, InvalidConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)
MUNICIPALITY_SUFFIXES = (".yaml", ".yml")


@dataclasses.dataclass(frozen=True)
class LoadedMunicipality:
    """A municipality file and where it came from."""

    file: str
    model: MunicipalityFile


@dataclasses.dataclass(frozen=True)
class KanariConfig:
    """A loaded, validated configuration."""

    directory: Path
    settings: ProbeSettings
    registry: Registry
    vendors: dict[str, Vendor]
    municipalities: dict[str, LoadedMunicipality]
    routes: tuple[Route, ...]
    warnings: tuple[str, ...] = ()
    # The typed keys, when loaded with secrets (``None`` for ``kanari render``, ``config check
    # --skip-secrets`` and other commands that need only the configuration's shape).
    keys: Keys | None = None

    def path(self, path: Path) -> Path:
        """``path`` resolved against the configuration directory."""
        return path if path.is_absolute() else self.directory / path

    def vendor_has_readback(self, vendor_id: str) -> bool:
        """True if the vendor has a read-back API configured."""
        vendor = self.vendors.get(vendor_id)
        return vendor is not None and vendor.readback is not None


@dataclasses.dataclass
class LoadResult:
    """Everything one pass found: the configuration (``None`` if unusable), errors and warnings."""

    config: KanariConfig | None
    errors: list[ConfigError]
    warnings: list[str]


def load_config(
    directory: Path,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    with_secrets: bool = True,
) -> KanariConfig:
    """Load and validate ``directory``; raises :class:`InvalidConfigError` listing every problem.

    ``with_secrets=False`` skips reading secrets and key files, for commands that only need the shape of
    the configuration (``kanari render``), so they run where the secrets are not.
    """
    result = check_config(directory, environ, overrides, with_secrets=with_secrets)
    if result.errors or result.config is None:
        raise InvalidConfigError(result.errors)
    return result.config


def check_config(
    directory: Path,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    with_secrets: bool = True,
) -> LoadResult:
    """Load ``directory`` and collect every problem instead of stopping at the first.

    ``environ`` defaults to the process environment (for ``KANARI_*`` overrides and secrets given by
    environment variable); ``overrides`` are applied over the YAML (and under the environment), as
    ``kanari demo`` does with the running sandbox's addresses. Even when ``kanari.yaml`` is unusable,
    ``vendors.yaml`` and the municipality files are still checked (at their default places).
    """
    env = dict(os.environ if environ is None else environ)
    errors: list[ConfigError] = []
    warnings: list[str] = []

    settings_document = read_yaml(directory, SETTINGS_FILE, errors)
    # A KANARI_ variable naming no setting under one that exists is reported here, on the variable, and
    # kept away from pydantic-settings, which would ignore it or blame a line of kanari.yaml for it.
    overriding, unknown = split_overrides(env, ProbeSettings)
    errors.extend(unknown)
    origin = SettingsOrigin(settings_document, overriding)
    settings = _settings(settings_document, overrides or {}, overriding, origin, errors)
    defaults = ProbeSettings.model_fields
    vendors_file = settings.vendors_file if settings else defaults["vendors_file"].default
    municipalities_dir = settings.municipalities_dir if settings else defaults["municipalities_dir"].default
    registry = _registry(directory, settings, settings_document, origin, errors)

    vendors_document = read_yaml(directory, str(vendors_file), errors)
    vendors_model = _validate(vendors_document, VendorsFile, errors) if vendors_document else None
    documents = _municipality_documents(directory, municipalities_dir, origin, errors, warnings)

    checked = cross_check(
        directory=directory,
        settings=settings,
        settings_origin=origin,
        registry=registry,
        vendors=vendors_model.vendors if vendors_model else None,
        vendors_document=vendors_document,
        municipality_documents=documents,
        environ=env,
        errors=errors,
        warnings=warnings,
        with_secrets=with_secrets,
    )
    if settings is not None and vendors_document is not None:
        # Read from the YAML as written, so a vendors.yaml with an error elsewhere still counts.
        secret_names = {ref.env for _, ref in secret_refs(settings) if ref.env}
        secret_names |= _env_names(vendors_document.data if vendors_document else None)
        for name in unused_environment_variables(env, secret_names):
            warnings.append(
                f"environment variable {name} is not a Kanari setting and no secret refers to it, so it "
                "is ignored (settings are KANARI_<FIELD>, nested with __: KANARI_CHANNELS__PORTAL__INTERVAL)"
            )
    errors = _unique(errors)
    if settings is None:
        return LoadResult(None, errors, warnings)
    config = KanariConfig(
        directory=directory,
        settings=settings,
        registry=registry,
        vendors=checked.vendors,
        municipalities={
            item.model.kommunenummer: LoadedMunicipality(item.document.name, item.model)
            for item in checked.municipalities
        },
        routes=tuple(checked.routes),
        warnings=tuple(warnings),
        keys=checked.keys,
    )
    return LoadResult(config, errors, warnings)


def _env_names(data: Any) -> set[str]:
    """Every ``env: NAME`` in YAML data (secret references by environment variable)."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("env"), str):
                found.add(item["env"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _municipality_documents(
    directory: Path,
    municipalities_dir: Path,
    origin: SettingsOrigin,
    errors: list[ConfigError],
    warnings: list[str],
) -> list[tuple[YamlDocument, MunicipalityFile]]:
    found: list[tuple[YamlDocument, MunicipalityFile]] = []
    path = _resolve(directory, municipalities_dir)
    if not path.is_dir():
        errors.append(
            ConfigError(
                origin.where(("municipalities_dir",)),
                "municipalities_dir",
                str(municipalities_dir),
                "directory does not exist",
                "create it and add one file per onboarded municipality (kanari onboard writes them)",
            )
        )
        return found
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or entry.is_dir():
            continue
        if entry.suffix not in MUNICIPALITY_SUFFIXES:
            # A renamed copy (4601-bergen.yaml.orig) or a typo (.yml~) would silently drop a route.
            warnings.append(f"{_relative(directory, entry)}: not read (only *.yaml and *.yml files are)")
            continue
        document = read_yaml(directory, _relative(directory, entry), errors)
        model = _validate(document, MunicipalityFile, errors) if document else None
        if document and model:
            found.append((document, model))
    return found


def _relative(directory: Path, path: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def _unique(errors: list[ConfigError]) -> list[ConfigError]:
    # Routes inheriting one bad kanari.yaml value all report it at the same place: once is enough.
    seen: set[str] = set()
    unique = []
    for error in errors:
        if error.render() not in seen:
            seen.add(error.render())
            unique.append(error)
    return unique


def _resolve(directory: Path, path: Path) -> Path:
    return path if path.is_absolute() else directory / path


def _settings(
    document: YamlDocument | None,
    overrides: Mapping[str, Any],
    environ: dict[str, str],
    origin: SettingsOrigin,
    errors: list[ConfigError],
) -> ProbeSettings | None:
    if document is None:
        return None
    data = _merge(document.data if isinstance(document.data, dict) else {}, overrides)
    try:
        with environment(environ):
            return ProbeSettings(**data)
    except ValidationError as error:
        errors.extend(document.errors_from(error, ProbeSettings, origin.variable))
    except SettingsError as error:
        # pydantic-settings could not decode a KANARI_ variable holding JSON; its message names the
        # field, never the value.
        named = re.search(r'field "([^"]+)"', str(error))
        prefix = ENV_PREFIX + (named.group(1).upper() if named else "")
        names = sorted(name for name in environ if name.upper().startswith(prefix))
        errors.append(
            ConfigError(
                "environment",
                ", ".join(names) or "KANARI_*",
                None,
                f"cannot use the KANARI_ variables: {error}",
                "give nested settings one per variable (KANARI_CHANNELS__PORTAL__INTERVAL=10m) or as JSON",
            )
        )
    return None


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(document: YamlDocument, model: type[ModelT], errors: list[ConfigError]) -> ModelT | None:
    try:
        return model.model_validate(document.data)
    except ValidationError as error:
        errors.extend(document.errors_from(error, model))
        return None


def _registry(
    directory: Path,
    settings: ProbeSettings | None,
    settings_document: YamlDocument | None,
    origin: SettingsOrigin,
    errors: list[ConfigError],
) -> Registry:
    configured = settings.registry if settings else None
    if configured is None and settings is None and settings_document is not None:
        # kanari.yaml is invalid elsewhere; still use the registry it names for the municipality checks.
        raw = settings_document.data.get("registry")
        configured = Path(raw) if isinstance(raw, str) and raw else None
    if configured is None:
        return packaged_registry()
    found: list[ConfigError] = []
    registry = Registry.load(_resolve(directory, configured), found)
    for problem in found:
        if problem.field == "registry" and settings_document is not None:
            # The file itself cannot be read: the place to fix is registry: in kanari.yaml (or its variable).
            where = origin.where(("registry",))
            problem = ConfigError(where, "registry", str(configured), problem.message, problem.hint)  # noqa: PLW2901
        errors.append(problem)
    return registry if len(registry) else packaged_registry()
