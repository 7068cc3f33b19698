"""Checks across files: the registry, vendors, routes, timing, secrets and key files.

Each check appends a :class:`ConfigError` (file, field, value, fix hint) instead of raising, so that
``kanari config check`` reports everything in one pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from probe.config.keyfiles import load_certificate_chain, load_private_key
from probe.config.models import ChannelSettings, MunicipalityFile, ProbeSettings, Vendor
from probe.config.registry import Registry, orgnr_is_valid
from probe.config.routes import Route
from probe.config.types import secret_refs
from probe.config.yamlfile import Location, YamlDocument
from probe.errors import ConfigError
from probe.hops import Channel, Hop, default_final_hop, hops_of

SETTINGS_FILE = "kanari.yaml"

_Where = Callable[[Location], str]


def cross_check(
    *,
    directory: Path,
    settings: ProbeSettings,
    settings_document: YamlDocument | None,
    registry: Registry,
    vendors: dict[str, Vendor],
    vendors_document: YamlDocument | None,
    municipality_documents: list[tuple[YamlDocument, MunicipalityFile]],
    environ: dict[str, str],
    errors: list[ConfigError],
    warnings: list[str],
    with_secrets: bool = True,
) -> list[Route]:
    """Run every cross-file check and build the routes of the valid municipality files."""
    settings_where: _Where = (
        settings_document.where if settings_document else (lambda _location: SETTINGS_FILE)
    )
    _check_channels(settings, settings_where, errors)
    if with_secrets:
        _check_secrets(
            directory=directory,
            settings=settings,
            where=settings_where,
            vendors=vendors,
            vendors_document=vendors_document,
            environ=environ,
            errors=errors,
        )
        _check_key_files(directory, settings, settings_where, errors)
    _check_vendors(vendors, vendors_document, warnings)
    routes: list[Route] = []
    seen: dict[str, str] = {}
    for document, municipality in municipality_documents:
        if municipality.kommunenummer in seen:
            errors.append(
                ConfigError(
                    document.where(("kommunenummer",)),
                    "kommunenummer",
                    municipality.kommunenummer,
                    f"duplicate route: {seen[municipality.kommunenummer]} already onboards this municipality",
                    "keep one file per municipality",
                )
            )
            continue
        seen[municipality.kommunenummer] = document.name
        routes.extend(
            _municipality_routes(
                document=document,
                municipality=municipality,
                settings=settings,
                registry=registry,
                vendors=vendors,
                errors=errors,
                warnings=warnings,
            )
        )
    return routes


def _check_channels(settings: ProbeSettings, where: _Where, errors: list[ConfigError]) -> None:
    for channel in Channel:
        channel_settings = settings.channels.get(channel)
        if channel_settings is None:
            continue
        prefix = ("channels", channel.value)
        final_hop = channel_settings.final_hop
        if final_hop is not None and final_hop not in hops_of(channel):
            errors.append(
                _no_such_hop(
                    where((*prefix, "final_hop")), ".".join((*prefix, "final_hop")), channel, final_hop
                )
            )
        _check_deadline(
            channel_settings=channel_settings,
            deadline=channel_settings.deadline,
            poll_interval=channel_settings.poll_interval,
            where=where((*prefix, "deadline")),
            field=".".join((*prefix, "deadline")),
            errors=errors,
        )


def _check_deadline(
    *,
    channel_settings: ChannelSettings,
    deadline: float,
    poll_interval: float,
    where: str,
    field: str,
    errors: list[ConfigError],
) -> None:
    # A deadline must leave room for the slowest healthy delivery plus one poll to see it, or healthy
    # routes would be reported lost.
    needed = channel_settings.normal_latency + poll_interval
    if deadline < needed:
        errors.append(
            ConfigError(
                where,
                field,
                deadline,
                "deadline is shorter than the channel's normal latency "
                f"({channel_settings.normal_latency:g} s) plus one poll ({poll_interval:g} s)",
                f"set the deadline to at least {needed:g} s",
            )
        )


def _no_such_hop(where: str, field: str, channel: Channel, hop: Hop) -> ConfigError:
    return ConfigError(
        where,
        field,
        hop.value,
        f"channel {channel.value} has no hop {hop.value}",
        "use one of " + ", ".join(h.value for h in hops_of(channel)),
    )


def _check_secrets(
    *,
    directory: Path,
    settings: ProbeSettings,
    where: _Where,
    vendors: dict[str, Vendor],
    vendors_document: YamlDocument | None,
    environ: dict[str, str],
    errors: list[ConfigError],
) -> None:
    for path, ref in secret_refs(settings):
        try:
            ref.resolve(directory, environ)
        except LookupError as error:
            errors.append(
                ConfigError(where(_location(path)), path, ref.describe(), f"missing secret: {error}")
            )
    vendor_names = vendors_document.name if vendors_document else "vendors.yaml"
    for index, vendor in enumerate(vendors.values()):
        for path, ref in secret_refs(vendor):
            try:
                ref.resolve(directory, environ)
            except LookupError as error:
                location = ("vendors", index, *_location(path))
                where_vendor = vendors_document.where(location) if vendors_document else vendor_names
                errors.append(
                    ConfigError(
                        where_vendor,
                        f"vendors[{vendor.id}].{path}",
                        ref.describe(),
                        f"missing secret: {error}",
                    )
                )


def _check_key_files(
    directory: Path, settings: ProbeSettings, where: _Where, errors: list[ConfigError]
) -> None:
    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else directory / path

    try:
        key = load_private_key(
            resolve(settings.signing.key_file), "signing.key_file", where(("signing", "key_file"))
        )
        if not isinstance(key, Ed25519PrivateKey):
            errors.append(
                ConfigError(
                    where(("signing", "key_file")),
                    "signing.key_file",
                    str(settings.signing.key_file),
                    "not an Ed25519 key",
                    "generate one with `kanari keys generate`",
                )
            )
    except ConfigError as error:
        errors.append(error)
    try:
        key = load_private_key(
            resolve(settings.maskinporten.key_file),
            "maskinporten.key_file",
            where(("maskinporten", "key_file")),
        )
        if not isinstance(key, RSAPrivateKey):
            errors.append(
                ConfigError(
                    where(("maskinporten", "key_file")),
                    "maskinporten.key_file",
                    str(settings.maskinporten.key_file),
                    "not an RSA key (Maskinporten signs with RS256)",
                )
            )
    except ConfigError as error:
        errors.append(error)
    chain_file = settings.maskinporten.certificate_chain_file
    if chain_file is not None:
        try:
            load_certificate_chain(
                resolve(chain_file),
                "maskinporten.certificate_chain_file",
                where(("maskinporten", "certificate_chain_file")),
            )
        except ConfigError as error:
            errors.append(error)
    for index, previous in enumerate(settings.signing.previous_public_keys):
        path = resolve(previous.public_key_file)
        if not path.is_file():
            errors.append(
                ConfigError(
                    where(("signing", "previous_public_keys", index)),
                    f"signing.previous_public_keys[{index}].public_key_file",
                    str(previous.public_key_file),
                    "file does not exist",
                )
            )


def _check_vendors(vendors: dict[str, Vendor], document: YamlDocument | None, warnings: list[str]) -> None:
    for vendor in vendors.values():
        if vendor.alert_receiver is None:
            warnings.append(
                f"{document.name if document else 'vendors.yaml'}: vendor {vendor.id} has no alert_receiver; "
                "its alerts reach only the operations centre"
            )


def _municipality_routes(
    *,
    document: YamlDocument,
    municipality: MunicipalityFile,
    settings: ProbeSettings,
    registry: Registry,
    vendors: dict[str, Vendor],
    errors: list[ConfigError],
    warnings: list[str],
) -> list[Route]:
    before = len(errors)
    file_number = document.name.rsplit("/", 1)[-1].split("-", 1)[0]
    if file_number != municipality.kommunenummer:
        errors.append(
            ConfigError(
                document.where(("kommunenummer",)),
                "kommunenummer",
                municipality.kommunenummer,
                f"file name says {file_number!r}",
                f"name the file {municipality.kommunenummer}-<name>.yaml (kanari onboard does this)",
            )
        )
    registered = registry.get(municipality.kommunenummer)
    if registered is None:
        renumbered = [m for m in registry if m.previous_kommunenummer == municipality.kommunenummer]
        hint = (
            f"it is now {renumbered[0].kommunenummer} {renumbered[0].name}"
            if renumbered
            else f"use a kommunenummer from the registry ({registry.source})"
        )
        errors.append(
            ConfigError(
                document.where(("kommunenummer",)),
                "kommunenummer",
                municipality.kommunenummer,
                "unknown kommunenummer: not in the national registry",
                hint,
            )
        )
        return []
    if municipality.name != registered.name:
        errors.append(
            ConfigError(
                document.where(("name",)),
                "name",
                municipality.name,
                "does not match the registry",
                f"the registry says {registered.name!r}",
            )
        )
    orgnr = _orgnr(document, municipality, registered.orgnr, errors, warnings)
    vendor = vendors.get(municipality.vendor)
    if vendor is None:
        errors.append(
            ConfigError(
                document.where(("vendor",)),
                "vendor",
                municipality.vendor,
                "unknown vendor",
                "use one of the ids in vendors.yaml: " + ", ".join(sorted(vendors))
                if vendors
                else "add the vendor to vendors.yaml",
            )
        )
    routes: list[Route] = []
    for channel, overrides in municipality.channels.items():
        field = f"channels.{channel.value}"
        where = document.where(("channels", channel.value))
        channel_settings = settings.channels.get(channel)
        if not overrides.enabled:
            continue
        if channel_settings is None:
            errors.append(
                ConfigError(
                    where,
                    field,
                    channel.value,
                    "channel is not configured (or disabled) in kanari.yaml",
                    f"configure channels.{channel.value} in kanari.yaml or remove it here",
                )
            )
            continue
        if channel is Channel.ALTINN and not orgnr:
            errors.append(
                ConfigError(
                    document.where(("organisasjonsnummer",)),
                    "organisasjonsnummer",
                    None,
                    "the altinn channel needs the municipality's organisation number",
                    "add organisasjonsnummer (from Enhetsregisteret)",
                )
            )
            continue
        has_readback = vendor is not None and vendor.readback is not None
        final_hop = (
            overrides.final_hop or channel_settings.final_hop or default_final_hop(channel, has_readback)
        )
        if final_hop not in hops_of(channel):
            errors.append(
                _no_such_hop(
                    document.where(("channels", channel.value, "final_hop")),
                    f"{field}.final_hop",
                    channel,
                    final_hop,
                )
            )
            continue
        if final_hop is Hop.REGISTERED and vendor is not None and vendor.readback is None:
            errors.append(
                ConfigError(
                    document.where(("channels", channel.value, "final_hop")),
                    f"{field}.final_hop",
                    final_hop.value,
                    f"vendor {vendor.id} has no read-back API, so 'registered' cannot be seen",
                    "choose an earlier final hop, or configure the vendor's readback in vendors.yaml",
                )
            )
            continue
        deadline = overrides.deadline or channel_settings.deadline
        poll_interval = overrides.poll_interval or channel_settings.poll_interval
        _check_deadline(
            channel_settings=channel_settings,
            deadline=deadline,
            poll_interval=poll_interval,
            where=document.where(("channels", channel.value, "deadline")),
            field=f"{field}.deadline",
            errors=errors,
        )
        if overrides.bydel is not None and channel is not Channel.PORTAL:
            errors.append(
                ConfigError(
                    document.where(("channels", channel.value, "bydel")),
                    f"{field}.bydel",
                    overrides.bydel,
                    "only the portal channel addresses a bydel",
                )
            )
        routes.append(
            Route(
                channel=channel,
                kommunenummer=municipality.kommunenummer,
                municipality_name=registered.name,
                county=registered.county,
                orgnr=orgnr,
                vendor=municipality.vendor,
                bydel=overrides.bydel or municipality.bydel,
                interval=overrides.interval or channel_settings.interval,
                deadline=deadline,
                poll_interval=poll_interval,
                final_hop=final_hop,
            )
        )
    return routes if len(errors) == before else []


def _orgnr(
    document: YamlDocument,
    municipality: MunicipalityFile,
    registered: str,
    errors: list[ConfigError],
    warnings: list[str],
) -> str:
    given = municipality.organisasjonsnummer
    if given is None:
        return registered
    where = document.where(("organisasjonsnummer",))
    if not orgnr_is_valid(given):
        errors.append(
            ConfigError(
                where,
                "organisasjonsnummer",
                given,
                "bad check digit: not an organisation number",
                "copy it from Enhetsregisteret",
            )
        )
        return ""
    if registered and given != registered:
        errors.append(
            ConfigError(
                where,
                "organisasjonsnummer",
                given,
                "does not match the registry",
                f"the registry says {registered}",
            )
        )
        return ""
    if not registered:
        warnings.append(
            f"{where}: organisasjonsnummer {given} is not in the registry; verify it in Enhetsregisteret"
        )
    return given


def _location(path: str) -> Location:
    return tuple(path.split("."))
