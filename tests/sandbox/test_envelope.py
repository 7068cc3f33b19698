"""Opening CMS EnvelopedData as KS's kryptering does: KS's OAEP and the PKCS#1 v1.5 the real readers still
unwrap (reported, to be counted as a deviation), DER and BER, both recipient identifiers; and refusing
what does not open, each for its own reason."""

from __future__ import annotations

from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from probe.canary import cms as probe_cms
from probe.canary.asice import ContainerSigner, build_asice
from probe.sandbox.container import read_container
from probe.sandbox.envelope import EnvelopeError, KeyTransport, Opened, open_envelope
from probe.sandbox.errors import SandboxError
from tests.sandbox import cms_kit

Recipient = tuple[rsa.RSAPrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def recipient() -> Recipient:
    key = cms_kit.new_rsa_key()
    return key, cms_kit.certificate(key, "Fiktiv fagsystem Fiks IO")


@pytest.fixture(scope="module")
def other_recipient() -> Recipient:
    key = cms_kit.new_rsa_key()
    return key, cms_kit.certificate(key, "Fiktiv annen mottaker", subject_key_identifier=True)


def pkcs1v15_envelope(data: bytes, certificate: x509.Certificate, cipher: type = algorithms.AES256) -> bytes:
    """What ``cryptography`` (OpenSSL) makes: RSAES-PKCS1-v1_5 key transport, the only one it offers."""
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(data)
        .add_recipient(certificate)
        .set_content_encryption_algorithm(cipher)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def refused(data: bytes, recipient: Recipient, match: str) -> None:
    key, certificate = recipient
    with pytest.raises(EnvelopeError, match=match):
        open_envelope(data, certificate, key)


# Opened ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"x", bytes(16), b"line\nwith\r\nbreaks\r", bytes(range(256)) * 400])
def test_oaep_envelope_from_the_probe_decrypts_byte_for_byte(recipient: Recipient, data: bytes) -> None:
    key, certificate = recipient

    opened = open_envelope(probe_cms.encrypt(data, certificate), certificate, key)

    assert opened == Opened(data, KeyTransport.OAEP, "aes256_cbc", "sha256", "sha256")
    assert opened.content == data


@pytest.mark.parametrize(
    ("cipher", "name"), [(algorithms.AES128, "aes128_cbc"), (algorithms.AES256, "aes256_cbc")]
)
def test_pkcs1v15_envelope_decrypts_and_says_so(recipient: Recipient, cipher: type, name: str) -> None:
    key, certificate = recipient

    opened = open_envelope(pkcs1v15_envelope(b"%PDF-1.4 fiktiv", certificate, cipher), certificate, key)

    assert (opened.content, opened.key_transport, opened.content_cipher) == (
        b"%PDF-1.4 fiktiv",
        KeyTransport.PKCS1V15,
        name,
    )
    assert opened.oaep_hash is None


@pytest.mark.parametrize(
    ("oaep_hash", "mgf_hash"),
    [("sha1", "sha1"), ("sha224", "sha256"), ("sha384", "sha1"), ("sha512", "sha512")],
)
def test_oaep_with_every_hash_bouncycastle_takes_decrypts(
    recipient: Recipient, oaep_hash: str, mgf_hash: str
) -> None:
    key, certificate = recipient
    data = cms_kit.envelope(b"hemmelig", certificate, oaep_hash=oaep_hash, mgf_hash=mgf_hash)

    opened = open_envelope(data, certificate, key)

    assert (opened.content, opened.oaep_hash, opened.mgf1_hash) == (b"hemmelig", oaep_hash, mgf_hash)


def test_oaep_without_parameters_means_sha1(recipient: Recipient) -> None:
    key, certificate = recipient

    opened = open_envelope(cms_kit.envelope(b"hemmelig", certificate, omit_parameters=True), certificate, key)

    assert (opened.content, opened.oaep_hash, opened.mgf1_hash) == (b"hemmelig", "sha1", "sha1")


def test_aes192_content_decrypts(recipient: Recipient) -> None:
    key, certificate = recipient

    opened = open_envelope(cms_kit.envelope(b"hemmelig", certificate, cipher="aes192_cbc"), certificate, key)

    assert (opened.content, opened.content_cipher) == (b"hemmelig", "aes192_cbc")


def test_ber_as_bouncycastles_stream_generator_writes_it_decrypts(recipient: Recipient) -> None:
    key, certificate = recipient
    data = bytes(range(256)) * 40
    ber = cms_kit.as_ber(probe_cms.encrypt(data, certificate))

    assert ber[1] == 0x80  # indefinite length
    assert open_envelope(ber, certificate, key).content == data


@pytest.mark.parametrize("who", ["recipient", "other_recipient"])
def test_recipient_named_by_subject_key_identifier(request: pytest.FixtureRequest, who: str) -> None:
    """By the certificate's SubjectKeyIdentifier extension, or (``recipient`` has none) by the SHA-1 of
    its public key, as BouncyCastle's selector computes it."""
    key, certificate = request.getfixturevalue(who)

    opened = open_envelope(cms_kit.envelope(b"hemmelig", certificate, rid="ski"), certificate, key)

    assert opened.content == b"hemmelig"


def test_later_recipients_for_others_do_not_matter(recipient: Recipient, other_recipient: Recipient) -> None:
    key, certificate = recipient
    _, other = other_recipient
    other_info = cms_kit.recipient_info(other, bytes(32))

    opened = open_envelope(cms_kit.envelope(b"hemmelig", certificate, after=[other_info]), certificate, key)

    assert opened.content == b"hemmelig"


def test_signed_asice_survives_encryption(recipient: Recipient) -> None:
    key, certificate = recipient
    files = {"bekymringsmelding.json": b"{}", "bekymringsmelding.pdf": b"%PDF"}
    container = build_asice(files, ContainerSigner([certificate], key))

    opened = open_envelope(probe_cms.encrypt(container, certificate), certificate, key)

    assert read_container(opened.content).files == files


# Refused --------------------------------------------------------------------------------------------------


def test_refusals_are_sandbox_errors() -> None:
    assert issubclass(EnvelopeError, SandboxError)


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x01", b"-----BEGIN PKCS7-----"])
def test_garbage_is_refused(recipient: Recipient, data: bytes) -> None:
    refused(data, recipient, "not DER or BER encoded CMS EnvelopedData")


def test_truncated_message_is_refused(recipient: Recipient) -> None:
    _, certificate = recipient

    refused(probe_cms.encrypt(b"hemmelig", certificate)[:-20], recipient, "not DER or BER encoded")


def test_trailing_data_is_refused(recipient: Recipient) -> None:
    _, certificate = recipient

    refused(probe_cms.encrypt(b"hemmelig", certificate) + b"junk", recipient, "not DER or BER encoded")


def test_other_cms_content_is_refused(recipient: Recipient) -> None:
    key, certificate = recipient
    signed = cms_kit.signed_data(b"manifest", certificate, key)

    refused(signed, recipient, "not EnvelopedData but signed_data")


def test_envelope_for_another_recipient_is_refused(recipient: Recipient, other_recipient: Recipient) -> None:
    _, certificate = recipient

    refused(
        probe_cms.encrypt(b"hemmelig", certificate),
        other_recipient,
        "no recipient info names this certificate",
    )
    refused(pkcs1v15_envelope(b"hemmelig", certificate), other_recipient, "no recipient info names this")
    refused(cms_kit.envelope(b"x", certificate, rid="ski"), other_recipient, "no recipient info names this")


def test_wrong_subject_key_identifier_is_refused(recipient: Recipient) -> None:
    _, certificate = recipient

    refused(cms_kit.envelope(b"x", certificate, rid="wrong_ski"), recipient, "no recipient info names this")


def test_recipient_that_is_not_the_first_is_refused(recipient: Recipient, other_recipient: Recipient) -> None:
    """KS's kryptering decrypts the first recipient info, whoever it names."""
    _, certificate = recipient
    _, other = other_recipient
    first = cms_kit.recipient_info(other, bytes(32))

    refused(cms_kit.envelope(b"x", certificate, before=[first]), recipient, "is not the first")


def test_key_that_does_not_belong_to_the_certificate_is_refused(
    recipient: Recipient, other_recipient: Recipient
) -> None:
    """Checked before decrypting: an implicitly rejected PKCS#1 v1.5 block would sometimes 'decrypt'."""
    _, certificate = recipient
    other_key, _ = other_recipient

    with pytest.raises(EnvelopeError, match="does not belong to the certificate"):
        open_envelope(pkcs1v15_envelope(b"hemmelig", certificate), certificate, other_key)


def test_certificate_without_an_rsa_key_is_refused(recipient: Recipient) -> None:
    key, certificate = recipient
    ec_certificate = cms_kit.certificate(ec.generate_private_key(ec.SECP256R1()), "EC")

    with pytest.raises(EnvelopeError, match="does not hold an RSA key"):
        open_envelope(probe_cms.encrypt(b"x", certificate), ec_certificate, key)


def test_tampered_ciphertext_is_refused(recipient: Recipient) -> None:
    _, certificate = recipient
    # 32 bytes encrypt to three AES blocks, the last one all padding (0x10 * 16). The ciphertext ends the
    # DER, so flipping the last byte of the middle block turns the final padding byte into 0xef: invalid.
    der = bytearray(probe_cms.encrypt(bytes(32), certificate))
    der[-17] ^= 0xFF

    refused(bytes(der), recipient, "bad padding")


def test_ciphertext_that_is_not_whole_blocks_is_refused(recipient: Recipient) -> None:
    _, certificate = recipient

    refused(
        cms_kit.envelope(b"x", certificate, ciphertext=lambda c: c[:-1]), recipient, "not whole AES blocks"
    )
    refused(cms_kit.envelope(b"x", certificate, ciphertext=lambda c: b""), recipient, "not whole AES blocks")


def test_tampered_content_key_is_refused(recipient: Recipient) -> None:
    _, certificate = recipient
    garbage = bytes(256)  # RSA-2048 sized, not an OAEP block

    refused(
        cms_kit.envelope(b"x", certificate, encrypted_key=garbage), recipient, "content key does not decrypt"
    )


def test_content_key_of_the_wrong_length_is_refused(recipient: Recipient) -> None:
    """What a PKCS#1 v1.5 block that decrypts to a random key (implicit rejection) most often looks like."""
    _, certificate = recipient
    short = cms_kit.envelope(b"x", certificate, key_transport="rsaes_pkcs1v15", key_bytes=16)

    refused(short, recipient, "content key does not fit aes256_cbc")


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"cipher": "tripledes_3key", "iv": bytes(8)}, "unsupported content encryption tripledes_3key"),
        ({"iv": bytes(8)}, "needs a 16-byte IV"),
        ({"detached": True}, r"encrypted content is missing \(detached"),
        ({"content_type": "signed_data"}, "encrypted content is signed_data, not data"),
        ({"key_transport": "aes256_wrap"}, "unsupported key transport aes256_wrap"),
        ({"oaep_hash": "md5"}, "unsupported RSAES-OAEP hash md5"),
        ({"mgf_hash": "sha3_256"}, "unsupported RSAES-OAEP hash sha256 with mask mgf1"),
        ({"mgf": "1.2.3.4"}, "unsupported RSAES-OAEP hash sha256 with mask 1.2.3.4"),
        ({"label": b"kanari"}, "with a label is not supported"),
    ],
)
def test_unsupported_algorithms_are_refused(
    recipient: Recipient, changes: dict[str, Any], match: str
) -> None:
    _, certificate = recipient

    refused(cms_kit.envelope(b"x", certificate, **changes), recipient, match)


def test_kit_envelopes_are_what_they_claim(recipient: Recipient) -> None:
    """The hand-made envelopes carry the algorithms named (so the refusals above test what they say)."""
    _, certificate = recipient
    info = cms.ContentInfo.load(cms_kit.envelope(b"x", certificate, oaep_hash="sha384", mgf_hash="sha1"))
    transport = info["content"]["recipient_infos"][0].chosen["key_encryption_algorithm"]

    assert transport["parameters"]["hash_algorithm"]["algorithm"].native == "sha384"
    assert transport["parameters"]["mask_gen_algorithm"]["parameters"]["algorithm"].native == "sha1"
