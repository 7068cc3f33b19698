"""The sandbox's keys, certificates and passwords, generated into its state dir at first start and reused
afterwards (so a restarted sandbox keeps accepting the probe's configuration).

Files Kanari (or a test) reads, directly in the state dir; secrets are mode 0600:

==================================  =======================================================================
``maskinporten-client.key.pem``     Kanari's Maskinporten client key (secret), registered with kid
                                    ``kanari-sandbox-key``
``maskinporten-client.chain.pem``   business certificate chain for the same key (x5c mode), leaf first
``maskinporten-recipient.key.pem``  the recipient-side client's key (secret), kid
                                    ``sandbox-municipality-system-key``
``fiks-integrasjon-passord``        the KS integration password (secret)
``readback-<vendor>.token``         the static read-back bearer token of each such vendor (secret)
``ca.pem``                          the TLS CA to trust, when TLS is on
``sandbox.json``                    everything else, not secret (:mod:`probe.sandbox.manifest`)
==================================  =======================================================================

The sandbox's own private keys (token signing, the CAs, KS's print key, the vendors' Fiks IO keys, the
TLS server key) live under ``internal/`` (mode 0700) and are never needed by a client. Nothing here is
logged; the state dir carries its own ``.gitignore`` (``*``) so it is never committed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from probe.sandbox.certs import Authority, business_subject, certificate_authority, name, new_key

log = logging.getLogger("probe.sandbox")

KANARI_CLIENT_ID = "kanari-sandbox"
KANARI_KEY_ID = "kanari-sandbox-key"
# Fictional organisation numbers (valid check digits) of the probe's operator and of the recipient-side
# system vendor every municipality has delegated to. They exist only in the sandbox.
KANARI_ORGNR = "999888771"
KANARI_ORGANIZATION = "Kanari sandbox operator"
RECIPIENT_CLIENT_ID = "sandbox-municipality-system"
RECIPIENT_KEY_ID = "sandbox-municipality-system-key"
RECIPIENT_ORGNR = "999666558"

CLIENT_KEY_FILE = "maskinporten-client.key.pem"
CLIENT_CHAIN_FILE = "maskinporten-client.chain.pem"
RECIPIENT_KEY_FILE = "maskinporten-recipient.key.pem"
INTEGRASJON_PASSORD_FILE = "fiks-integrasjon-passord"
TLS_CA_FILE = "ca.pem"
MANIFEST_FILE = "sandbox.json"
INTERNAL_DIR = "internal"
TLS_SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


def readback_token_file(vendor_id: str) -> str:
    """File name of a static-token vendor's read-back token."""
    return f"readback-{vendor_id}.token"


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """The TLS files uvicorn serves with, and the CA a client must trust."""

    ca_file: Path
    certificate_file: Path
    key_file: Path


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Every key and secret of the sandbox world."""

    state_dir: Path
    token_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    client_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    client_chain: tuple[x509.Certificate, ...]
    recipient_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    business_ca: Authority = dataclasses.field(repr=False)
    ks_ca: Authority = dataclasses.field(repr=False)
    print_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    vendor_keys: dict[str, rsa.RSAPrivateKey] = dataclasses.field(repr=False)
    integrasjon_passord: str = dataclasses.field(repr=False)
    readback_tokens: dict[str, str] = dataclasses.field(repr=False)
    tls: TlsFiles | None = None

    def path(self, file_name: str) -> Path:
        """Absolute path of a file in the state dir."""
        return (self.state_dir / file_name).resolve()


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def write_public(path: Path, data: bytes) -> None:
    """Write non-secret ``data`` to ``path`` (0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o644)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certs_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in certificates)


