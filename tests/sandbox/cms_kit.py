"""Builders of hostile and unusual input for the sandbox's receiving side: certificates, CMS EnvelopedData
and SignedData with every field under the test's control, CAdES manifests, and zips written byte by
byte. Independent of the probe's writers on purpose (the tests use those too, for the normal case)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP, PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

ASICE_MIMETYPE = b"application/vnd.etsi.asic-e+zip"
CADES_NAMESPACE = "http://uri.etsi.org/02918/v1.2.1#"
XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
SIGNATURE_NAME = "META-INF/signature-0b6f3c1e-8f1d-4c56-9a3e-5f2d7c9b1a42.p7s"
FILES = {"bekymringsmelding.json": b'{"kommunenummer": "4601"}', "bekymringsmelding.pdf": b"%PDF-1.4 fiktiv"}
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


# Keys and certificates ----------------------------------------------------------------------------------


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    not_before: dt.datetime = NOW - dt.timedelta(days=365),
    not_after: dt.datetime = NOW + dt.timedelta(days=3650),
    subject_key_identifier: bool = False,
) -> x509.Certificate:
    """A self-signed certificate (the readers check no chain)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if subject_key_identifier:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    return builder.sign(key, hashes.SHA256())


def asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def identifier(cert: x509.Certificate, kind: str, choice: type[Any] = cms.RecipientIdentifier) -> Any:
    """A recipient or signer identifier naming ``cert``: ``issuer_serial``, ``ski`` (the extension or, when
    the certificate has none, RFC 5280's SHA-1 of the key) or ``wrong_ski``."""
    parsed = asn1_certificate(cert)
    if kind == "issuer_serial":
        return choice(
            name="issuer_and_serial_number",
            value=cms.IssuerAndSerialNumber({"issuer": parsed.issuer, "serial_number": parsed.serial_number}),
        )
    ski = parsed.key_identifier or hashlib.sha1(parsed.public_key["public_key"].contents[1:]).digest()
    if kind == "wrong_ski":
        ski = bytes(len(ski))
    return choice(name="subject_key_identifier", value=ski)


# EnvelopedData ------------------------------------------------------------------------------------------


def encrypt_content(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def recipient_info(
    cert: x509.Certificate,
    content_key: bytes,
    *,
    key_transport: str = "rsaes_oaep",
    oaep_hash: str = "sha256",
    mgf_hash: str = "sha256",
    mgf: str = "mgf1",
    label: bytes = b"",
    omit_parameters: bool = False,
    rid: str = "issuer_serial",
    encrypted_key: bytes | None = None,
) -> cms.RecipientInfo:
    """A key-transport recipient info for ``cert`` with the algorithms given."""
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    if key_transport == "rsaes_oaep":
        if omit_parameters:
            algorithm = cms.KeyEncryptionAlgorithm({"algorithm": "rsaes_oaep"})
            scheme: OAEP | PKCS1v15 = OAEP(mgf=MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        else:
            parameters: dict[str, Any] = {
                "hash_algorithm": {"algorithm": oaep_hash},
                "mask_gen_algorithm": {
                    "algorithm": mgf,
                    "parameters": algos.DigestAlgorithm({"algorithm": mgf_hash}),
                },
            }
            if label:
                parameters["p_source_algorithm"] = {"algorithm": "p_specified", "parameters": label}
            algorithm = cms.KeyEncryptionAlgorithm(
                {"algorithm": "rsaes_oaep", "parameters": algos.RSAESOAEPParams(parameters)}
            )
            known = oaep_hash in HASHES and mgf_hash in HASHES
            scheme = (
                OAEP(mgf=MGF1(HASHES[mgf_hash]()), algorithm=HASHES[oaep_hash](), label=label or None)
                if known
                else PKCS1v15()
            )
    else:
        algorithm = cms.KeyEncryptionAlgorithm({"algorithm": key_transport})
        scheme = PKCS1v15()
    info = cms.KeyTransRecipientInfo(
        {
            "version": "v2" if rid != "issuer_serial" else "v0",
            "rid": identifier(cert, rid),
            "key_encryption_algorithm": algorithm,
            "encrypted_key": encrypted_key
            if encrypted_key is not None
            else public_key.encrypt(content_key, scheme),
        }
    )
    return cms.RecipientInfo(name="ktri", value=info)


def envelope(
    data: bytes,
    cert: x509.Certificate,
    *,
    cipher: str = "aes256_cbc",
    key_bytes: int | None = None,
    iv: bytes | None = None,
    content_type: str = "data",
    detached: bool = False,
    before: Sequence[cms.RecipientInfo] = (),
    after: Sequence[cms.RecipientInfo] = (),
    ciphertext: Callable[[bytes], bytes] = lambda ciphertext: ciphertext,
    **transport: Any,
) -> bytes:
    """DER EnvelopedData of ``data`` for ``cert``; ``transport`` goes to :func:`recipient_info`, ``before``
    and ``after`` are other recipients around the one for ``cert``."""
    size = key_bytes or {"aes128_cbc": 16, "aes192_cbc": 24}.get(cipher, 32)
    content_key = os.urandom(size)
    iv = os.urandom(16) if iv is None else iv
    # Encrypted with AES even when the algorithm named is another or the sizes are wrong on purpose.
    aes_key = content_key if len(content_key) in (16, 24, 32) else content_key[:16].ljust(16, b"\x00")
    encrypted = ciphertext(encrypt_content(data, aes_key, iv[:16].ljust(16, b"\x00")))
    encrypted_content: dict[str, Any] = {
        "content_type": content_type,
        "content_encryption_algorithm": algos.EncryptionAlgorithm(
            {"algorithm": cipher, "parameters": core.OctetString(iv)}
        ),
    }
    if not detached:
        encrypted_content["encrypted_content"] = encrypted
    # Written in the order given: asn1crypto would sort the SET OF as DER does, and the order matters to
    # a reader that opens only the first recipient info.
    recipients = [*before, recipient_info(cert, content_key, **transport), *after]
    enveloped = cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": cms.RecipientInfos.load(der_set_in_order(info.dump() for info in recipients)),
            "encrypted_content_info": cms.EncryptedContentInfo(encrypted_content),
        }
    )
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())


