"""Checks of each municipality file against the national registry and ``vendors.yaml``: file name,
kommunenummer, name, organisation number, vendor, and one file per municipality.

The messages for an unknown kommunenummer and an organisation number are shared with
``kanari onboard``, so both commands say the same thing about the same mistake.
"""

from __future__ import annotations

import dataclasses

from probe.config.municipalities import MunicipalityFile, municipality_file_number
from probe.config.registry import Municipality, Registry, orgnr_is_valid
from probe.config.validation.vendors import unknown_vendor
from probe.config.vendors import Vendor
from probe.config.yamlfile import YamlDocument
from probe.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Accepted:
    """A municipality file whose identity checks passed: what its routes are built from."""

    document: YamlDocument
    model: MunicipalityFile
    registered: Municipality
    orgnr: str


def check_municipalities(
    documents: list[tuple[YamlDocument, MunicipalityFile]],
    registry: Registry,
    vendors: dict[str, Vendor] | None,
    errors: list[ConfigError],
    warnings: list[str],
) -> list[Accepted]:
    """Check every file; returns those without identity problems. ``vendors`` is ``None`` when
    ``vendors.yaml`` could not be read (its own error is reported; vendor ids are then not checked)."""
    accepted: list[Accepted] = []
    owner: dict[str, str] = {}
    for document, municipality in documents:
        number = municipality.kommunenummer
        if number in owner:
            errors.append(
                ConfigError(
                    document.where(("kommunenummer",)),
                    "kommunenummer",
                    number,
                    f"duplicate route: {owner[number]} already onboards this municipality",
                    "keep one file per municipality: merge the two and delete this one",
                )
            )
            continue
        owner[number] = document.name
        found = _check_one(
            document, municipality, registry=registry, vendors=vendors, errors=errors, warnings=warnings
        )
        if found is not None:
            accepted.append(found)
    return accepted


def _check_one(
    document: YamlDocument,
    municipality: MunicipalityFile,
    *,
    registry: Registry,
    vendors: dict[str, Vendor] | None,
    errors: list[ConfigError],
    warnings: list[str],
) -> Accepted | None:
    before = len(errors)
    number = municipality.kommunenummer
    registered = registry.get(number)
    _check_file_name(document, number, registered, errors, warnings)
    orgnr = ""
    if registered is None:
        errors.append(
            unknown_kommunenummer(
                document.where(("kommunenummer",)), "kommunenummer", number, registry, municipality.name
            )
        )
    else:
        if municipality.name != registered.name:
            errors.append(
                ConfigError(
                    document.where(("name",)),
                    "name",
                    municipality.name,
                    f"does not match the registry's name for {number}",
                    f"write name: {registered.name}",
                )
            )
        orgnr = check_orgnr(
            document.where(("organisasjonsnummer",)),
            "organisasjonsnummer",
            municipality.organisasjonsnummer,
            registered=registered,
            registry=registry,
            errors=errors,
            warnings=warnings,
        )
    if vendors is not None and municipality.vendor not in vendors:
        errors.append(unknown_vendor(document.where(("vendor",)), "vendor", municipality.vendor, vendors))
    if len(errors) != before or registered is None:
        return None
    return Accepted(document, municipality, registered, orgnr)


def _check_file_name(
    document: YamlDocument,
    number: str,
    registered: Municipality | None,
    errors: list[ConfigError],
    warnings: list[str],
) -> None:
    base = document.name.replace("\\", "/").rsplit("/", 1)[-1]
    expected = f"{number}-{registered.slug}.yaml" if registered else f"{number}-<name>.yaml"
    file_number = municipality_file_number(base)
    if file_number is None:
        errors.append(
            ConfigError(
                document.name,
                "(file name)",
                base,
                "a municipality file is named <kommunenummer>-<name>.yaml",
                f"rename it to {expected} (kanari onboard names files this way)",
            )
        )
    elif file_number != number:
        errors.append(
            ConfigError(
                document.where(("kommunenummer",)),
                "kommunenummer",
                number,
                f"does not match the file name {base}",
                f"correct kommunenummer, or rename the file to {expected}",
            )
        )
    elif registered is not None and base.rsplit(".", 1)[0] != f"{number}-{registered.slug}":
        warnings.append(f"{document.name}: the file name does not follow the registry's name: {expected}")


def unknown_kommunenummer(
    where: str, field: str, number: str, registry: Registry, name: str | None = None, *, in_file: bool = True
) -> ConfigError:
    """The error for a kommunenummer the registry does not list, with the new number when it was
    renumbered (or split), or the number of a municipality called ``name``. ``in_file`` says whether
    the fix is in a municipality file (``config check``) or on the command line (``kanari onboard``)."""
    message = f"not in the national registry ({len(registry)} municipalities, {registry.source})"
    successors = registry.successors(number)
    if len(successors) == 1:
        new = successors[0]
        fix = (
            f"set kommunenummer: '{new.kommunenummer}' and name the file {new.kommunenummer}-{new.slug}.yaml"
            if in_file
            else f"kanari onboard {new.kommunenummer} --vendor ID"
        )
        hint = f"it is now {new.kommunenummer} {new.name}: {fix}"
        return ConfigError(where, field, number, message + f"; {number} is an earlier number", hint)
    if successors:
        now = ", ".join(f"{m.kommunenummer} {m.name}" for m in successors)
        hint = f"it was split and is now {now}: onboard each one (kanari onboard NUMBER --vendor ID)"
        return ConfigError(where, field, number, message + f"; {number} is an earlier number", hint)
    same_name = registry.named(name) if name else []
    if same_name:
        listed = " and ".join(f"{m.kommunenummer} ({m.county})" for m in same_name)
        return ConfigError(
            where, field, number, message, f"the registry lists {same_name[0].name} as {listed}"
        )
    return ConfigError(
        where, field, number, message, "use the municipality's current four-digit number (SSB, klass 131)"
    )


def check_orgnr(
    where: str,
    field: str,
    given: str | None,
    *,
    registered: Municipality,
    registry: Registry,
    errors: list[ConfigError],
    warnings: list[str],
) -> str:
    """The organisation number to use for ``registered``: the registry's, or ``given`` when it passes
    (check digit, agreement with the registry); ``""`` when there is none or it is wrong."""
    if given is None:
        return registered.orgnr
    keep_registry = (
        f"the registry has {registered.orgnr} for {registered.name}: use it, or leave {field} out"
        if registered.orgnr
        else "copy it from Enhetsregisteret (brreg.no)"
    )
    if not orgnr_is_valid(given):
        errors.append(
            ConfigError(
                where, field, given, "not an organisation number: the check digit is wrong", keep_registry
            )
        )
        return ""
    other = registry.by_orgnr(given)
    belongs = f"; it is {other.name}'s ({other.kommunenummer})" if other and other is not registered else ""
    if registered.orgnr and given != registered.orgnr:
        errors.append(
            ConfigError(
                where,
                field,
                given,
                f"does not match the registry's number for {registered.name}{belongs}",
                keep_registry,
            )
        )
        return ""
    if other is not None and other is not registered:
        errors.append(
            ConfigError(where, field, given, f"belongs to another municipality{belongs}", keep_registry)
        )
        return ""
    if not registered.orgnr:
        warnings.append(
            f"{where}: organisasjonsnummer {given} is not in the registry; verify it in Enhetsregisteret"
        )
    return given
