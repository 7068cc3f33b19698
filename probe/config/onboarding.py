"""Onboarding a municipality: its file under ``municipalities/``, pre-filled from the national registry.

``kanari onboard 4601 --vendor example-vendor`` checks the request against the configuration the same
way ``kanari config check`` checks a file (the same messages for an unknown kommunenummer, vendor or
organisation number), refuses to overwrite anything, and writes ``municipalities/4601-bergen.yaml``
with the registry's name, the vendor, the channels, and commented placeholders for what only the
municipality knows (contacts, bydel). Nothing is written when any check fails.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from probe.config.loader import KanariConfig, check_config
from probe.config.municipalities import Contact
from probe.config.registry import Municipality
from probe.config.validation.municipalities import check_orgnr, unknown_kommunenummer
from probe.config.validation.vendors import unknown_vendor
from probe.errors import ConfigError, KanariError
from probe.hops import Channel

# Where a problem with the command's own arguments is reported.
COMMAND_LINE = "command line"
_KOMMUNENUMMER = re.compile(r"^\d{4}$")


class OnboardingRefusedError(KanariError):
    """Nothing was written; ``errors`` says why (each a :class:`ConfigError`)."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(error.render() for error in self.errors))


@dataclasses.dataclass(frozen=True)
class OnboardRequest:
    """What ``kanari onboard`` was asked for. ``channels=None`` means every channel ``kanari.yaml``
    configures and enables."""

    kommunenummer: str
    vendor: str
    channels: tuple[Channel, ...] | None = None
    organisasjonsnummer: str | None = None
    contact_emails: tuple[str, ...] = ()
    contact_name: str | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """The file to write: where, what, and for whom."""

    path: Path
    text: str
    municipality: Municipality
    vendor: str
    channels: tuple[Channel, ...]
    warnings: tuple[str, ...] = ()


def plan(directory: Path, request: OnboardRequest, environ: Mapping[str, str] | None = None) -> Plan:
    """Check ``request`` against the configuration in ``directory`` and render the file.

    Raises :class:`OnboardingRefusedError` listing every problem: an unusable ``kanari.yaml`` or
    ``vendors.yaml``, an unknown kommunenummer or vendor, a channel not configured, a missing or wrong
    organisation number, a bad contact, or a file that already onboards the municipality.
    """
    result = check_config(directory, environ, with_secrets=False)
    config = result.config
    vendors_file = str(config.settings.vendors_file) if config else "vendors.yaml"
    # Problems in the files onboarding reads block it; a missing municipalities/ does not (it is created).
    blocking = [
        error
        for error in result.errors
        if error.file.split(":")[0] in {"kanari.yaml", vendors_file} and error.field != "municipalities_dir"
    ]
    if config is None or blocking:
        raise OnboardingRefusedError(blocking or result.errors)
    errors: list[ConfigError] = []
    warnings: list[str] = []
    municipality = _municipality(config, request.kommunenummer, errors)
    if request.vendor not in config.vendors:
        errors.append(unknown_vendor(COMMAND_LINE, "--vendor", request.vendor, config.vendors))
    channels = _channels(config, request.channels, errors)
    contacts = _contacts(request, municipality, errors)
    orgnr_to_write: str | None = None
    if municipality is not None:
        orgnr_to_write = _orgnr(
            config, municipality, request, channels=channels, errors=errors, warnings=warnings
        )
        existing = existing_files(config, municipality.kommunenummer)
        target = (
            config.path(config.settings.municipalities_dir)
            / f"{municipality.kommunenummer}-{municipality.slug}.yaml"
        )
        for path in existing:
            name = _shown(config, path)
            errors.append(
                ConfigError(
                    name,
                    "kommunenummer",
                    municipality.kommunenummer,
                    f"{municipality.name} is already onboarded by this file",
                    "edit that file instead; kanari onboard never overwrites",
                )
            )
    if errors or municipality is None:
        raise OnboardingRefusedError(errors)
    text = render_file(municipality, request.vendor, channels, orgnr_to_write, contacts)
    return Plan(target, text, municipality, request.vendor, channels, tuple(warnings))


