"""X.509 for the sandbox: certificate authorities, business certificates, TLS, and KS's print and Fiks IO
encryption certificates.

RSA key generation is slow (tens of milliseconds per key), certificate signing is fast. So the sandbox
generates a handful of keys once (kept in the state dir, :mod:`probe.sandbox.credentials`) and issues
certificates freely: one Fiks IO certificate per municipality and office, lazily on first request, all
for the key of the municipality's vendor, as a vendor with one Fiks IO account per customer would have.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import ipaddress

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from probe.clock import NORWAY, Clock, to_datetime, to_local_text

# Long-lived sandbox authorities and business/TLS certificates: the files are reused across restarts and
# a FakeClock may sit anywhere in this window.
LONG_NOT_BEFORE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
LONG_NOT_AFTER = dt.datetime(2049, 12, 31, tzinfo=dt.UTC)
# KS's encryption certificates are short-lived relative to the world's clock, as real ones are (a
# client must never cache them past ``validTo``).
ENCRYPTION_CERT_DAYS = 365


def new_key() -> rsa.RSAPrivateKey:
    """A new RSA-2048 key (the size Maskinporten and Fiks IO use)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(common_name: str, organization: str, *extra: x509.NameAttribute[str]) -> x509.Name:
    """A subject/issuer name ``C=NO, O=organization, CN=common_name`` plus ``extra`` attributes."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            *extra,
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _serial(*parts: str) -> int:
    # Deterministic serials make the certificates of a restarted sandbox recognisable in logs.
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:16], "big") >> 1


def certificate_authority(key: rsa.RSAPrivateKey, subject: x509.Name) -> x509.Certificate:
    """A self-signed root CA certificate."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial("ca", subject.rfc4514_string()))
        .not_valid_before(LONG_NOT_BEFORE)
        .not_valid_after(LONG_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclasses.dataclass(frozen=True)
class Authority:
    """A CA key and certificate that issues leaf certificates."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    def issue(
        self,
        public_key: rsa.RSAPublicKey,
        subject: x509.Name,
        not_before: dt.datetime = LONG_NOT_BEFORE,
        not_after: dt.datetime = LONG_NOT_AFTER,
        *,
        signing: bool = False,
        encryption: bool = False,
        client_auth: bool = False,
        server_names: tuple[str, ...] = (),
    ) -> x509.Certificate:
        """A leaf certificate for ``public_key``, for signing and/or encryption, client or server auth."""
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(_serial("leaf", subject.rfc4514_string(), str(not_before)))
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=signing,
                    content_commitment=False,
                    key_encipherment=encryption,
                    data_encipherment=encryption,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.certificate.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        usages = []
        if client_auth:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if server_names:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            alternative: list[x509.GeneralName] = []
            for server in server_names:
                try:
                    alternative.append(x509.IPAddress(ipaddress.ip_address(server)))
                except ValueError:
                    alternative.append(x509.DNSName(server))
            builder = builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        return builder.sign(self.key, hashes.SHA256())


def business_subject(organization: str, orgnr: str, common_name: str) -> x509.Name:
    """A Norwegian business certificate's subject: the organisation number both as ``serialNumber``
    (older Buypass/Commfides profile) and as ``organizationIdentifier`` ``NTRNO-<orgnr>`` (eIDAS)."""
    return name(
        common_name,
        organization,
        x509.NameAttribute(NameOID.SERIAL_NUMBER, orgnr),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRNO-{orgnr}"),
    )


def orgnr_of(certificate: x509.Certificate) -> set[str]:
    """The organisation numbers a business certificate's subject names."""
    numbers: set[str] = set()
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
        numbers.add(str(attribute.value))
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER):
        value = str(attribute.value)
        numbers.add(value.removeprefix("NTRNO-"))
    return numbers


