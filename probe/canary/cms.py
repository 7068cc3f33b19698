"""CMS EnvelopedData, the encryption KS's producer API asks for (as KS's ``CMSStreamKryptering`` makes it).

The content is encrypted with a fresh AES-256-CBC key, and that key with the recipient certificate's RSA
public key (key transport). KS's API takes the PDF encrypted for its print certificate and the ASiC-E
encrypted for the receiving fagsystem's Fiks IO certificate. Content is binary (``PKCS7Options.Binary``):
no MIME canonicalisation, so a zip or a PDF decrypts byte for byte.

EnvelopedData gives confidentiality, not integrity: CBC has no authentication tag, so a changed ciphertext
fails to decrypt only when it breaks the padding or the key transport. What proves a canary genuine is the
marker's signature, and the receiver's checks of the container and the JSON catch garbled content.
Likewise a wrong key would not always fail: RSA decryption rejects a bad key block implicitly (it yields
a random content key, against timing attacks), so about 1 in 256 such attempts passes the padding check
and returns garbage. :func:`decrypt` therefore checks that the key belongs to the certificate first.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from probe.errors import CmsError


def encrypt(data: bytes, recipient: x509.Certificate) -> bytes:
    """``data`` as DER-encoded CMS EnvelopedData for ``recipient`` (an RSA certificate), AES-256-CBC."""
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(data)
        .add_recipient(recipient)
        .set_content_encryption_algorithm(algorithms.AES256)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def decrypt(data: bytes, certificate: x509.Certificate, private_key: RSAPrivateKey) -> bytes:
    """The content of DER EnvelopedData ``data`` addressed to ``certificate``, decrypted with its
    ``private_key``. Raises :class:`~probe.errors.CmsError` when ``data`` is not CMS, is meant for another
    recipient, or does not decrypt (tampered), and when ``private_key`` is not ``certificate``'s."""
    if certificate.public_key() != private_key.public_key():
        raise CmsError("CMS: the private key does not belong to the certificate")
    try:
        return pkcs7.pkcs7_decrypt_der(data, certificate, private_key, [])
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        # cryptography's messages name the failing step, never key material; kept for diagnosis.
        raise CmsError(f"CMS: cannot decrypt: {error}") from None
