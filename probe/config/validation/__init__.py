"""Checks across files: the registry, vendors, municipality files, routes, timing, secrets, key files.

Each check appends a :class:`~probe.errors.ConfigError` (file:line, field, value, fix hint) instead of
raising, so ``kanari config check`` reports everything in one pass. One module per concept:

- :mod:`.channels`: the channels of ``kanari.yaml`` (final hops, deadlines, send intervals);
- :mod:`.exposure`: what the configuration exposes in clear (``/metrics`` unauthenticated on the
  network, alerts over plain http), as warnings;
- :mod:`.secrets`: secrets, private keys, certificates (skipped without secrets);
- :mod:`.vendors`: ``vendors.yaml``;
- :mod:`.municipalities`: each municipality file against the registry and the vendors;
- :mod:`.routes`: the routes of the files that passed, with their timing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from probe.config.keys import Keys, read_keys
from probe.config.models import ProbeSettings
from probe.config.municipalities import MunicipalityFile
from probe.config.places import SettingsOrigin
from probe.config.registry import Registry
from probe.config.routes import Route
from probe.config.validation.channels import check_channels
from probe.config.validation.exposure import check_exposure
from probe.config.validation.municipalities import Accepted, check_municipalities
from probe.config.validation.routes import build_routes
from probe.config.validation.secrets import check_secrets
from probe.config.validation.vendors import check_vendors
from probe.config.vendors import Vendor
from probe.config.yamlfile import YamlDocument
from probe.errors import ConfigError

__all__ = ["Checked", "cross_check"]


@dataclasses.dataclass(frozen=True)
class Checked:
    """What the cross-file checks accepted."""

    vendors: dict[str, Vendor]
    municipalities: list[Accepted]
    routes: list[Route]
    # Read only with secrets, and only when every key file is usable.
    keys: Keys | None = None


def cross_check(
    *,
    directory: Path,
    settings: ProbeSettings | None,
    settings_origin: SettingsOrigin,
    registry: Registry,
    vendors: list[Vendor] | None,
    vendors_document: YamlDocument | None,
    municipality_documents: list[tuple[YamlDocument, MunicipalityFile]],
    environ: Mapping[str, str],
    errors: list[ConfigError],
    warnings: list[str],
    with_secrets: bool = True,
) -> Checked:
    """Run every cross-file check. ``settings`` is ``None`` when ``kanari.yaml`` is unusable and
    ``vendors`` when ``vendors.yaml`` is: the checks that need them are skipped, the others still run."""
    settings_where = settings_origin.where
    by_id = check_vendors(vendors or [], vendors_document, errors, warnings)
    accepted = check_municipalities(
        municipality_documents, registry, by_id if vendors is not None else None, errors, warnings
    )
    if settings is None:
        return Checked(by_id, accepted, [])
    check_channels(settings, settings_origin, errors)
    check_exposure(
        settings,
        origin=settings_origin,
        vendors=vendors or [],
        vendors_document=vendors_document,
        municipalities=accepted,
        warnings=warnings,
    )
    keys = None
    if with_secrets:
        check_secrets(
            directory=directory,
            settings=settings,
            where=settings_where,
            vendors=vendors or [],
            vendors_document=vendors_document,
            environ=environ,
            errors=errors,
            warnings=warnings,
        )
        keys = read_keys(directory, settings, settings_where, errors, warnings)
    routes = build_routes(
        accepted, settings, settings_origin=settings_origin, vendors=by_id, errors=errors, warnings=warnings
    )
    return Checked(by_id, accepted, routes, keys)