def verify_chain(chain: list[x509.Certificate], root: x509.Certificate, instant: float) -> x509.Certificate:
    """Check that ``chain`` (leaf first) leads to ``root`` and that every certificate is valid at
    ``instant``; returns the leaf. Raises ``ValueError`` naming the problem."""
    if not chain:
        raise ValueError("empty certificate chain")
    when = to_datetime(instant)
    path = list(chain)
    if path[-1] != root:
        path.append(root)
    for index, certificate in enumerate(path):
        if not certificate.not_valid_before_utc <= when <= certificate.not_valid_after_utc:
            raise ValueError(f"certificate {index} is not valid at {when.isoformat()}")
        issuer = path[index + 1] if index + 1 < len(path) else root
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError) as error:
            raise ValueError(f"certificate {index} is not issued by the next one: {error}") from None
        except InvalidSignature:
            raise ValueError(f"certificate {index} has an invalid signature") from None
    return chain[0]


def pem(certificate: x509.Certificate) -> str:
    """The certificate as PEM text."""
    return certificate.public_bytes(Encoding.PEM).decode()


def local_time(moment: dt.datetime) -> str:
    """A Europe/Oslo local date-time without zone, to the second, as KS writes a key's ``validFrom`` and
    ``validTo`` (Java ``LocalDateTime``)."""
    return to_local_text(moment.timestamp(), NORWAY)


def key_object(certificate: x509.Certificate) -> dict[str, str]:
    """KS's key object ``{nokkel, validFrom, validTo, serial, subjectDN, issuerDN}``."""
    return {
        "nokkel": pem(certificate),
        "validFrom": local_time(certificate.not_valid_before_utc),
        "validTo": local_time(certificate.not_valid_after_utc),
        "serial": str(certificate.serial_number),
        "subjectDN": certificate.subject.rfc4514_string(),
        "issuerDN": certificate.issuer.rfc4514_string(),
    }


class FiksPki:
    """KS's encryption certificates: one print certificate, and a Fiks IO certificate per municipality
    and office, issued lazily for the key of the office's vendor."""

    def __init__(
        self,
        clock: Clock,
        authority: Authority,
        print_key: rsa.RSAPrivateKey,
        vendor_keys: dict[str, rsa.RSAPrivateKey],
        vendor_names: dict[str, str],
    ) -> None:
        self._clock = clock
        self._authority = authority
        self._vendor_keys = vendor_keys
        self._vendor_names = vendor_names
        self._issue_print(print_key)
        self._fiks_io: dict[tuple[str, str], x509.Certificate] = {}

    def _issue_print(self, print_key: rsa.RSAPrivateKey) -> None:
        not_before, not_after = self._window()
        self.print_key = print_key
        self.print_certificate = self._authority.issue(
            print_key.public_key(),
            name("KS Fiks print (sandbox)", "KS (sandbox)"),
            not_before,
            not_after,
            encryption=True,
        )

    def rotate_print_key(self) -> None:
        """KS changes its print key and certificate: from now on only the new one decrypts, as after a
        real rotation, and ``krypteringsnokler`` serves the new certificate."""
        self._issue_print(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def _window(self) -> tuple[dt.datetime, dt.datetime]:
        now = to_datetime(self._clock.now()).replace(microsecond=0)
        return now - dt.timedelta(days=1), now + dt.timedelta(days=ENCRYPTION_CERT_DAYS)

    def vendor_key(self, vendor_id: str) -> rsa.RSAPrivateKey:
        """The private key of a vendor's Fiks IO account (its fagsystem decrypts with it)."""
        return self._vendor_keys[vendor_id]

    def fiks_io_certificate(self, kommunenummer: str, bydelsnummer: str, vendor_id: str) -> x509.Certificate:
        """The Fiks IO certificate of one office, issued on first use."""
        key = (kommunenummer, bydelsnummer)
        certificate = self._fiks_io.get(key)
        if certificate is None:
            not_before, not_after = self._window()
            certificate = self._authority.issue(
                self._vendor_keys[vendor_id].public_key(),
                name(
                    f"Fiks IO {kommunenummer}-{bydelsnummer}",
                    f"{self._vendor_names[vendor_id]} (sandbox)",
                ),
                not_before,
                not_after,
                encryption=True,
            )
            self._fiks_io[key] = certificate
        return certificate
