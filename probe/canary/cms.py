"""CMS EnvelopedData, the encryption KS's producer API asks for, made as ``ks-no/kryptering`` makes it.

``CMSKrypteringImpl`` encrypts the content with a fresh AES-256-CBC key and transports that key with
RSAES-OAEP: SHA-256 as the hash, MGF1 with SHA-256, the empty label (``pSpecified``), each algorithm
identifier with NULL parameters; the recipient is named by issuer and serial number. KS's API takes the
PDF encrypted for its print certificate and the ASiC-E encrypted for the receiving fagsystem's Fiks IO
certificate. Content is binary, so a zip or a PDF decrypts byte for byte.

``cryptography``'s PKCS#7 envelope builder only offers PKCS#1 v1.5 key transport, so the structure is
built with ``asn1crypto``'s CMS definitions (RFC 5652 and RFC 4055 types, maintained for pyHanko and
certvalidator) and only the primitives come from ``cryptography``. Nothing here parses or decrypts:
receiving is the fagsystem's business, and the sandbox's fagsystems decrypt with their own code.

EnvelopedData gives confidentiality, not integrity: CBC has no authentication tag. What proves a canary
genuine is the ASiC-E signature and the marker's.
"""

from __future__ import annotations

import functools
import os

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

AES_KEY_BYTES = 32
AES_BLOCK_BYTES = 16


def oaep_sha256() -> OAEP:
    """RSAES-OAEP with SHA-256 and MGF1-SHA-256, no label: the key transport of ``ks-no/kryptering``."""
    return OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def encrypt(data: bytes, recipient: x509.Certificate) -> bytes:
    """``data`` as DER-encoded CMS EnvelopedData for ``recipient`` (an RSA certificate)."""
    public_key = recipient.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise TypeError("the recipient certificate must hold an RSA key")
    content_key = os.urandom(AES_KEY_BYTES)
    iv = os.urandom(AES_BLOCK_BYTES)
    padder = padding.PKCS7(AES_BLOCK_BYTES * 8).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    recipient_info = cms.KeyTransRecipientInfo(
        {
            "version": "v0",
            "rid": cms.RecipientIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber.load(
                    _issuer_and_serial(recipient.public_bytes(serialization.Encoding.DER))
                ),
            ),
            "key_encryption_algorithm": cms.KeyEncryptionAlgorithm.load(_OAEP_ALGORITHM),
            "encrypted_key": public_key.encrypt(content_key, oaep_sha256()),
        }
    )
    enveloped = cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [cms.RecipientInfo(name="ktri", value=recipient_info)],
            "encrypted_content_info": cms.EncryptedContentInfo(
                {
                    "content_type": "data",
                    "content_encryption_algorithm": algos.EncryptionAlgorithm(
                        {"algorithm": "aes256_cbc", "parameters": core.OctetString(iv)}
                    ),
                    "encrypted_content": ciphertext,
                }
            ),
        }
    )
    encoded: bytes = cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump()
    return encoded


@functools.lru_cache(maxsize=1024)
def _issuer_and_serial(certificate_der: bytes) -> bytes:
    """The DER of the recipient's IssuerAndSerialNumber. Built once per certificate (a receiver's keys
    are reused for the directory cache's hour): copying an issuer name through ``asn1crypto`` costs ten
    times the encryption itself."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    identifier = cms.IssuerAndSerialNumber(
        {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
    )
    encoded: bytes = identifier.dump()
    return encoded


def _oaep_algorithm() -> bytes:
    # As kryptering's ``rsaesOaepIdentifier``: explicit SHA-256 (with NULL parameters) for the hash and
    # for MGF1; the empty pSpecified label is OAEP's default and DER leaves it out, as BouncyCastle does.
    sha256 = {"algorithm": "sha256", "parameters": core.Null()}
    parameters = algos.RSAESOAEPParams(
        {"hash_algorithm": sha256, "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256}}
    )
    encoded: bytes = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep", "parameters": parameters}).dump()
    return encoded


_OAEP_ALGORITHM = _oaep_algorithm()