def as_ber(der: bytes, chunk: int = 1000) -> bytes:
    """DER EnvelopedData rewritten the way BouncyCastle's streaming generator writes it: indefinite
    lengths and the ciphertext as a constructed OCTET STRING of chunks."""
    info = cms.ContentInfo.load(der)
    enveloped = info["content"]
    encrypted = enveloped["encrypted_content_info"]
    ciphertext = encrypted["encrypted_content"].native

    def indefinite(tag: bytes, *parts: bytes) -> bytes:
        return tag + b"\x80" + b"".join(parts) + b"\x00\x00"

    chunks = b"".join(
        core.OctetString(ciphertext[start : start + chunk]).dump()
        for start in range(0, len(ciphertext), chunk)
    )
    content = indefinite(
        b"\x30",
        encrypted["content_type"].dump(),
        encrypted["content_encryption_algorithm"].dump(),
        indefinite(b"\xa0", chunks),
    )
    body = indefinite(b"\x30", enveloped["version"].dump(), enveloped["recipient_infos"].dump(), content)
    return indefinite(b"\x30", info["content_type"].dump(), indefinite(b"\xa0", body))


# SignedData ---------------------------------------------------------------------------------------------


def attribute(kind: str, *values: Any) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": list(values)})


def standard_attributes(
    manifest: bytes, digest: str = "sha256", when: dt.datetime = NOW
) -> list[cms.CMSAttribute]:
    """``contentType``, ``signingTime`` and ``messageDigest`` as BouncyCastle and OpenSSL write them."""
    return [
        attribute("content_type", "data"),
        attribute("signing_time", cms.Time(name="utc_time", value=when)),
        attribute("message_digest", hashlib.new(digest, manifest).digest()),
    ]


def der_set_in_order(elements: Iterable[bytes]) -> bytes:
    """A SET OF with its elements in the order given (DER would sort them)."""
    body = b"".join(elements)
    length = len(body)
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    encoded = bytes([length]) if length < 0x80 else bytes([0x80 | len(octets)]) + octets
    return b"\x31" + encoded + body


def der_set(elements: Iterable[bytes]) -> bytes:
    """A DER SET OF: its elements sorted."""
    return der_set_in_order(sorted(elements))


def signer_info(
    manifest: bytes,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    *,
    digest: str = "sha256",
    signature_algorithm: str = "rsassa_pkcs1v15",
    attributes: list[cms.CMSAttribute] | None = None,
    when: dt.datetime = NOW,
    sid: str = "issuer_serial",
    unsorted: bool = False,
    corrupt: bool = False,
) -> cms.SignerInfo:
    """A SignerInfo over ``manifest``: the signature is over the DER (sorted) SET OF the attributes, which
    are stored sorted unless ``unsorted``."""
    chosen = standard_attributes(manifest, digest, when) if attributes is None else attributes
    ordered = sorted(chosen, key=lambda item: item.dump(), reverse=unsorted)
    signed = der_set(item.dump() for item in ordered)
    value = key.sign(signed, PKCS1v15(), HASHES.get(digest, hashes.SHA256)())
    if corrupt:
        value = value[:-1] + bytes([value[-1] ^ 0x01])
    info: dict[str, Any] = {
        "version": "v3" if sid != "issuer_serial" else "v1",
        "sid": identifier(cert, sid, cms.SignerIdentifier),
        "digest_algorithm": {"algorithm": digest},
        "signature_algorithm": {"algorithm": signature_algorithm},
        "signature": value,
    }
    if ordered:
        # Loaded from bytes so that asn1crypto keeps the order (it would sort a SET OF it builds).
        info["signed_attrs"] = cms.CMSAttributes.load(der_set_in_order(item.dump() for item in ordered))
    return cms.SignerInfo(info)


