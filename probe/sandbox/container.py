"""Reading a signed ASiC-E container (ETSI EN 319 162-1, CAdES) as the real receiving systems read it.

A fagsystem reads what Fiks IO delivers with one of KS's readers: the Java ``ks-no/asic`` (the fork of
``difi/asic`` under ``ks-no/fiks-io-asice-handler``) or the .NET ``ks-no/fiks-asice-dotnet``. The
sandbox's fagsystems must refuse whatever either of them refuses, so :func:`read_container` applies the
stricter rule of the two wherever they differ, plus the zip safety checks any reader of untrusted input
needs. It shares no code with the probe's writer (:mod:`probe.canary.asice`).

The zip:

* at most :data:`MAX_ENTRIES` entries, a declared unpacked size within the caller's limit (zip bombs; a
  lie about a size fails the CRC check on reading), safe names (no absolute paths, ``..``, backslashes),
  no name twice (also not in another case: Windows and .NET's case-insensitive look-ups would merge
  them), no directory entries (the Java reader refuses ``META-INF/`` as an unknown metadata file and any
  other directory as a file not verified);
* every local header where the central directory says, one after the other: the Java reader streams the
  local headers and the .NET reader lists the central directory, so both must see the same entries;
* ``mimetype`` first (.NET ``AsiceReadModel``), holding exactly ``application/vnd.etsi.asic-e+zip`` (Java
  ``AsicInputStream``), stored and without an extra field at offset 0 (ETSI's rule, which lets a reader
  find the type at byte 38; neither library checks it, KS's writer keeps it).

``META-INF/`` (Java ``AbstractAsicReader.handleMetadataEntry``): only the CAdES manifest
(``META-INF/ASiCManifest*.xml``), ``META-INF/signature*.p7s`` and ``META-INF/manifest.xml`` (names compared
without case, as Java does); anything else is "Contains unknown metadata file", XAdES ``signatures*.xml``
included (neither fagsystem path verifies XML signatures here). Exactly one CAdES manifest, and it must
be ``META-INF/ASiCManifest.xml``: the .NET reader looks for that name only, so it would not see
``ASiCManifest1.xml``. ``manifest.xml`` (the OASIS manifest) is optional, as in both readers, but must
parse as one (Java's JAXB refuses it otherwise).

The CAdES manifest (Java ``CadesAsicManifest.extractAndVerify``, .NET ``CadesManifestReader``): UTF-8 XML
parsed with expat, any DTD or entity declaration refused; the namespace ``http://uri.etsi.org/02918/v1.2.1#``
or the two older spellings both readers map onto it (``02918/v1.1.1#`` and ``2918/v1.2.1#``); one
``SigReference`` with a ``URI``; ``DataObjectReference`` elements with ``URI``, ``MimeType`` (.NET
requires it), a ``ds:DigestMethod`` that is SHA-256 (``xmlenc#sha256``; Java normalises
``xmldsig#sha256`` to it and refuses any other digest: "Wrong digest method") and a base64
``ds:DigestValue``; no URI twice (.NET builds a dictionary of them). Every data file (every entry outside
``META-INF/`` but ``mimetype``) must be listed with its digest ("File not verified", "Mismatching digest"
in Java's ``ManifestVerifier``), and every listed file must be there. Data files sit at the top of the
zip: the .NET reader looks a file's digest up by its bare name, so one in a folder never verifies there.

The signature (Java ``SignatureVerifier``, BouncyCastle's ``SignerInformation.verify``): the
``SigReference`` names the one ``signature*.p7s`` entry; it holds a detached CMS SignedData of eContentType
data with one SignerInfo, whose certificate is among the SignedData's certificates (by issuer and serial
number or subject key identifier); the signed attributes hold exactly one each of ``contentType``
(data), ``messageDigest`` (the manifest's exact bytes hashed with the signer's digest: SHA-1, SHA-256,
SHA-384 or SHA-512, as BouncyCastle takes them; the Java writer still signs SHA-1) and ``signingTime``;
a ``cmsAlgorithmProtection`` attribute, if any, must name the algorithms used; the RSA PKCS#1 v1.5
signature verifies with the certificate's key over the DER encoding of the signed attributes as a SET
OF; and the certificate is valid at the signing time (BouncyCastle's "verifier not valid at
signingTime"; a signature without signingTime is refused here, which the CAdES baseline requires).

What is not checked, as neither reader checks it: the certificate's chain and revocation, its key usage,
the signing time against the clock, the OASIS manifest's contents. The .NET reader does not verify the
signature at all; the Java reader does, so the sandbox does.

Every refusal is a :class:`ContainerError` whose message starts ``ASiC-E:`` and reads as the reason in a
``feilet`` receipt (Java's wording where Java has one, e.g. ``ASiC-E: File not verified: x.pdf``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import io
import re
import zipfile
import zlib
from typing import Any
from xml.parsers import expat

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

from probe.sandbox.envelope import identifies
from probe.sandbox.errors import SandboxError

MIMETYPE_NAME = "mimetype"
ASICE_MIMETYPE = b"application/vnd.etsi.asic-e+zip"
META_INF = "META-INF/"
CADES_MANIFEST_NAME = "META-INF/ASiCManifest.xml"
OASIS_MANIFEST_NAME = "META-INF/manifest.xml"
MAX_ENTRIES = 1000
DEFAULT_MAX_UNPACKED_BYTES = 50 * 1024 * 1024

CADES_NAMESPACE = "http://uri.etsi.org/02918/v1.2.1#"
# The older spellings both readers rewrite to the current namespace before parsing.
CADES_NAMESPACE_ALIASES = frozenset(
    {CADES_NAMESPACE, "http://uri.etsi.org/02918/v1.1.1#", "http://uri.etsi.org/2918/v1.2.1#"}
)
XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
OASIS_NAMESPACE = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
# Java rewrites every ``xmldsig#sha...`` digest URI to the ``xmlenc#sha...`` one before comparing.
_XMLDSIG_SHA = "http://www.w3.org/2000/09/xmldsig#sha"
_XMLENC_SHA = "http://www.w3.org/2001/04/xmlenc#sha"

# Signer digests taken: SHA-1 (KS's Java writer), SHA-256 (its .NET writer) and the longer SHA-2s, all of
# which BouncyCastle verifies.
SIGNER_DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# Java's patterns (``AsicUtils``), matched against the whole entry name, without case.
_CADES_MANIFEST = re.compile(r"META-INF/ASiCManifest(.*)\.xml", re.IGNORECASE)
_XADES_SIGNATURES = re.compile(r"META-INF/signatures(.*)\.xml", re.IGNORECASE)
_CADES_SIGNATURE = re.compile(r"META-INF/signature(.*)\.p7s", re.IGNORECASE)
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30
_DATA_DESCRIPTOR = b"PK\x07\x08"
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
# A name in messages is cut to this many characters: the receipt is for people, the name is untrusted.
_NAME_LIMIT = 100


class ContainerError(SandboxError):
    """A container a receiving system refuses; the message (``ASiC-E: ...``) says why."""


@dataclasses.dataclass(frozen=True)
class Container:
    """A verified container: its data files (name to content, in the zip's order), who signed the
    manifest and when (Unix seconds, from ``signingTime``), the signer's digest algorithm and the root
    file the manifest names (``None`` when it names none)."""

    files: dict[str, bytes] = dataclasses.field(repr=False)
    signer: x509.Certificate
    signing_time: float
    signature_digest: str
    root_file: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Reference:
    """One ``DataObjectReference`` of the CAdES manifest."""

    uri: str
    mime_type: str
    root: bool
    digest_method: str
    digest: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class _Manifest:
    """What the CAdES manifest says."""

    signature: str
    references: dict[str, _Reference]


@dataclasses.dataclass(frozen=True, slots=True)
class _Signature:
    """What a verified signature says."""

    signer: x509.Certificate
    signing_time: float
    digest: str


def read_container(data: bytes, max_total_size: int = DEFAULT_MAX_UNPACKED_BYTES) -> Container:
    """The data files of the signed ASiC-E container ``data``, after every check of the module docstring;
    raises :class:`ContainerError`. ``max_total_size`` bounds the declared unpacked size of all entries."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise ContainerError("ASiC-E: not a zip archive") from None
    with archive:
        entries = archive.infolist()
        _check_entries(entries, max_total_size)
        _check_mimetype(data, archive, entries[0])
        _check_layout(data, entries, archive.start_dir)
        parts = _Parts.sort({entry.filename: _read(archive, entry) for entry in entries[1:]})
    manifest_bytes = parts.manifest()
    manifest = _parse_cades_manifest(manifest_bytes)
    signature = _verify_signature(manifest_bytes, parts.signature(manifest.signature), manifest.signature)
    _check_digests(parts.files, manifest)
    roots = [reference.uri for reference in manifest.references.values() if reference.root]
    return Container(
        files=parts.files,
        signer=signature.signer,
        signing_time=signature.signing_time,
        signature_digest=signature.digest,
        root_file=roots[0] if roots else None,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Parts:
    """The entries after ``mimetype``, sorted as Java's ``handleMetadataEntry`` sorts them."""

    files: dict[str, bytes]
    manifests: dict[str, bytes]
    signatures: dict[str, bytes]

    @classmethod
    def sort(cls, contents: dict[str, bytes]) -> _Parts:
        """Data files, CAdES manifests and signatures; the OASIS manifest checked; anything else in
        ``META-INF/`` refused."""
        parts = cls({}, {}, {})
        for name, content in contents.items():
            if name.upper().startswith(META_INF) and not name.startswith(META_INF):
                # Java takes ``meta-inf/x`` for a data file, .NET for metadata: neither reading is safe.
                raise ContainerError(f"ASiC-E: {_quote(name)} spells META-INF/ in another case")
            if not name.startswith(META_INF):
                if "/" in name:
                    # .NET's ``AsiceReadEntry`` reports a digest under the bare file name, which the
                    # manifest's ``folder/name`` never matches.
                    raise ContainerError(
                        f"ASiC-E: data file {_quote(name)} is in a folder (KS's .NET reader cannot verify it)"
                    )
                parts.files[name] = content
            elif _CADES_MANIFEST.fullmatch(name):
                parts.manifests[name] = content
            elif _XADES_SIGNATURES.fullmatch(name):
                raise ContainerError(
                    f"ASiC-E: XAdES signatures are not read here, only CAdES: {_quote(name)}"
                )
            elif _CADES_SIGNATURE.fullmatch(name):
                parts.signatures[name] = content
            elif name[len(META_INF) :].lower() == "manifest.xml":
                _check_oasis_manifest(content)
            else:
                raise ContainerError(f"ASiC-E: Contains unknown metadata file: {_quote(name)}")
        return parts

    def manifest(self) -> bytes:
        """The one CAdES manifest, under the one name both readers find."""
        if not self.manifests:
            unsigned = next(iter(self.files), None)
            what = f"File not verified: {_quote(unsigned)}: " if unsigned else ""
            raise ContainerError(
                f"ASiC-E: {what}the container has no signed manifest ({CADES_MANIFEST_NAME})"
            )
        if len(self.manifests) > 1:
            names = ", ".join(map(_quote, self.manifests))
            raise ContainerError(f"ASiC-E: more than one CAdES manifest: {names}")
        name, content = next(iter(self.manifests.items()))
        if name.lower() != CADES_MANIFEST_NAME.lower():
            raise ContainerError(
                f"ASiC-E: the CAdES manifest must be {CADES_MANIFEST_NAME} (KS's .NET reader reads no "
                f"other), not {_quote(name)}"
            )
        return content

    def signature(self, reference: str) -> bytes:
        """The signature the manifest refers to (by its exact name, as Java pairs them); no other."""
        for name in self.signatures:
            if name != reference:
                raise ContainerError(
                    f"ASiC-E: Signature not verified: {_quote(name)} (no manifest refers to it)"
                )
        if reference not in self.signatures:
            raise ContainerError(
                f"ASiC-E: Signature not verified: {_quote(reference)} is not in the container"
            )
        return self.signatures[reference]


def _check_digests(files: dict[str, bytes], manifest: _Manifest) -> None:
    """Every data file listed with its SHA-256, every listed file present (Java's ``ManifestVerifier``)."""
    for name, content in files.items():
        reference = manifest.references.get(name)
        if reference is None:
            raise ContainerError(f"ASiC-E: File not verified: {_quote(name)} (not in the manifest)")
        if hashlib.sha256(content).digest() != reference.digest:
            raise ContainerError(f"ASiC-E: Mismatching digest for file {_quote(name)}")
    for name in manifest.references:
        if name not in files:
            raise ContainerError(
                f"ASiC-E: File not verified: {_quote(name)} (listed, but not in the container)"
            )


# The zip ------------------------------------------------------------------------------------------------


def _quote(name: str | None) -> str:
    return repr(name if name is None or len(name) <= _NAME_LIMIT else name[:_NAME_LIMIT] + "...")


def _name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe to unpack (path traversal and friends), or ``None``."""
    if not name or "\x00" in name:
        return "empty or contains NUL"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        return "absolute path"
    if any(segment in ("", ".", "..") for segment in name.rstrip("/").split("/")):
        return "empty, '.' or '..' path segment"
    return None


def _check_entries(entries: list[zipfile.ZipInfo], max_total_size: int) -> None:
    if not entries:
        raise ContainerError("ASiC-E: the archive is empty")
    if len(entries) > MAX_ENTRIES:
        raise ContainerError(f"ASiC-E: {len(entries)} entries, more than {MAX_ENTRIES}")
    seen: set[str] = set()
    for entry in entries:
        # ``orig_filename``: zipfile cuts ``filename`` at a NUL byte, which Java's reader does not.
        problem = _name_problem(entry.orig_filename)
        if problem:
            raise ContainerError(f"ASiC-E: unsafe entry name {_quote(entry.orig_filename)}: {problem}")
        if entry.filename.casefold() in seen:
            raise ContainerError(
                f"ASiC-E: entry {_quote(entry.filename)} appears twice (perhaps in another case)"
            )
        seen.add(entry.filename.casefold())
        if entry.is_dir():
            raise ContainerError(
                f"ASiC-E: directory entry {_quote(entry.filename)}: only files belong in a container"
            )
    total = sum(entry.file_size for entry in entries)
    if total > max_total_size:
        raise ContainerError(f"ASiC-E: unpacks to {total} bytes, more than {max_total_size}")


def _check_mimetype(data: bytes, archive: zipfile.ZipFile, first: zipfile.ZipInfo) -> None:
    if first.filename != MIMETYPE_NAME:
        raise ContainerError("ASiC-E: the first entry is not 'mimetype'")
    if first.compress_type != zipfile.ZIP_STORED:
        raise ContainerError("ASiC-E: 'mimetype' is compressed; it must be stored")
    # The local header, not only the central directory, must put 'mimetype' at byte 30 without an extra
    # field: that is what lets a reader find the type at a fixed offset.
    header = data[:_LOCAL_HEADER_SIZE]
    name_length = int.from_bytes(header[26:28], "little")
    extra_length = int.from_bytes(header[28:30], "little")
    if (
        first.header_offset != 0
        or header[:4] != _LOCAL_HEADER
        or name_length != len(MIMETYPE_NAME)
        or data[_LOCAL_HEADER_SIZE : _LOCAL_HEADER_SIZE + name_length] != MIMETYPE_NAME.encode("ascii")
    ):
        raise ContainerError("ASiC-E: 'mimetype' is not at the start of the archive")
    if extra_length or first.extra:
        raise ContainerError("ASiC-E: 'mimetype' has an extra field")
    if _read(archive, first) != ASICE_MIMETYPE:
        raise ContainerError(
            f"ASiC-E: Content is not ASiC-E container: 'mimetype' is not {ASICE_MIMETYPE.decode()}"
        )


def _check_layout(data: bytes, entries: list[zipfile.ZipInfo], central_directory: int) -> None:
    """Every entry's local header and data right after the previous entry's, in the central directory's
    order, and the central directory right after the last: no data a streaming reader (Java) would see
    and a central-directory reader (.NET, Python) would not, or the other way round."""
    expected = 0
    for entry in entries:
        if entry.header_offset != expected:
            raise ContainerError(
                f"ASiC-E: entry {_quote(entry.filename)} is not where the previous one ends "
                "(hidden, overlapping or reordered data)"
            )
        header = data[expected : expected + _LOCAL_HEADER_SIZE]
        if len(header) < _LOCAL_HEADER_SIZE or header[:4] != _LOCAL_HEADER:
            raise ContainerError(f"ASiC-E: entry {_quote(entry.filename)} has no local header")
        flags = int.from_bytes(header[6:8], "little")
        name_length = int.from_bytes(header[26:28], "little")
        extra_length = int.from_bytes(header[28:30], "little")
        expected += _LOCAL_HEADER_SIZE + name_length + extra_length + entry.compress_size
        if flags & 0x08:
            # A data descriptor follows the data (Java's ZipOutputStream writes one after every deflated
            # entry): an optional signature, then CRC-32 and both sizes (4 bytes each, no ZIP64 here).
            if data[expected : expected + 4] == _DATA_DESCRIPTOR:
                expected += 4
            expected += 12
    if expected != central_directory:
        raise ContainerError("ASiC-E: data between the last entry and the central directory")


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(entry)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError):
        # Bad CRC, truncated data, unsupported compression or an encrypted entry.
        raise ContainerError(f"ASiC-E: entry {_quote(entry.filename)} cannot be read") from None


# XML ----------------------------------------------------------------------------------------------------


def _parser(what: str) -> expat.XMLParserType:
    """A namespace-aware expat parser that refuses any DTD, as defusedxml does: a manifest never needs
    one, and entity definitions are how XML bombs and external-entity reads get in."""
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse_dtd(*_: object) -> None:
        raise ContainerError(f"ASiC-E: {what} declares a DTD")

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def _parse(parser: expat.XMLParserType, document: bytes, what: str) -> None:
    try:
        parser.Parse(document, True)
    except expat.ExpatError:
        raise ContainerError(f"ASiC-E: {what} is not well-formed XML") from None


def _check_oasis_manifest(document: bytes) -> None:
    """``META-INF/manifest.xml`` must be an OASIS manifest (Java reads it with JAXB and refuses anything
    else); its contents are not compared with the files, as neither reader compares them."""
    what = OASIS_MANIFEST_NAME
    parser = _parser(what)
    depth = [0]

    def start(name: str, attributes: dict[str, str]) -> None:
        if depth[0] == 0 and name != f"{OASIS_NAMESPACE} manifest":
            raise ContainerError(f"ASiC-E: Unable to read XML as OASIS OpenDocument Manifest: {what}")
        depth[0] += 1

    parser.StartElementHandler = start
    _parse(parser, document, what)


def _split(name: str) -> tuple[str, str]:
    """expat's ``namespace local`` name as ``(namespace, local)``, the CAdES aliases made one."""
    namespace, _, local = name.rpartition(" ")
    return (CADES_NAMESPACE if namespace in CADES_NAMESPACE_ALIASES else namespace), local


def _parse_cades_manifest(document: bytes) -> _Manifest:
    try:
        document.decode("utf-8")
    except UnicodeDecodeError:
        # Java reads the manifest into a String (UTF-8) and verifies the signature over its bytes again:
        # anything that is not UTF-8 would not survive the round trip.
        raise ContainerError(f"ASiC-E: {CADES_MANIFEST_NAME} is not UTF-8 text") from None
    return _CadesManifestParser().parse(document)


_ROOT = (CADES_NAMESPACE, "ASiCManifest")
_SIG_REFERENCE = (CADES_NAMESPACE, "SigReference")
_DATA_OBJECT_REFERENCE = (CADES_NAMESPACE, "DataObjectReference")
_DIGEST_METHOD = (XMLDSIG_NAMESPACE, "DigestMethod")
_DIGEST_VALUE = (XMLDSIG_NAMESPACE, "DigestValue")


class _CadesManifestParser:
    """expat handlers collecting the ``SigReference`` and the ``DataObjectReference`` elements of the
    root; other elements (extensions) are skipped, as both readers' XML binders skip them."""

    what = CADES_MANIFEST_NAME

    def __init__(self) -> None:
        self._stack: list[tuple[str, str]] = []
        self._signatures: list[str] = []
        self._references: dict[str, _Reference] = {}
        self._current: dict[str, str] = {}
        self._text: list[str] = []

    def parse(self, document: bytes) -> _Manifest:
        parser = _parser(self.what)
        parser.StartElementHandler = self._start
        parser.CharacterDataHandler = self._characters
        parser.EndElementHandler = self._end
        _parse(parser, document, self.what)
        if len(self._signatures) != 1:
            raise ContainerError(
                f"ASiC-E: {self.what} must have one SigReference, not {len(self._signatures)}"
            )
        if not self._references:
            raise ContainerError(f"ASiC-E: {self.what} lists no DataObjectReference")
        return _Manifest(self._signatures[0], self._references)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        element = _split(name)
        if not self._stack and element != _ROOT:
            raise ContainerError(
                f"ASiC-E: {self.what} is not an ASiCManifest in a namespace the readers accept"
            )
        parent = self._stack[-1] if self._stack else None
        self._stack.append(element)
        if parent == _ROOT and element == _SIG_REFERENCE:
            uri = attributes.get("URI")
            if not uri:
                raise ContainerError(f"ASiC-E: {self.what} has a SigReference without URI")
            self._signatures.append(uri)
        elif parent == _ROOT and element == _DATA_OBJECT_REFERENCE:
            self._current = {
                key: attributes[key] for key in ("URI", "MimeType", "Rootfile") if key in attributes
            }
        elif parent == _DATA_OBJECT_REFERENCE and element in (_DIGEST_METHOD, _DIGEST_VALUE):
            field = element[1]
            if field in self._current:
                raise ContainerError(f"ASiC-E: {self.what} has a DataObjectReference with two {field}s")
            if element == _DIGEST_METHOD:
                self._current[field] = attributes.get("Algorithm", "")
            self._text.clear()

    def _characters(self, data: str) -> None:
        if self._stack and self._stack[-1] == _DIGEST_VALUE:
            self._text.append(data)

    def _end(self, name: str) -> None:
        element = self._stack.pop()
        parent = self._stack[-1] if self._stack else None
        if element == _DIGEST_VALUE and parent == _DATA_OBJECT_REFERENCE:
            self._current["DigestValue"] = "".join(self._text)
        elif element == _DATA_OBJECT_REFERENCE and parent == _ROOT:
            reference = _reference(self._current, self.what)
            if reference.uri in self._references:
                raise ContainerError(f"ASiC-E: {self.what} lists {_quote(reference.uri)} twice")
            self._references[reference.uri] = reference


def _reference(fields: dict[str, str], what: str) -> _Reference:
    """A ``DataObjectReference`` from its collected attributes and children."""
    uri = fields.get("URI")
    if not uri:
        raise ContainerError(f"ASiC-E: {what} has a DataObjectReference without URI")
    for required in ("MimeType", "DigestMethod", "DigestValue"):
        if required not in fields:
            raise ContainerError(f"ASiC-E: {what} gives {_quote(uri)} no {required}")
    method = fields["DigestMethod"].replace(_XMLDSIG_SHA, _XMLENC_SHA)
    if method != SHA256_URI:
        raise ContainerError(
            f"ASiC-E: Wrong digest method for file {_quote(uri)}: {fields['DigestMethod'][:100]}"
        )
    try:
        digest = base64.b64decode("".join(fields["DigestValue"].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ContainerError(f"ASiC-E: the DigestValue of {_quote(uri)} is not base64") from None
    return _Reference(
        uri=uri,
        mime_type=fields["MimeType"],
        root=fields.get("Rootfile", "").strip() in ("true", "1"),
        digest_method=method,
        digest=digest,
    )


# The signature ------------------------------------------------------------------------------------------


def _verify_signature(manifest: bytes, signature: bytes, name: str) -> _Signature:
    """Verify the detached CMS SignedData ``signature`` over the manifest's exact bytes."""
    prefix = f"ASiC-E: Unable to verify signature {_quote(name)}"
    try:
        return _verify(manifest, signature, prefix)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        # asn1crypto parses lazily: a malformed structure surfaces on first access, as one of these.
        raise ContainerError(f"{prefix}: not DER or BER encoded CMS SignedData") from None


def _verify(manifest: bytes, signature: bytes, prefix: str) -> _Signature:
    info = cms.ContentInfo.load(signature, strict=True)
    if info["content_type"].native != "signed_data":
        raise ContainerError(f"{prefix}: not SignedData but {info['content_type'].native}")
    signed = info["content"]
    encapsulated = signed["encap_content_info"]
    if encapsulated["content_type"].native != "data":
        raise ContainerError(f"{prefix}: it signs {encapsulated['content_type'].native}, not data")
    if encapsulated["content"].native is not None:
        raise ContainerError(f"{prefix}: the signature is not detached")
    signers = list(signed["signer_infos"])
    if len(signers) != 1:
        raise ContainerError(f"{prefix}: {len(signers)} signers, not one")
    signer = signers[0]
    certificate = _signer_certificate(signed, signer, prefix)
    digest = signer["digest_algorithm"]["algorithm"].native
    if digest not in SIGNER_DIGESTS:
        raise ContainerError(f"{prefix}: unsupported digest algorithm {digest}")
    algorithm = signer["signature_algorithm"]["algorithm"].native
    if algorithm not in ("rsassa_pkcs1v15", f"{digest}_rsa"):
        raise ContainerError(f"{prefix}: unsupported signature algorithm {algorithm} with {digest}")
    attributes = _signed_attributes(signer, prefix)
    if attributes.content_type != "data":
        raise ContainerError(f"{prefix}: the contentType attribute is {attributes.content_type}, not data")
    if attributes.message_digest != hashlib.new(digest, manifest).digest():
        raise ContainerError(f"{prefix}: the messageDigest attribute does not match the manifest")
    protection = attributes.protection
    if protection is not None and (
        protection["digest_algorithm"]["algorithm"].native != digest
        or protection["signature_algorithm"]["algorithm"].native != algorithm
    ):
        raise ContainerError(f"{prefix}: the cmsAlgorithmProtection attribute names other algorithms")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ContainerError(f"{prefix}: the signer's certificate has no RSA key")
    try:
        public_key.verify(
            signer["signature"].native, _der_signed_attributes(signer), PKCS1v15(), SIGNER_DIGESTS[digest]()
        )
    except InvalidSignature:
        raise ContainerError(
            f"{prefix}: the signature does not verify (manifest or signature altered)"
        ) from None
    signing_time = attributes.signing_time
    if not certificate.not_valid_before_utc <= signing_time <= certificate.not_valid_after_utc:
        valid = (
            f"{certificate.not_valid_before_utc.isoformat()} to {certificate.not_valid_after_utc.isoformat()}"
        )
        raise ContainerError(
            f"{prefix}: the certificate was not valid at signingTime {signing_time.isoformat()} ({valid})"
        )
    return _Signature(certificate, signing_time.timestamp(), digest)


def _signer_certificate(signed: cms.SignedData, signer: cms.SignerInfo, prefix: str) -> x509.Certificate:
    """The certificate among the SignedData's that the SignerInfo's identifier names."""
    certificates = signed["certificates"]
    candidates = [] if isinstance(certificates, core.Void) else list(certificates)
    for choice in candidates:
        if choice.name == "certificate" and identifies(signer["sid"], choice.chosen):
            return x509.load_der_x509_certificate(choice.chosen.dump())
    raise ContainerError(f"{prefix}: the signer's certificate is not in the signature")


@dataclasses.dataclass(frozen=True, slots=True)
class _SignedAttributes:
    """The signed attributes a verifier reads."""

    content_type: str
    message_digest: bytes
    signing_time: dt.datetime
    protection: cms.CMSAlgorithmProtection | None


def _signed_attributes(signer: cms.SignerInfo, prefix: str) -> _SignedAttributes:
    """The single value of each signed attribute a verifier reads: ``contentType``, ``messageDigest``
    and ``signingTime`` required, none twice and none with several values (as BouncyCastle requires of
    the ones it reads)."""
    attributes = signer["signed_attrs"]
    if isinstance(attributes, core.Void) or len(attributes) == 0:
        raise ContainerError(f"{prefix}: no signed attributes")
    # asn1crypto's values (untyped); each is checked as it is converted below.
    values: dict[str, Any] = {}
    for attribute in attributes:
        kind = attribute["type"].native
        if kind in values:
            raise ContainerError(f"{prefix}: the {kind} attribute appears twice")
        found = list(attribute["values"])
        if len(found) != 1:
            raise ContainerError(f"{prefix}: the {kind} attribute has {len(found)} values, not one")
        values[kind] = found[0]
    for required in ("content_type", "message_digest", "signing_time"):
        if required not in values:
            raise ContainerError(f"{prefix}: no {required} signed attribute")
    content_type = values["content_type"].native
    message_digest = values["message_digest"].native
    signing_time = values["signing_time"].native
    if not isinstance(signing_time, dt.datetime) or signing_time.tzinfo is None:
        raise ContainerError(f"{prefix}: the signingTime attribute is not a time")
    protection = values.get("cms_algorithm_protection")
    return _SignedAttributes(str(content_type), bytes(message_digest), signing_time, protection)


def _der_signed_attributes(signer: cms.SignerInfo) -> bytes:
    """The signed attributes as the DER SET OF that is signed (RFC 5652 5.4): the ``[0]`` tag replaced by
    SET's and the attributes in DER order, as BouncyCastle re-encodes them before verifying."""
    body = b"".join(sorted(attribute.dump() for attribute in signer["signed_attrs"]))
    return b"\x31" + _der_length(len(body)) + body


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets
