"""Reading and writing key files and certificates, refusing private keys others can read.

A private key that any user can read is as good as leaked, so Kanari refuses to use one instead of
warning. The owner and the file's group may read it (as PostgreSQL allows for its server key): that is
how Kubernetes mounts a Secret for a non-root pod (``defaultMode: 0440``, group of the pod's
``fsGroup``), and how a key owned by root is shared with a service's group. A file any other user can
read, or the group can write, is refused. Errors name the file, where its path came from (``file:line``
or the ``KANARI_`` variable) and the permission bits, never key material.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from probe.errors import ConfigError

# Permission bits a private key or secret file must not have: any for other users, and writing or
# executing for the group. Owner- and group-readable files (0600, 0640, 0400, 0440) pass.
NOT_PRIVATE = stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP


def mode_problem(mode: int) -> str | None:
    """Why a key or secret file with permission bits ``mode`` is not private enough, or ``None``."""
    if mode & stat.S_IRWXO:
        return f"is readable by others (mode {oct(mode)})"
    if mode & NOT_PRIVATE:
        return f"is writable by its group (mode {oct(mode)})"
    return None


def private_mode_hint(path: Path) -> str:
    """How to make ``path`` private enough."""
    return f"chmod 600 {path} (or 0440 with the file's group, as a Kubernetes Secret is mounted)"


def read_private_key_bytes(path: Path, field: str, config_file: str) -> bytes:
    """The bytes of a private key file after checking it exists, is readable and is private (see
    :data:`NOT_PRIVATE`)."""
    try:
        # Mode and contents come from the same open file, so a swap between check and read cannot pass.
        with path.open("rb") as file:
            problem = mode_problem(stat.S_IMODE(os.fstat(file.fileno()).st_mode))
            if problem is not None:
                raise ConfigError(
                    config_file, field, str(path), f"key file {problem}", private_mode_hint(path)
                )
            return file.read()
    except OSError as error:
        raise ConfigError(
            config_file,
            field,
            str(path),
            f"cannot read key file: {error.strerror}",
            "check the path (relative paths are resolved against the config directory)",
        ) from None


def load_private_key(
    path: Path, field: str, config_file: str, parsed: dict[bytes, PrivateKeyTypes] | None = None
) -> PrivateKeyTypes:
    """A PEM private key (unencrypted PKCS#8 or traditional), checked by :func:`read_private_key_bytes`.

    ``parsed`` holds keys already parsed from the same bytes: parsing an RSA key checks it, which costs
    tens of milliseconds, and Maskinporten's key is often the business certificate's own."""
    data = read_private_key_bytes(path, field, config_file)
    if parsed is not None and data in parsed:
        return parsed[data]
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            config_file,
            field,
            str(path),
            "not an unencrypted PEM private key",
            "write the key as PEM (PKCS#8), e.g. with `kanari keys generate`",
        ) from None
    if parsed is not None:
        parsed[data] = key
    return key


def load_certificate_chain(path: Path, field: str, config_file: str) -> list[x509.Certificate]:
    """A PEM certificate chain, leaf first."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            config_file, field, str(path), f"cannot read certificate file: {error.strerror}"
        ) from None
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(config_file, field, str(path), "not a PEM certificate chain") from None
    return chain


def generate_signing_key(path: Path) -> None:
    """Write a new Ed25519 private key to ``path`` as unencrypted PKCS#8 PEM with mode 0600.

    Never overwrites: if ``path`` exists (or appears meanwhile: the file is created exclusively), raises
    :class:`~probe.errors.ConfigError`, because replacing a signing key silently would make every marker in
    flight unverifiable and lose the old key for good. Rotate by writing a new file and keeping the old
    public key among ``previous_public_keys``.
    """
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            str(path),
            "key_file",
            "exists",
            "refusing to overwrite an existing file",
            "choose another path; keep the old key's public half for rotation",
        ) from None
    except OSError as error:
        raise ConfigError(
            str(path), "key_file", str(path), f"cannot create key file: {error.strerror}"
        ) from None
    try:
        # The umask may only have narrowed 0600; set it exactly, before any secret is written.
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        path.unlink(missing_ok=True)
        raise ConfigError(
            str(path), "key_file", str(path), f"cannot write key file: {error.strerror}"
        ) from None


def load_signing_key(
    path: Path, field: str = "key_file", config_file: str | None = None
) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM), refusing a file others can read.

    Raises :class:`~probe.errors.ConfigError` naming ``config_file`` (default the key file itself) and
    ``field``, never the key's contents, when the file cannot be read, is not private, or is not
    an Ed25519 key.
    """
    config_file = config_file or str(path)
    key = load_private_key(path, field, config_file)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            config_file,
            field,
            str(path),
            "not an Ed25519 private key",
            "write one with `kanari keys generate`",
        )
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A previously used Ed25519 public key (PEM SubjectPublicKeyInfo), kept to verify markers signed
    before a rotation. Public, so its permissions are not checked. Raises
    :class:`~probe.errors.ConfigError` when unreadable or not an Ed25519 public key."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            str(path), "public_key_file", str(path), f"cannot read public key file: {error.strerror}"
        ) from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(str(path), "public_key_file", str(path), "not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(str(path), "public_key_file", str(path), "not an Ed25519 public key")
    return key
