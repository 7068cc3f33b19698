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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from probe.config.models import MunicipalityFile, ProbeSettings, Vendor, VendorsFile, environment
from probe.config.registry import Registry, packaged_registry
from probe.config.routes import Route
from probe.config.validation import cross_check
from probe.config.yamlfile import YamlDocument, read_yaml
from probe.errors import ConfigError, InvalidConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


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
    ``kanari demo`` does with the running sandbox's addresses.
    """
    env = dict(os.environ if environ is None else environ)
    errors: list[ConfigError] = []
    warnings: list[str] = []

    settings_document = read_yaml(directory, "kanari.yaml", errors)
    settings = _settings(settings_document, overrides or {}, env, errors)
    if settings is None:
        return LoadResult(None, errors, warnings)

    registry = _registry(directory, settings, errors)
    vendors_document = read_yaml(directory, str(settings.vendors_file), errors)
    vendors_file = _validate(vendors_document, VendorsFile, errors) if vendors_document else None
    vendors = {vendor.id: vendor for vendor in vendors_file.vendors} if vendors_file else {}

    municipalities: dict[str, LoadedMunicipality] = {}
    municipalities_dir = _resolve(directory, settings.municipalities_dir)
    documents: list[tuple[YamlDocument, MunicipalityFile]] = []
    if not municipalities_dir.is_dir():
        errors.append(
            ConfigError(
                "kanari.yaml",
                "municipalities_dir",
                str(settings.municipalities_dir),
                "directory does not exist",
                "create it and add one file per onboarded municipality",
            )
        )
    else:
        for path in sorted(municipalities_dir.glob("*.y*ml")):
            document = read_yaml(directory, str(path.relative_to(directory)), errors)
            model = _validate(document, MunicipalityFile, errors) if document else None
            if document and model:
                documents.append((document, model))

    routes = cross_check(
        directory=directory,
        settings=settings,
        settings_document=settings_document,
        registry=registry,
        vendors=vendors,
        vendors_document=vendors_document,
        municipality_documents=documents,
        environ=env,
        errors=errors,
        warnings=warnings,
        with_secrets=with_secrets,
    )
    for document, model in documents:
        municipalities.setdefault(model.kommunenummer, LoadedMunicipality(document.name, model))
    config = KanariConfig(
        directory=directory,
        settings=settings,
        registry=registry,
        vendors=vendors,
        municipalities=municipalities,
        routes=tuple(routes),
        warnings=tuple(warnings),
    )
    return LoadResult(config, errors, warnings)


def _resolve(directory: Path, path: Path) -> Path:
    return path if path.is_absolute() else directory / path


def _settings(
    document: YamlDocument | None,
    overrides: Mapping[str, Any],
    environ: dict[str, str],
    errors: list[ConfigError],
) -> ProbeSettings | None:
    if document is None:
        return None
    data = _merge(document.data if isinstance(document.data, dict) else {}, overrides)
    try:
        with environment(environ):
            return ProbeSettings(**data)
    except ValidationError as error:
        errors.extend(document.errors_from(error))
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
        errors.extend(document.errors_from(error))
        return None


def _registry(directory: Path, settings: ProbeSettings, errors: list[ConfigError]) -> Registry:
    if settings.registry is None:
        return packaged_registry()
    try:
        return Registry.load(_resolve(directory, settings.registry))
    except ConfigError as error:
        errors.append(error)
        return packaged_registry()