def write(plan: Plan) -> None:
    """Create the planned file; never replaces one (even one created since :func:`plan` looked)."""
    plan.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(plan.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OnboardingRefusedError(
            [ConfigError(str(plan.path), "(file)", str(plan.path), "exists; kanari onboard never overwrites")]
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(plan.text)


def existing_files(config: KanariConfig, kommunenummer: str) -> list[Path]:
    """Every file under ``municipalities/`` that already onboards ``kommunenummer``: by its name
    (any slug) or by the kommunenummer inside it."""
    directory = config.path(config.settings.municipalities_dir)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        by_name = path.name.startswith(f"{kommunenummer}-") or path.stem == kommunenummer
        if by_name or (path.suffix in {".yaml", ".yml"} and _number_inside(path) == kommunenummer):
            found.append(path)
    return found


def _number_inside(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # config check reports it; it cannot be this municipality's file in any usable way
    number = data.get("kommunenummer") if isinstance(data, dict) else None
    return number if isinstance(number, str) else None


def _shown(config: KanariConfig, path: Path) -> str:
    try:
        return str(path.relative_to(config.directory))
    except ValueError:
        return str(path)


def _municipality(config: KanariConfig, number: str, errors: list[ConfigError]) -> Municipality | None:
    registry = config.registry
    if not _KOMMUNENUMMER.match(number):
        padded = number.zfill(4) if number.isdigit() and len(number) < 4 else ""
        hint = (
            f"did you mean {padded} ({registry[padded].name})? a kommunenummer keeps its leading zero"
            if padded in registry
            else "e.g. kanari onboard 4601 --vendor ID"
        )
        errors.append(ConfigError(COMMAND_LINE, "KOMMUNENUMMER", number, "must be four digits", hint))
        return None
    municipality = registry.get(number)
    if municipality is None:
        errors.append(unknown_kommunenummer(COMMAND_LINE, "KOMMUNENUMMER", number, registry, in_file=False))
    return municipality


def _channels(
    config: KanariConfig, wanted: tuple[Channel, ...] | None, errors: list[ConfigError]
) -> tuple[Channel, ...]:
    available = tuple(channel for channel in Channel if config.settings.channels.get(channel) is not None)
    if wanted is None:
        if not available:
            errors.append(
                ConfigError(
                    COMMAND_LINE,
                    "--channels",
                    None,
                    "kanari.yaml configures no enabled channel",
                    "configure channels.portal and/or channels.altinn in kanari.yaml first",
                )
            )
        return available
    for channel in wanted:
        if channel not in available:
            errors.append(
                ConfigError(
                    COMMAND_LINE,
                    "--channels",
                    channel.value,
                    f"the {channel.value} channel is not configured (or is disabled) in kanari.yaml",
                    "use " + " and/or ".join(c.value for c in available)
                    if available
                    else "configure it first",
                )
            )
    return wanted


def _contacts(
    request: OnboardRequest, municipality: Municipality | None, errors: list[ConfigError]
) -> list[Contact]:
    name = request.contact_name or (f"Barneverntjenesten i {municipality.name}" if municipality else "")
    contacts = []
    for email in request.contact_emails:
        try:
            contacts.append(Contact(name=name or "Barneverntjenesten", email=email))
        except ValueError:
            errors.append(
                ConfigError(
                    COMMAND_LINE, "--contact-email", email, "not an e-mail address", "e.g. vakt@example.no"
                )
            )
    return contacts


def _orgnr(
    config: KanariConfig,
    municipality: Municipality,
    request: OnboardRequest,
    *,
    channels: tuple[Channel, ...],
    errors: list[ConfigError],
    warnings: list[str],
) -> str | None:
    """The organisation number to write: only when the registry has none (it is required then for
    the altinn channel); a given one must pass the same checks as in a file."""
    given = request.organisasjonsnummer
    if given is not None:
        before = len(errors)
        check_orgnr(
            COMMAND_LINE,
            "--organisasjonsnummer",
            given,
            registered=municipality,
            registry=config.registry,
            errors=errors,
            warnings=warnings,
        )
        if len(errors) > before:
            return None
    if municipality.orgnr:
        return None  # the registry's is used; writing it again would only let the two drift apart
    if given is None and Channel.ALTINN in channels:
        errors.append(
            ConfigError(
                COMMAND_LINE,
                "--organisasjonsnummer",
                None,
                "the altinn channel addresses the municipality by organisation number, and the registry has "
                f"none for {municipality.name}",
                "give --organisasjonsnummer NNNNNNNNN (from Enhetsregisteret), or --channels portal",
            )
        )
    return given


def _scalar(value: str) -> str:
    # Names such as "Trondheim - Tråante" are plain YAML; anything needing quotes gets them.
    return yaml.safe_dump(value, allow_unicode=True, width=1000).removesuffix("\n...\n").strip()


def render_file(
    municipality: Municipality,
    vendor: str,
    channels: Sequence[Channel],
    organisasjonsnummer: str | None,
    contacts: Sequence[Contact],
) -> str:
    """The municipality file's text: the values, with comments saying what each optional part is for."""
    number = municipality.kommunenummer
    county = f", {municipality.county}" if municipality.county else ""
    lines = [
        f"# {municipality.name} ({number}{county}), onboarded with `kanari onboard`.",
        "# Before the merge request: `kanari config check`, then with the operations centre one canary",
        f"# per channel: `kanari once --municipality {number} --channel portal` (docs/municipalities.md).",
        f'kommunenummer: "{number}"',
        f"name: {_scalar(municipality.name)}",
    ]
    if organisasjonsnummer:
        lines.append(
            f'organisasjonsnummer: "{organisasjonsnummer}"  # not in the registry: from Enhetsregisteret'
        )
    elif municipality.orgnr:
        lines.append(f"# organisasjonsnummer comes from the registry ({municipality.orgnr}).")
    lines += [
        f"vendor: {_scalar(vendor)}",
        "# The child-welfare office (bydel) portal canaries go to; leave it out for the default office.",
        '# bydel: "01"',
        "channels:",
        "  # Each channel may override kanari.yaml's interval, deadline, poll_interval and final_hop, e.g.",
        "  # altinn: {final_hop: registered} when the fagsystem imports Altinn mail and has read-back.",
    ]
    lines += [f"  {channel.value}: {{}}" for channel in channels]
    lines.append(
        "# Who at the municipality gets this municipality's alerts (an e-mail address and/or a webhook)."
    )
    if contacts:
        lines.append("contacts:")
        for contact in contacts:
            lines.append(f"  - name: {_scalar(contact.name)}")
            lines.append(f"    email: {_scalar(contact.email or '')}")
    else:
        lines += [
            "# contacts:",
            f"#   - name: Barneverntjenesten i {municipality.name}, fagsystemansvarlig",
            "#     email: barnevern@kommune.example",
            "#     webhook_url: https://alerts.kommune.example/kanari",
        ]
    return "\n".join(lines) + "\n"
