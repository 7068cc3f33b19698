"""Opening CMS EnvelopedData (RFC 5652), as a receiving system opens what KS and Fiks IO hand it.

The sandbox's fagsystems open the ``asice`` part with their Fiks IO key, and KS opens the
``bekymringsmelding`` part with its print key, with this module. It is deliberately independent of the
probe's encryption (:mod:`probe.canary.cms`): a shared mistake in one module would otherwise make the
sandbox accept exactly what a real receiver refuses. It parses with ``asn1crypto``'s CMS definitions and
decrypts with ``cryptography``'s primitives.

What it accepts is what KS's own reader accepts (``ks-no/kryptering``, ``CMSKrypteringImpl.dekrypterData``,
BouncyCastle's ``JceKeyTransEnvelopedRecipient``), and no more:

* DER or BER (BouncyCastle's streaming generator, which KS's producer client uses, writes indefinite
  lengths and a chunked ciphertext);
* key transport RSAES-OAEP with SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512 and MGF1 with any of those
  (absent parameters mean SHA-1, as RFC 4055 says), the label empty; or RSAES-PKCS1-v1_5. KS's contract
  is OAEP with SHA-256 (DESIGN 3.2), but BouncyCastle unwraps both, so a PKCS#1 v1.5 envelope is opened
  and reported (:attr:`Opened.key_transport`) for the caller to count as a deviation;
* content encryption AES-128, AES-192 or AES-256 in CBC mode, PKCS#7 padded;
* the recipient named by issuer and serial number or by subject key identifier. ``kryptering`` decrypts
  the *first* recipient info whatever it names, so an envelope whose first recipient is someone else fails
  there; it is refused here too, with a message saying so.

Refused with :class:`EnvelopeError`: anything that is not CMS EnvelopedData, no recipient for the
certificate, a private key that is not the certificate's, an unsupported algorithm, and a key or content
that does not decrypt. EnvelopedData has no integrity protection (CBC has no tag): a changed ciphertext
is caught only when it breaks the padding, and the ASiC-E signature is what proves the content genuine.

A wrong key would not always fail either. RSA PKCS#1 v1.5 decryption rejects a bad key block
*implicitly* (OpenSSL returns a random content key instead of an error, against Bleichenbacher's timing
attack), so about 1 in 256 attempts with a wrong key gets past the padding check and returns garbage.
:func:`open_envelope` therefore checks that the key belongs to the certificate before anything else.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP, PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from probe.sandbox.errors import SandboxError

AES_BLOCK_BYTES = 16
# The content ciphers a receiver opens, with their key length in bytes.
CONTENT_CIPHERS = {"aes128_cbc": 16, "aes192_cbc": 24, "aes256_cbc": 32}
# The hashes BouncyCastle's OAEP unwrapping takes, for the OAEP hash and for MGF1.
OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class EnvelopeError(SandboxError):
    """CMS EnvelopedData that the receiver cannot or will not open."""


class KeyTransport(enum.StrEnum):
    """How the content key was transported to the recipient."""

    OAEP = "rsaes_oaep"
    PKCS1V15 = "rsaes_pkcs1v15"


@dataclasses.dataclass(frozen=True, slots=True)
class Opened:
    """An opened envelope: the content and how it was protected.

    ``oaep_hash`` and ``mgf1_hash`` name the OAEP hashes (``None`` for PKCS#1 v1.5), ``content_cipher``
    the asn1crypto name of the content encryption (``aes256_cbc``)."""

    content: bytes = dataclasses.field(repr=False)
    key_transport: KeyTransport
    content_cipher: str
    oaep_hash: str | None = None
    mgf1_hash: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Recipient:
    """What a key-transport recipient info says, read out of asn1crypto."""

    key_transport: KeyTransport
    scheme: OAEP | PKCS1v15
    encrypted_key: bytes
    oaep_hash: str | None = None
    mgf1_hash: str | None = None


def open_envelope(data: bytes, certificate: x509.Certificate, private_key: rsa.RSAPrivateKey) -> Opened:
    """The content of the CMS EnvelopedData ``data`` (DER or BER) addressed to ``certificate``,
    decrypted with its ``private_key``; raises :class:`EnvelopeError` (see the module docstring)."""
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise EnvelopeError("CMS: the recipient certificate does not hold an RSA key")
    # First, before any decryption: a wrong key is not reliably detected by decrypting (implicit rejection).
    if public_key.public_numbers() != private_key.public_key().public_numbers():
        raise EnvelopeError("CMS: the private key does not belong to the certificate")
    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "enveloped_data":
            raise EnvelopeError(f"CMS: not EnvelopedData but {info['content_type'].native}")
        enveloped = info["content"]
        recipient = _recipient(enveloped["recipient_infos"], certificate)
        encrypted_content = enveloped["encrypted_content_info"]
        content_type = encrypted_content["content_type"].native
        algorithm = encrypted_content["content_encryption_algorithm"]
        cipher = algorithm["algorithm"].native
        iv = algorithm["parameters"].native if cipher in CONTENT_CIPHERS else None
        ciphertext = encrypted_content["encrypted_content"].native
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        # asn1crypto parses lazily: a malformed structure surfaces on first access, as one of these.
        raise EnvelopeError("CMS: not DER or BER encoded CMS EnvelopedData") from None
    if content_type != "data":
        raise EnvelopeError(f"CMS: the encrypted content is {content_type}, not data")
    if cipher not in CONTENT_CIPHERS:
        raise EnvelopeError(f"CMS: unsupported content encryption {cipher}")
    if not isinstance(iv, bytes) or len(iv) != AES_BLOCK_BYTES:
        raise EnvelopeError(f"CMS: {cipher} needs a {AES_BLOCK_BYTES}-byte IV")
    if not isinstance(ciphertext, bytes):
        raise EnvelopeError("CMS: the encrypted content is missing (detached EnvelopedData)")
    content_key = _content_key(recipient, private_key)
    if len(content_key) != CONTENT_CIPHERS[cipher]:
        # Also what an implicitly rejected PKCS#1 v1.5 block most often looks like.
        raise EnvelopeError(f"CMS: the content key does not fit {cipher} (wrong key or tampered)")
    return Opened(
        content=_decrypt_content(content_key, iv, ciphertext),
        key_transport=recipient.key_transport,
        content_cipher=cipher,
        oaep_hash=recipient.oaep_hash,
        mgf1_hash=recipient.mgf1_hash,
    )


def _recipient(recipient_infos: cms.RecipientInfos, certificate: x509.Certificate) -> _Recipient:
    """The key-transport recipient info that names ``certificate``; it must be the first, as
    ``kryptering`` reads only the first."""
    ours = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    infos = list(recipient_infos)
    matching = [
        index
        for index, info in enumerate(infos)
        if info.name == "ktri" and identifies(info.chosen["rid"], ours)
    ]
    if not matching:
        raise EnvelopeError("CMS: no recipient info names this certificate (encrypted for someone else)")
    if matching[0] != 0:
        raise EnvelopeError(
            "CMS: the recipient info for this certificate is not the first (kryptering opens only the first)"
        )
    info = infos[0].chosen
    algorithm = info["key_encryption_algorithm"]
    name = algorithm["algorithm"].native
    encrypted_key = info["encrypted_key"].native
    if name == KeyTransport.PKCS1V15.value:
        return _Recipient(KeyTransport.PKCS1V15, PKCS1v15(), encrypted_key)
    if name != KeyTransport.OAEP.value:
        raise EnvelopeError(f"CMS: unsupported key transport {name}")
    parameters = algorithm["parameters"]
    if isinstance(parameters, core.Void):
        # Absent parameters are RFC 4055's defaults: SHA-1, MGF1 with SHA-1, the empty label.
        parameters = algos.RSAESOAEPParams.load(b"\x30\x00")
    oaep_hash = parameters["hash_algorithm"]["algorithm"].native
    mgf = parameters["mask_gen_algorithm"]
    mgf1_hash = mgf["parameters"]["algorithm"].native if mgf["algorithm"].native == "mgf1" else None
    label = parameters["p_source_algorithm"]
    if oaep_hash not in OAEP_HASHES or mgf1_hash not in OAEP_HASHES:
        raise EnvelopeError(
            f"CMS: unsupported RSAES-OAEP hash {oaep_hash} with mask {mgf['algorithm'].native}"
        )
    if label["algorithm"].native != "p_specified" or label["parameters"].native != b"":
        raise EnvelopeError("CMS: RSAES-OAEP with a label is not supported (KS's contract has none)")
    # The empty label is ``label=None`` to cryptography.
    scheme = OAEP(
        mgf=MGF1(algorithm=OAEP_HASHES[mgf1_hash]()), algorithm=OAEP_HASHES[oaep_hash](), label=None
    )
    return _Recipient(KeyTransport.OAEP, scheme, encrypted_key, oaep_hash, mgf1_hash)


def identifies(
    identifier: cms.RecipientIdentifier | cms.SignerIdentifier, certificate: asn1_x509.Certificate
) -> bool:
    """Whether a CMS recipient or signer identifier names ``certificate``: by its issuer and serial
    number, or by its subject key identifier (the extension, or else RFC 5280's SHA-1 of the public key,
    as BouncyCastle's certificate selector computes it)."""
    if identifier.name == "issuer_and_serial_number":
        named = identifier.chosen
        if named["serial_number"].native != certificate.serial_number:
            return False
        # Byte-equal names are equal; only names encoded differently need X.500's comparison, whose
        # string preparation costs more than the decryption itself.
        return bool(
            named["issuer"].dump() == certificate.issuer.dump() or named["issuer"] == certificate.issuer
        )
    key_identifier = certificate.key_identifier
    if key_identifier is None:
        public_key = certificate.public_key["public_key"].contents[1:]  # the BIT STRING without its pad byte
        key_identifier = hashlib.sha1(public_key).digest()  # noqa: S324 - an identifier, not a security hash
    return bool(identifier.chosen.native == key_identifier)


def _content_key(recipient: _Recipient, private_key: rsa.RSAPrivateKey) -> bytes:
    try:
        return private_key.decrypt(recipient.encrypted_key, recipient.scheme)
    except ValueError:
        raise EnvelopeError("CMS: the content key does not decrypt (wrong key or tampered)") from None


def _decrypt_content(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % AES_BLOCK_BYTES:
        raise EnvelopeError("CMS: the encrypted content is not whole AES blocks (truncated or tampered)")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(AES_BLOCK_BYTES * 8).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise EnvelopeError("CMS: the content does not decrypt: bad padding (tampered, wrong key)") from None
