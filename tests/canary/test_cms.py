"""CMS EnvelopedData as ``ks-no/kryptering`` makes it (AES-256-CBC, RSAES-OAEP with SHA-256 and
MGF1-SHA-256), checked by OpenSSL: it prints the algorithms and decrypts the content byte for byte."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from probe.canary import cms
from tests.canary.conftest import Recipient

OPENSSL = shutil.which("openssl")


def _openssl(*arguments: str) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *arguments], capture_output=True, check=False)


def _write_recipient(recipient: Recipient, directory: Path) -> tuple[Path, Path]:
    key, certificate = recipient
    key_file, certificate_file = directory / "key.pem", directory / "certificate.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key_file, certificate_file


def test_openssl_shows_rsaes_oaep_with_sha256_and_aes256_cbc(recipient: Recipient, tmp_path: Path) -> None:
    envelope = tmp_path / "envelope.der"
    envelope.write_bytes(cms.encrypt(b"bekymringsmelding", recipient[1]))
    printed = _openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", str(envelope))
    assert printed.returncode == 0, printed.stderr
    text = printed.stdout.decode()
    assert "rsaesOaep" in text
    assert "aes-256-cbc" in text
    parameters = _openssl("asn1parse", "-inform", "DER", "-in", str(envelope)).stdout.decode()
    # The OAEP parameters: hash SHA-256, then MGF1 with SHA-256 (each with NULL parameters, as kryptering).
    oaep = parameters[parameters.index(":rsaesOaep") :]
    assert [line.split(":")[-1].strip() for line in oaep.splitlines()[1:12] if "OBJECT" in line][:3] == [
        "sha256",
        "mgf1",
        "sha256",
    ]
    assert b"bekymringsmelding" not in envelope.read_bytes()


@pytest.mark.parametrize("data", [b"", b"x", bytes(16), b"line\nwith\r\nbreaks\r", bytes(range(256)) * 400])
def test_openssl_decrypts_it_byte_for_byte(recipient: Recipient, tmp_path: Path, data: bytes) -> None:
    key_file, certificate_file = _write_recipient(recipient, tmp_path)
    envelope = tmp_path / "envelope.der"
    envelope.write_bytes(cms.encrypt(data, recipient[1]))
    decrypted = _openssl(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(envelope),
        "-inkey", str(key_file), "-recip", str(certificate_file),
    )  # fmt: skip
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == data


def test_another_recipient_cannot_decrypt(
    recipient: Recipient, other_recipient: Recipient, tmp_path: Path
) -> None:
    key_file, certificate_file = _write_recipient(other_recipient, tmp_path)
    envelope = tmp_path / "envelope.der"
    envelope.write_bytes(cms.encrypt(b"secret", recipient[1]))
    decrypted = _openssl(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(envelope),
        "-inkey", str(key_file), "-recip", str(certificate_file),
    )  # fmt: skip
    assert decrypted.returncode != 0


def test_every_encryption_uses_a_fresh_content_key(recipient: Recipient) -> None:
    assert cms.encrypt(b"same", recipient[1]) != cms.encrypt(b"same", recipient[1])
