"""CMS EnvelopedData: RSA key transport, AES-256-CBC, binary content, and refusing what does not decrypt."""

from __future__ import annotations

import pytest

from probe.canary import cms
from probe.canary.asice import build_asice, read_asice
from probe.errors import CmsError
from tests.canary.conftest import Recipient

# DER-encoded object identifiers the EnvelopedData must carry.
ENVELOPED_DATA = bytes.fromhex("06092a864886f70d010703")  # 1.2.840.113549.1.7.3
AES256_CBC = bytes.fromhex("060960864801650304012a")  # 2.16.840.1.101.3.4.1.42
RSA_ENCRYPTION = bytes.fromhex("06092a864886f70d010101")  # 1.2.840.113549.1.1.1


@pytest.mark.parametrize("data", [b"", b"x", bytes(16), b"line\nwith\r\nbreaks\r", bytes(range(256)) * 400])
def test_round_trip_is_byte_for_byte(recipient: Recipient, data: bytes) -> None:
    key, certificate = recipient

    assert cms.decrypt(cms.encrypt(data, certificate), certificate, key) == data


def test_output_is_der_enveloped_data_with_rsa_key_transport_and_aes256_cbc(
    recipient: Recipient,
) -> None:
    _, certificate = recipient

    der = cms.encrypt(b"bekymringsmelding", certificate)

    assert der[0] == 0x30  # a DER SEQUENCE (ContentInfo), not PEM or S/MIME
    assert ENVELOPED_DATA in der
    assert RSA_ENCRYPTION in der
    assert AES256_CBC in der
    assert b"bekymringsmelding" not in der


def test_every_encryption_uses_a_fresh_content_key(
    recipient: Recipient,
) -> None:
    _, certificate = recipient

    assert cms.encrypt(b"samme", certificate) != cms.encrypt(b"samme", certificate)


def test_asice_survives_encryption(recipient: Recipient) -> None:
    key, certificate = recipient
    files = {"bekymringsmelding.json": b"{}", "bekymringsmelding.pdf": b"%PDF"}

    assert read_asice(cms.decrypt(cms.encrypt(build_asice(files), certificate), certificate, key)) == files


def test_wrong_recipient_is_refused(
    recipient: Recipient,
    other_recipient: Recipient,
) -> None:
    _, certificate = recipient
    other_key, other_certificate = other_recipient

    with pytest.raises(CmsError, match="No recipient found"):
        cms.decrypt(cms.encrypt(b"hemmelig", certificate), other_certificate, other_key)


def test_key_that_does_not_belong_to_the_certificate_is_refused(
    recipient: Recipient,
    other_recipient: Recipient,
) -> None:
    _, certificate = recipient
    other_key, _ = other_recipient

    with pytest.raises(CmsError, match="does not belong to the certificate"):
        cms.decrypt(cms.encrypt(b"hemmelig", certificate), certificate, other_key)


def test_tampered_ciphertext_is_refused(recipient: Recipient) -> None:
    key, certificate = recipient
    # 32 bytes encrypt to three AES blocks, the last one all padding (0x10 * 16). The ciphertext ends the
    # DER, so flipping the last byte of the middle block turns the final padding byte into 0xef: invalid.
    der = bytearray(cms.encrypt(bytes(32), certificate))
    der[-17] ^= 0xFF

    with pytest.raises(CmsError, match="cannot decrypt"):
        cms.decrypt(bytes(der), certificate, key)


def test_truncated_message_is_refused(recipient: Recipient) -> None:
    key, certificate = recipient
    der = cms.encrypt(b"hemmelig", certificate)

    with pytest.raises(CmsError, match="cannot decrypt"):
        cms.decrypt(der[:-20], certificate, key)


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"-----BEGIN PKCS7-----"])
def test_garbage_is_refused(recipient: Recipient, data: bytes) -> None:
    key, certificate = recipient

    with pytest.raises(CmsError, match="cannot decrypt"):
        cms.decrypt(data, certificate, key)
