"""Signed ASiC-E containers (ETSI EN 319 162-1, CAdES), written the way KS's producer client writes them.

KS's client (``ks-no/fiks-bekymringsmelding-produsent-klient``) builds the container with
``ks-no/fiks-io-asice-handler``, which wraps ``commons-asic`` (``ks-no/asic``, a fork of ``difi/asic``)
with ``SignatureMethod.CAdES``. That writer produces, in this order:

1. ``mimetype``: stored (not compressed), no extra field, holding ``application/vnd.etsi.asic-e+zip``;
2. the data files, deflated: ``bekymringsmelding.json`` then ``bekymringsmelding.pdf``;
3. ``META-INF/ASiCManifest.xml``: a ``SigReference`` to the signature file, then one
   ``DataObjectReference`` per data file with its MIME type, ``Rootfile="true"`` on the first, and its
   SHA-256 digest (``http://www.w3.org/2001/04/xmlenc#sha256``);
4. ``META-INF/signature-<uuid>.p7s``: a detached CMS SignedData over the manifest's bytes, made with the
   sender's business certificate (virksomhetssertifikat), the certificate chain embedded;
5. ``META-INF/manifest.xml``: the OASIS OpenDocument manifest listing ``/`` and every data file.

Receiving systems read it with Difi's or KS's readers, which refuse a container whose data files are not
all listed with matching digests and covered by a verifying signature ("File not verified", "Signature
not verified"), or whose first entry is not ``mimetype``. A refused report goes to paper post.

The signature is made with ``cryptography``'s PKCS#7 signature builder (a maintained CMS implementation;
detached, binary, DER). Its signed attributes are those BouncyCastle writes for commons-asic:
``contentType``, ``signingTime`` and ``messageDigest`` (S/MIME capabilities are left out, as BouncyCastle
does). The digest is SHA-256 with RSA PKCS#1 v1.5 as KS's .NET library (``fiks-asice-dotnet``,
``SHA256WithRSA``) signs; the Java library still signs with SHA-1 (``SHA1withRSA``), which both readers
verify as they verify SHA-256, and which ``cryptography`` rightly no longer offers.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs7

MIMETYPE_NAME = "mimetype"
ASICE_MIMETYPE = "application/vnd.etsi.asic-e+zip"
ASIC_MANIFEST_NAME = "META-INF/ASiCManifest.xml"
OASIS_MANIFEST_NAME = "META-INF/manifest.xml"
SIGNATURE_MIMETYPE = "application/x-pkcs7-signature"
CADES_NAMESPACE = "http://uri.etsi.org/02918/v1.2.1#"
XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
OASIS_NAMESPACE = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
MEDIA_TYPES = {".json": "application/json", ".pdf": "application/pdf"}

# Fixed entry times keep a container reproducible for a given signature; 1980-01-01 is the zip epoch.
_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
# commons-asic comments the archive and the mimetype entry with the type, for tools that list zips.
_TYPE_COMMENT = f"mimetype={ASICE_MIMETYPE}".encode("ascii")


def signature_name(signature_id: str) -> str:
    """The signature entry's name, as commons-asic names it (``META-INF/signature-<uuid>.p7s``)."""
    return f"META-INF/signature-{signature_id}.p7s"


@dataclasses.dataclass(frozen=True)
class ContainerSigner:
    """The business certificate chain (leaf first) and its key, which sign every container."""

    chain: Sequence[x509.Certificate]
    key: RSAPrivateKey = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError("a container signer needs the business certificate")
        if self.chain[0].public_key() != self.key.public_key():
            raise ValueError("the business certificate is not for the signing key")

    def sign(self, manifest: bytes) -> bytes:
        """A detached CMS SignedData (DER) over ``manifest``, the chain embedded."""
        builder = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(manifest)
            .add_signer(self.chain[0], self.key, hashes.SHA256())
        )
        for issuer in self.chain[1:]:
            builder = builder.add_certificate(issuer)
        return builder.sign(
            serialization.Encoding.DER,
            [
                pkcs7.PKCS7Options.DetachedSignature,
                pkcs7.PKCS7Options.Binary,
                pkcs7.PKCS7Options.NoCapabilities,
            ],
        )


