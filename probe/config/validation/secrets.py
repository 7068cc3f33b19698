"""Checks of what is read from outside the configuration files: secrets, private keys, certificates.

Skipped by ``with_secrets=False`` (``kanari render``, ``config check --skip-secrets`` in CI), where the
secrets are not present. Messages name the file or variable, never what is in it.
"""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from probe.canary.marker import load_public_key
from probe.config.keyfiles import load_certificate_chain, load_private_key
from probe.config.models import ProbeSettings, Vendor
from probe.config.types import SecretRef, secret_refs
from probe.config.validation.common import VENDORS_FILE, Where, dotted, where_in
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
    if ref.env is not None:
        value: str = ref.env
        hint = (
            f"set {ref.env} in the probe's environment (for docker compose: under environment: in "
            "deploy/compose.yml), or use {file: PATH}"
        )
        problem = (
            "the environment variable is not set"
            if ref.env not in environ
            else "the environment variable is empty"
            if not environ[ref.env]
            else None
        )
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
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                warnings.append(
                    f"{where}: {field}: secret file {path} is readable by others (mode {oct(mode)}); "
                    f"chmod 600 {path}"
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


def check_key_files(
    directory: Path, settings: ProbeSettings, where: Where, errors: list[ConfigError], warnings: list[str]
) -> None:
    """The signing key is a private Ed25519 key, the Maskinporten key a private RSA key matching its
    certificate chain, earlier public keys load, and the CA bundle is PEM."""

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else directory / path

    signing = settings.signing
    location: Location = ("signing", "key_file")
    key = _private_key(resolve(signing.key_file), location, where, errors)
    if key is not None and not isinstance(key, Ed25519PrivateKey):
        errors.append(
            ConfigError(
                where(location),
                dotted(*location),
                str(signing.key_file),
                "not an Ed25519 key",
                "generate one with `kanari keys generate --out FILE`",
            )
        )
    maskinporten = settings.maskinporten
    location = ("maskinporten", "key_file")
    rsa_key = _private_key(resolve(maskinporten.key_file), location, where, errors)
    if rsa_key is not None and not isinstance(rsa_key, RSAPrivateKey):
        errors.append(
            ConfigError(
                where(location),
                dotted(*location),
                str(maskinporten.key_file),
                "not an RSA key (Maskinporten signs with RS256)",
                "use the RSA key registered with the Maskinporten client",
            )
        )
        rsa_key = None
    if maskinporten.certificate_chain_file is not None:
        _chain_for_key(
            resolve(maskinporten.certificate_chain_file),
            written=maskinporten.certificate_chain_file,
            location=("maskinporten", "certificate_chain_file"),
            key=rsa_key,
            key_field="maskinporten.key_file",
            where=where,
            errors=errors,
            warnings=warnings,
        )
    business = settings.business_certificate
    if business is not None:
        location = ("business_certificate", "key_file")
        business_key = _private_key(resolve(business.key_file), location, where, errors)
        if business_key is not None and not isinstance(business_key, RSAPrivateKey):
            errors.append(
                ConfigError(
                    where(location),
                    dotted(*location),
                    str(business.key_file),
                    "not an RSA key (business certificates are RSA)",
                    "use the private key of the business certificate (virksomhetssertifikat)",
                )
            )
            business_key = None
        _chain_for_key(
            resolve(business.certificate_chain_file),
            written=business.certificate_chain_file,
            location=("business_certificate", "certificate_chain_file"),
            key=business_key,
            key_field="business_certificate.key_file",
            where=where,
            errors=errors,
            warnings=warnings,
        )
    _previous_keys(settings, resolve, where, errors)
    if settings.http.ca_bundle is not None:
        location = ("http", "ca_bundle")
        try:
            load_certificate_chain(resolve(settings.http.ca_bundle), dotted(*location), where(location))
        except ConfigError as error:
            errors.append(error)


# A certificate that expires within this many days is warned about on every `config check`: renewing a
# business certificate takes weeks (ordering, delivery, registering the new one with KS and Maskinporten).
EXPIRY_WARNING_DAYS = 30


def _chain_for_key(
    path: Path,
    *,
    written: Path,
    location: Location,
    key: RSAPrivateKey | None,
    key_field: str,
    where: Where,
    errors: list[ConfigError],
    warnings: list[str],
) -> None:
    """A PEM chain, leaf first, whose leaf is ``key``'s certificate and valid now."""
    field = dotted(*location)
    try:
        chain = load_certificate_chain(path, field, where(location))
    except ConfigError as error:
        errors.append(error)
        return
    if not chain:
        errors.append(ConfigError(where(location), field, str(written), "holds no certificate"))
        return
    leaf = chain[0]
    if key is not None and leaf.public_key() != key.public_key():
        errors.append(
            ConfigError(
                where(location),
                field,
                str(written),
                f"the first certificate is not for {key_field}",
                "put the business certificate of that key first, then its issuers",
            )
        )
    now = dt.datetime.now(dt.UTC)
    expires = leaf.not_valid_after_utc
    if expires <= now or leaf.not_valid_before_utc > now:
        errors.append(
            ConfigError(
                where(location),
                field,
                str(written),
                f"the certificate is not valid now (valid {leaf.not_valid_before_utc:%Y-%m-%d} to "
                f"{expires:%Y-%m-%d})",
                "renew the business certificate and register the new one",
            )
        )
    elif expires - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        warnings.append(
            f"{where(location)}: {field}: the certificate expires on {expires:%Y-%m-%d} "
            f"({(expires - now).days} days left); renew it and register the new one"
        )


def _private_key(
    path: Path, location: Location, where: Where, errors: list[ConfigError]
) -> PrivateKeyTypes | None:
    try:
        return load_private_key(path, dotted(*location), where(location))
    except ConfigError as error:
        errors.append(error)
        return None


def _previous_keys(
    settings: ProbeSettings, resolve: Callable[[Path], Path], where: Where, errors: list[ConfigError]
) -> None:
    signing = settings.signing
    seen = {signing.key_id: "signing.key_id"}
    for index, previous in enumerate(signing.previous_public_keys):
        location = ("signing", "previous_public_keys", index)
        if previous.key_id in seen:
            errors.append(
                ConfigError(
                    where((*location, "key_id")),
                    dotted(*location, "key_id"),
                    previous.key_id,
                    f"the same key id as {seen[previous.key_id]}",
                    "every published key needs its own key id, or markers cannot be verified",
                )
            )
        seen.setdefault(previous.key_id, dotted(*location, "key_id"))
        try:
            load_public_key(resolve(previous.public_key_file))
        except ConfigError as error:
            errors.append(
                ConfigError(
                    where((*location, "public_key_file")),
                    dotted(*location, "public_key_file"),
                    str(previous.public_key_file),
                    error.message,
                    "the previous key's public half as PEM: "
                    "openssl pkey -in OLD-KEY.pem -pubout -out OLD-KEY.pub.pem",
                )
            )


def _location(path: str) -> Location:
    return tuple(path.split("."))