class _Store:
    """Reads a file if present and sound, else creates it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.internal = state_dir / INTERNAL_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        # Whatever the repository's own .gitignore says, git never picks up the state dir's secrets.
        ignore = state_dir / ".gitignore"
        if not ignore.exists():
            write_public(ignore, b"# Generated by the Kanari sandbox: keys and secrets, never commit.\n*\n")
        self.internal.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.internal.chmod(0o700)

    def key(self, path: Path) -> rsa.RSAPrivateKey:
        if path.exists():
            try:
                # The sandbox wrote these keys itself (mode 0600): skipping RSA's consistency checks,
                # ~30 ms per key, keeps start-up well under a second.
                loaded = serialization.load_pem_private_key(
                    path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
                )
            except ValueError:
                log.warning("sandbox: %s is not a readable key; generating a new one", path.name)
            else:
                if isinstance(loaded, rsa.RSAPrivateKey):
                    path.chmod(0o600)
                    return loaded
                log.warning("sandbox: %s is not an RSA key; generating a new one", path.name)
        key = new_key()
        write_secret(path, _key_pem(key))
        return key

    def secret(self, path: Path) -> str:
        if path.exists():
            text = path.read_text(encoding="utf-8").strip()
            if text:
                path.chmod(0o600)
                return text
        value = secrets.token_urlsafe(32)
        write_secret(path, value.encode())
        return value

    def certificates(
        self,
        path: Path,
        sound: Callable[[list[x509.Certificate]], bool],
        create: Callable[[], list[x509.Certificate]],
    ) -> list[x509.Certificate]:
        if path.exists():
            try:
                loaded = x509.load_pem_x509_certificates(path.read_bytes())
            except ValueError:
                loaded = []
            if loaded and sound(loaded):
                return loaded
        created = create()
        write_public(path, _certs_pem(created))
        return created

    def authority(self, stem: str, subject: x509.Name) -> Authority:
        key = self.key(self.internal / f"{stem}.key.pem")

        def sound(found: list[x509.Certificate]) -> bool:
            return found[0].public_key() == key.public_key() and found[0].subject == subject

        certificate = self.certificates(
            self.internal / f"{stem}.pem", sound, lambda: [certificate_authority(key, subject)]
        )[0]
        return Authority(key, certificate)


def _issued_for(certificate: x509.Certificate, key: rsa.RSAPrivateKey, authority: Authority) -> bool:
    try:
        certificate.verify_directly_issued_by(authority.certificate)
    except Exception:  # any failure (wrong issuer, bad signature) means: issue a new one
        return False
    return certificate.public_key() == key.public_key()


def load_or_create(
    state_dir: Path, vendor_ids: Iterable[str], static_vendors: Iterable[str], tls: bool
) -> Credentials:
    """The sandbox's credentials from ``state_dir``, generating whatever is missing or inconsistent."""
    store = _Store(state_dir)
    business_ca = store.authority("business-ca", name("Sandbox Business CA", "Kanari sandbox"))
    ks_ca = store.authority("ks-ca", name("KS Fiks sandbox CA", "KS (sandbox)"))
    client_key = store.key(state_dir / CLIENT_KEY_FILE)
    leaf_subject = business_subject(KANARI_ORGANIZATION, KANARI_ORGNR, "Kanari sandbox")

    def chain_sound(found: list[x509.Certificate]) -> bool:
        return (
            len(found) == 2
            and found[1] == business_ca.certificate
            and _issued_for(found[0], client_key, business_ca)
        )

    def chain_create() -> list[x509.Certificate]:
        leaf = business_ca.issue(client_key.public_key(), leaf_subject, signing=True, client_auth=True)
        return [leaf, business_ca.certificate]

    chain = store.certificates(state_dir / CLIENT_CHAIN_FILE, chain_sound, chain_create)
    tls_files = _tls(store) if tls else None
    return Credentials(
        state_dir=state_dir,
        token_key=store.key(store.internal / "token-signing.key.pem"),
        client_key=client_key,
        client_chain=tuple(chain),
        recipient_key=store.key(state_dir / RECIPIENT_KEY_FILE),
        business_ca=business_ca,
        ks_ca=ks_ca,
        print_key=store.key(store.internal / "ks-print.key.pem"),
        vendor_keys={vendor: store.key(store.internal / f"vendor-{vendor}.key.pem") for vendor in vendor_ids},
        integrasjon_passord=store.secret(state_dir / INTEGRASJON_PASSORD_FILE),
        readback_tokens={
            vendor: store.secret(state_dir / readback_token_file(vendor)) for vendor in static_vendors
        },
        tls=tls_files,
    )


def _tls(store: _Store) -> TlsFiles:
    authority = store.authority("tls-ca", name("Kanari sandbox TLS CA", "Kanari sandbox"))
    write_public(store.state_dir / TLS_CA_FILE, _certs_pem([authority.certificate]))
    server_key_file = store.internal / "tls-server.key.pem"
    server_key = store.key(server_key_file)
    certificate_file = store.internal / "tls-server.pem"

    def sound(found: list[x509.Certificate]) -> bool:
        return _issued_for(found[0], server_key, authority)

    store.certificates(
        certificate_file,
        sound,
        lambda: [
            authority.issue(
                server_key.public_key(),
                name("localhost", "Kanari sandbox"),
                signing=True,
                encryption=True,
                server_names=TLS_SERVER_NAMES,
            )
        ],
    )
    return TlsFiles(
        (store.state_dir / TLS_CA_FILE).resolve(), certificate_file.resolve(), server_key_file.resolve()
    )
