"""Reading private keys and certificates from disk, refusing keys others can read.

A private key that group or other users can read is as good as leaked, so Kanari refuses to use one
(like ssh does) instead of warning. Errors name the file and the permission bits, never key material.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from probe.errors import ConfigError


def read_private_key_bytes(path: Path, field: str, config_file: str) -> bytes:
    """The bytes of a private key file after checking it exists, is readable and is private (0600)."""
    try:
        # Mode and contents come from the same open file, so a swap between check and read cannot pass.
        with path.open("rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            if mode & 0o077:
                raise ConfigError(
                    config_file,
                    field,
                    str(path),
                    f"key file is readable by others (mode {oct(mode)})",
                    f"chmod 600 {path}",
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


def load_private_key(path: Path, field: str, config_file: str) -> PrivateKeyTypes:
    """A PEM private key (unencrypted PKCS#8 or traditional), checked by :func:`read_private_key_bytes`."""
    data = read_private_key_bytes(path, field, config_file)
    try:
        return load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            config_file,
            field,
            str(path),
            "not an unencrypted PEM private key",
            "write the key as PEM (PKCS#8), e.g. with `kanari keys generate`",
        ) from None


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
