"""The keys and certificates a configuration names, read and type-checked once.

:func:`read_keys` reads every key file and certificate of ``kanari.yaml`` when the configuration is
loaded with its secrets, reports each problem the way ``kanari config check`` prints it (file:line,
field, value, fix), and hands the probe typed :class:`Keys`: the marker's Ed25519 signing key and the
public keys markers are verified with, Maskinporten's RSA key and certificate chain, and the business
certificate that signs the ASiC-E container. Nothing else in Kanari opens a key file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from probe.config.keyfiles import load_certificate_chain, load_private_key, load_public_key
from probe.config.models import ProbeSettings
from probe.config.places import Where, dotted
from probe.config.yamlfile import Location
from probe.errors import ConfigError

# A certificate that expires within this many days is warned about on every `config check`: renewing a
# business certificate takes weeks (ordering, delivery, registering the new one with KS and Maskinporten).
EXPIRY_WARNING_DAYS = 30

# What an RSA key file is for, as the problem and fix to report when it holds another kind of key.
RSA_PURPOSES = {
    "maskinporten": (
        "not an RSA key (Maskinporten signs with RS256)",
        "use the RSA key registered with the Maskinporten client",
    ),
    "business_certificate": (
        "not an RSA key (business certificates are RSA)",
        "use the private key of the business certificate (virksomhetssertifikat)",
    ),
}


@dataclasses.dataclass(frozen=True)
class Keys:
    """Every key and certificate the probe signs, encrypts or authenticates with."""

    marker_key: Ed25519PrivateKey = dataclasses.field(repr=False)
    marker_key_id: str
    # The current key's public half and every earlier one still published, by key id.
    marker_public_keys: Mapping[str, Ed25519PublicKey]
    maskinporten_key: RSAPrivateKey = dataclasses.field(repr=False)
    # Sent as ``x5c`` when Maskinporten is configured with a business certificate; empty with ``kid``.
    maskinporten_chain: tuple[x509.Certificate, ...]
    # The business certificate (leaf first) and its key, which sign the ASiC-E; ``None`` without portal.
    business_chain: tuple[x509.Certificate, ...] | None
    business_key: RSAPrivateKey | None = dataclasses.field(repr=False)
    # The extra CAs of ``http.ca_bundle`` (a test or internal CA), empty without one.
    ca_bundle: tuple[x509.Certificate, ...] = ()

    def expiries(self) -> dict[str, float]:
        """When each key with a certificate stops working (Unix seconds): the earliest ``notAfter`` of
        its chain, since the chain fails as soon as any of it expires. ``maskinporten`` only with a
        certificate chain (``x5c``), ``business_certificate`` with the portal, ``ca_bundle`` with one;
        the Ed25519 marker key and a Maskinporten key registered by ``kid`` have no expiry."""
        chains = {
            "maskinporten": self.maskinporten_chain,
            "business_certificate": self.business_chain or (),
            "ca_bundle": self.ca_bundle,
        }
        return {
            key: min(certificate.not_valid_after_utc for certificate in chain).timestamp()
            for key, chain in chains.items()
            if chain
        }


def read_keys(
    directory: Path, settings: ProbeSettings, where: Where, errors: list[ConfigError], warnings: list[str]
) -> Keys | None:
    """Read the key files of ``settings`` (relative paths against ``directory``); ``None`` after
    appending to ``errors`` when one is missing, of the wrong kind, or does not match its certificate."""
    before = len(errors)
    parsed: dict[bytes, PrivateKeyTypes] = {}

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else directory / path

    def rsa_key(section: str, path: Path) -> RSAPrivateKey | None:
        location = (section, "key_file")
        key, wrong_kind = _private_key(
            resolve(path), written=path, location=location, where=where, errors=errors, parsed=parsed
        )
        if key is None or isinstance(key, RSAPrivateKey):
            return key
        wrong_kind(*RSA_PURPOSES[section])
        return None

    def chain(section: str, path: Path, key: RSAPrivateKey | None) -> list[x509.Certificate]:
        return _chain_for_key(
            resolve(path),
            written=path,
            location=(section, "certificate_chain_file"),
            key=key,
            key_field=f"{section}.key_file",
            where=where,
            errors=errors,
            warnings=warnings,
        )

    signing = settings.signing
    marker_key = _ed25519_key(
        resolve(signing.key_file),
        written=signing.key_file,
        location=("signing", "key_file"),
        where=where,
        errors=errors,
        parsed=parsed,
    )
    maskinporten = settings.maskinporten
    maskinporten_key = rsa_key("maskinporten", maskinporten.key_file)
    maskinporten_chain: list[x509.Certificate] = []
    if maskinporten.certificate_chain_file is not None:
        maskinporten_chain = chain("maskinporten", maskinporten.certificate_chain_file, maskinporten_key)
    business_chain: list[x509.Certificate] | None = None
    business_key: RSAPrivateKey | None = None
    business = settings.business_certificate
    if business is not None:
        business_key = rsa_key("business_certificate", business.key_file)
        business_chain = chain("business_certificate", business.certificate_chain_file, business_key)
    public_keys = _previous_keys(settings, resolve, where, errors)
    ca_bundle: list[x509.Certificate] = []
    if settings.http.ca_bundle is not None:
        location = ("http", "ca_bundle")
        try:
            ca_bundle = load_certificate_chain(
                resolve(settings.http.ca_bundle), dotted(*location), where(location)
            )
        except ConfigError as error:
            errors.append(error)
    if len(errors) > before or marker_key is None or maskinporten_key is None:
        return None
    return Keys(
        marker_key=marker_key,
        marker_key_id=signing.key_id,
        marker_public_keys={signing.key_id: marker_key.public_key(), **public_keys},
        maskinporten_key=maskinporten_key,
        maskinporten_chain=tuple(maskinporten_chain),
        business_chain=tuple(business_chain) if business_chain is not None else None,
        business_key=business_key,
        ca_bundle=tuple(ca_bundle),
    )


def _private_key(
    path: Path,
    *,
    written: Path,
    location: Location,
    where: Where,
    errors: list[ConfigError],
    parsed: dict[bytes, PrivateKeyTypes],
) -> tuple[PrivateKeyTypes | None, Callable[[str, str], None]]:
    """The key in ``path`` (or ``None`` after an error), and how to report it is of the wrong kind."""

    def wrong_kind(problem: str, hint: str) -> None:
        errors.append(ConfigError(where(location), dotted(*location), str(written), problem, hint))

    try:
        return load_private_key(path, dotted(*location), where(location), parsed), wrong_kind
    except ConfigError as error:
        errors.append(error)
        return None, wrong_kind


def _ed25519_key(
    path: Path,
    *,
    written: Path,
    location: Location,
    where: Where,
    errors: list[ConfigError],
    parsed: dict[bytes, PrivateKeyTypes],
) -> Ed25519PrivateKey | None:
    key, wrong_kind = _private_key(
        path, written=written, location=location, where=where, errors=errors, parsed=parsed
    )
    if key is None or isinstance(key, Ed25519PrivateKey):
        return key
    wrong_kind("not an Ed25519 key", "generate one with `kanari keys generate --out FILE`")
    return None


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
) -> list[x509.Certificate]:
    """A PEM chain, leaf first, whose leaf is ``key``'s certificate and valid now."""
    field = dotted(*location)
    try:
        chain = load_certificate_chain(path, field, where(location))
    except ConfigError as error:
        errors.append(error)
        return []
    if not chain:
        errors.append(ConfigError(where(location), field, str(written), "holds no certificate"))
        return []
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
    return chain


def _previous_keys(
    settings: ProbeSettings, resolve: Callable[[Path], Path], where: Where, errors: list[ConfigError]
) -> dict[str, Ed25519PublicKey]:
    signing = settings.signing
    seen = {signing.key_id: "signing.key_id"}
    public_keys: dict[str, Ed25519PublicKey] = {}
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
            public_keys[previous.key_id] = load_public_key(resolve(previous.public_key_file))
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
    return public_keys