def media_type(name: str) -> str:
    """The MIME type commons-asic gives ``name`` (the JVM's by extension)."""
    for extension, kind in MEDIA_TYPES.items():
        if name.lower().endswith(extension):
            return kind
    raise ValueError(f"ASiC-E: no MIME type for {name!r}")


def build_asice(
    files: Mapping[str, bytes], signer: ContainerSigner, *, signature_id: str | None = None
) -> bytes:
    """A signed ASiC-E container of ``files`` (name to content, the first the root file), as described in
    the module docstring. ``signature_id`` names the signature file (a fresh UUID when not given).

    Raises ``ValueError`` for no files, or a name that is reserved (``mimetype``, ``META-INF/...``), unsafe
    (absolute, ``..``, backslashes) or of no known MIME type: the caller's mistake, not a container to send.
    """
    if not files:
        raise ValueError("ASiC-E: a container needs at least one file")
    for name in files:
        if name == MIMETYPE_NAME or name.startswith("META-INF/"):
            raise ValueError(f"ASiC-E: cannot add {name!r}: reserved for the container itself")
        if not name or "\x00" in name or name.startswith("/") or "\\" in name or ".." in name.split("/"):
            raise ValueError(f"ASiC-E: cannot add {name!r}: unsafe name")
    signature = signature_name(signature_id or str(uuid.uuid4()))
    manifest = asic_manifest(files, signature)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.comment = _TYPE_COMMENT
        mimetype = _entry(MIMETYPE_NAME, zipfile.ZIP_STORED)
        mimetype.comment = _TYPE_COMMENT
        archive.writestr(mimetype, ASICE_MIMETYPE.encode("ascii"))
        for name, content in files.items():
            archive.writestr(_entry(name, zipfile.ZIP_DEFLATED), content)
        archive.writestr(_entry(ASIC_MANIFEST_NAME, zipfile.ZIP_DEFLATED), manifest)
        archive.writestr(_entry(signature, zipfile.ZIP_DEFLATED), signer.sign(manifest))
        archive.writestr(_entry(OASIS_MANIFEST_NAME, zipfile.ZIP_DEFLATED), oasis_manifest(files))
    return buffer.getvalue()


def asic_manifest(files: Mapping[str, bytes], signature: str) -> bytes:
    """``META-INF/ASiCManifest.xml`` as commons-asic's JAXB marshaller formats it."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f'<ASiCManifest xmlns="{CADES_NAMESPACE}" xmlns:ns2="{XMLDSIG_NAMESPACE}">',
        f"    <SigReference URI={quoteattr(signature)} MimeType={quoteattr(SIGNATURE_MIMETYPE)}/>",
    ]
    for index, (name, content) in enumerate(files.items()):
        root = ' Rootfile="true"' if index == 0 else ""
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode("ascii")
        lines += [
            f"    <DataObjectReference URI={quoteattr(name)} MimeType={quoteattr(media_type(name))}{root}>",
            f'        <ns2:DigestMethod Algorithm="{SHA256_URI}"/>',
            f"        <ns2:DigestValue>{digest}</ns2:DigestValue>",
            "    </DataObjectReference>",
        ]
    lines.append("</ASiCManifest>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def oasis_manifest(files: Mapping[str, bytes]) -> bytes:
    """``META-INF/manifest.xml``: the OASIS OpenDocument manifest commons-asic adds beside the signature."""
    entries = [("/", ASICE_MIMETYPE)] + [(name, media_type(name)) for name in files]
    lines = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f'<manifest:manifest xmlns:manifest="{OASIS_NAMESPACE}">',
        *(
            f"    <manifest:file-entry manifest:full-path={quoteattr(path)} "
            f"manifest:media-type={quoteattr(kind)}/>"
            for path, kind in entries
        ),
        "</manifest:manifest>",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _entry(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ENTRY_TIME)
    info.compress_type = compression
    info.external_attr = 0o644 << 16  # a plain readable file when unpacked on Unix
    return info