def signed_data(
    manifest: bytes,
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    *,
    signers: Sequence[cms.SignerInfo] | None = None,
    certificates: Sequence[x509.Certificate] | None = None,
    content_type: str = "data",
    embedded: bytes | None = None,
    **signer: Any,
) -> bytes:
    """DER ContentInfo of a detached SignedData over ``manifest`` by ``cert``; ``signer`` goes to
    :func:`signer_info`."""
    infos = list(signers) if signers is not None else [signer_info(manifest, cert, key, **signer)]
    embedded_certificates = [cert] if certificates is None else list(certificates)
    encapsulated: dict[str, Any] = {"content_type": content_type}
    if embedded is not None:
        encapsulated["content"] = embedded
    signed: dict[str, Any] = {
        "version": "v1",
        "digest_algorithms": [{"algorithm": info["digest_algorithm"]["algorithm"].native} for info in infos],
        "encap_content_info": encapsulated,
        "signer_infos": infos,
    }
    if embedded_certificates:
        signed["certificates"] = [
            cms.CertificateChoices(name="certificate", value=asn1_certificate(item))
            for item in embedded_certificates
        ]
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed)}).dump())


# Manifests and zips -------------------------------------------------------------------------------------


def cades_manifest(
    files: Mapping[str, bytes],
    signature: str | None = SIGNATURE_NAME,
    *,
    namespace: str = CADES_NAMESPACE,
    digest_method: str = SHA256_URI,
    reference: Callable[[str, bytes], str] | None = None,
    extra: str = "",
) -> bytes:
    """An ASiCManifest.xml listing ``files``; ``reference`` may write a DataObjectReference itself."""

    def standard(name: str, content: bytes) -> str:
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        return (
            f'<DataObjectReference URI="{name}" MimeType="application/octet-stream">'
            f'<ds:DigestMethod Algorithm="{digest_method}"/><ds:DigestValue>{digest}</ds:DigestValue>'
            "</DataObjectReference>"
        )

    write = reference or standard
    sig = (
        ""
        if signature is None
        else f'<SigReference URI="{signature}" MimeType="application/x-pkcs7-signature"/>'
    )
    references = "".join(write(name, content) for name, content in files.items())
    root = f'<ASiCManifest xmlns="{namespace}" xmlns:ds="{XMLDSIG_NAMESPACE}">'
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    return f"{declaration}{root}{sig}{references}{extra}</ASiCManifest>".encode()


def oasis_manifest(files: Iterable[str]) -> bytes:
    entries = "".join(
        f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="application/octet-stream"/>'
        for name in files
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.etsi.asic-e+zip"/>'
        f"{entries}</manifest:manifest>"
    ).encode()


# A zip entry written as-is: (name, data, compression).
Entry = tuple[str, bytes, int]


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes a data descriptor after every entry, as Java does."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer.extend(data)
        return len(data)


def make_zip(entries: Iterable[Entry], *, mimetype_extra: bytes = b"", streamed: bool = False) -> bytes:
    """A zip of ``(name, data, compression)`` entries in order, written without any checks."""
    target: Any = _Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(target, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are written on purpose
        for name, data, compression in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if name == "mimetype":
                info.extra = mimetype_extra
            archive.writestr(info, data)
    return bytes(target.buffer) if streamed else target.getvalue()


def entries(
    files: Mapping[str, bytes],
    signature: bytes | None,
    manifest: bytes | None = None,
    *,
    signature_name: str = SIGNATURE_NAME,
    oasis: bool = True,
) -> list[Entry]:
    """A container's entries in KS's order: mimetype, the files, the CAdES manifest, the signature, the
    OASIS manifest. ``signature`` ``None`` leaves the signature out."""
    listed = cades_manifest(files, signature_name) if manifest is None else manifest
    result: list[Entry] = [
        ("mimetype", ASICE_MIMETYPE, zipfile.ZIP_STORED),
        *[(name, data, zipfile.ZIP_DEFLATED) for name, data in files.items()],
        ("META-INF/ASiCManifest.xml", listed, zipfile.ZIP_DEFLATED),
    ]
    if signature is not None:
        result.append((signature_name, signature, zipfile.ZIP_DEFLATED))
    if oasis:
        result.append(("META-INF/manifest.xml", oasis_manifest(files), zipfile.ZIP_DEFLATED))
    return result


def splice(archive: bytes, at: int, junk: bytes) -> bytes:
    """``archive`` with ``junk`` inserted at byte ``at`` and every offset in the central directory moved
    to match, so that a central-directory reader still finds every entry."""
    end = archive.rindex(b"PK\x05\x06")
    directory = struct.unpack_from("<I", archive, end + 16)[0]
    patched = bytearray(archive)
    position = directory
    while patched[position : position + 4] == b"PK\x01\x02":
        offset = struct.unpack_from("<I", patched, position + 42)[0]
        if offset >= at:
            struct.pack_into("<I", patched, position + 42, offset + len(junk))
        name, extra, comment = struct.unpack_from("<HHH", patched, position + 28)
        position += 46 + name + extra + comment
    if directory >= at:
        struct.pack_into("<I", patched, end + 16, directory + len(junk))
    return bytes(patched[:at]) + junk + bytes(patched[at:])
