"""Reading signed ASiC-E containers as KS's Java and .NET readers do together: what the probe's writer and
Difi's Java writer make is accepted; everything either reader refuses is refused, each for its reason."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from probe.canary.asice import ContainerSigner, build_asice
from probe.sandbox.container import ContainerError, read_container
from probe.sandbox.errors import SandboxError
from tests.sandbox import cms_kit
from tests.sandbox.cms_kit import FILES, NOW, SIGNATURE_NAME, Entry, entries, make_zip

# A container Difi's Java writer made (ks-no/asic's test resources), when the checkout is on this machine.
JAVA_SAMPLE = Path("/work/.mirror/ks-no+asic/tree/src/test/resources/asic-cades-test-valid.asice")

Signer = tuple[rsa.RSAPrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def signer() -> Signer:
    key = cms_kit.new_rsa_key()
    return key, cms_kit.certificate(key, "Kanari (fiktivt virksomhetssertifikat)")


@pytest.fixture(scope="module")
def other_signer() -> Signer:
    key = cms_kit.new_rsa_key()
    return key, cms_kit.certificate(key, "Noen andre", subject_key_identifier=True)


def signed(
    signer: Signer, files: dict[str, bytes] = FILES, manifest: bytes | None = None, **sign: Any
) -> bytes:
    """A container of ``files`` signed by ``signer``; ``sign`` goes to :func:`cms_kit.signed_data`."""
    key, certificate = signer
    listed = cms_kit.cades_manifest(files) if manifest is None else manifest
    return make_zip(entries(files, cms_kit.signed_data(listed, certificate, key, **sign), listed))


def signed_entries(
    signer: Signer, files: dict[str, bytes] = FILES, manifest: bytes | None = None
) -> list[Entry]:
    key, certificate = signer
    listed = cms_kit.cades_manifest(files) if manifest is None else manifest
    return entries(files, cms_kit.signed_data(listed, certificate, key), listed)


def refused(data: bytes, match: str) -> None:
    with pytest.raises(ContainerError, match=match):
        read_container(data)


def replaced(items: list[Entry], name: str, data: bytes) -> list[Entry]:
    return [(entry, data if entry == name else content, compression) for entry, content, compression in items]


# Accepted -------------------------------------------------------------------------------------------------


def test_container_from_the_probes_writer_is_accepted(signer: Signer) -> None:
    key, certificate = signer

    container = read_container(build_asice(FILES, ContainerSigner([certificate], key)))

    assert container.files == FILES
    assert list(container.files) == list(FILES)
    assert container.signer == certificate
    assert container.signature_digest == "sha256"
    assert container.root_file == "bekymringsmelding.json"
    assert abs(container.signing_time - dt.datetime.now(dt.UTC).timestamp()) < 600  # OpenSSL's clock


def test_hand_made_container_is_accepted(signer: Signer) -> None:
    container = read_container(signed(signer))

    assert container.files == FILES
    assert container.signing_time == NOW.timestamp()
    assert container.root_file is None


@pytest.mark.skipif(not JAVA_SAMPLE.exists(), reason="the ks-no/asic checkout is not on this machine")
def test_container_from_difis_java_writer_is_accepted() -> None:
    """SHA-1 with RSA by BouncyCastle, the 2918/v1.2.1 namespace, ``META-INF/asicmanifest.xml`` in lower
    case, ``xmldsig#sha256`` digests, data descriptors, no OASIS manifest."""
    container = read_container(JAVA_SAMPLE.read_bytes())

    assert list(container.files) == ["bii-envelope.xml", "bii-message.xml"]
    assert container.signature_digest == "sha1"
    assert container.signing_time == dt.datetime(2015, 7, 23, 6, 4, 39, tzinfo=dt.UTC).timestamp()


def test_container_written_with_data_descriptors_is_accepted(signer: Signer) -> None:
    """Java's ZipOutputStream writes a data descriptor after each deflated entry."""
    data = make_zip(signed_entries(signer), streamed=True)

    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[1].flag_bits & 0x08
    assert read_container(data).files == FILES


@pytest.mark.parametrize(
    "namespace",
    [
        "http://uri.etsi.org/02918/v1.2.1#",
        "http://uri.etsi.org/02918/v1.1.1#",
        "http://uri.etsi.org/2918/v1.2.1#",
    ],
)
def test_namespaces_both_readers_accept_are_accepted(signer: Signer, namespace: str) -> None:
    manifest = cms_kit.cades_manifest(FILES, namespace=namespace)

    assert read_container(signed(signer, manifest=manifest)).files == FILES


def test_xmldsig_sha256_uri_is_accepted_as_java_normalises_it(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES, digest_method="http://www.w3.org/2000/09/xmldsig#sha256")

    assert read_container(signed(signer, manifest=manifest)).files == FILES


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_signer_digests_bouncycastle_verifies_are_accepted(signer: Signer, digest: str) -> None:
    assert read_container(signed(signer, digest=digest)).signature_digest == digest


def test_signature_algorithm_may_name_the_digest(signer: Signer) -> None:
    assert read_container(signed(signer, signature_algorithm="sha256_rsa")).files == FILES


@pytest.mark.parametrize("who", ["signer", "other_signer"])
def test_signer_named_by_subject_key_identifier_is_accepted(request: pytest.FixtureRequest, who: str) -> None:
    assert read_container(signed(request.getfixturevalue(who), sid="ski")).files == FILES


def test_signed_attributes_stored_out_of_der_order_verify_over_der(signer: Signer) -> None:
    """BouncyCastle re-encodes the signed attributes as DER before verifying; so does the sandbox."""
    assert read_container(signed(signer, unsorted=True)).files == FILES


def test_matching_cms_algorithm_protection_is_accepted(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)
    protection = cms_kit.attribute(
        "cms_algorithm_protection",
        cms.CMSAlgorithmProtection(
            {
                "digest_algorithm": {"algorithm": "sha256"},
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
            }
        ),
    )
    attributes = [*cms_kit.standard_attributes(manifest), protection]

    assert read_container(signed(signer, manifest=manifest, attributes=attributes)).files == FILES


def test_oasis_manifest_is_optional(signer: Signer) -> None:
    key, certificate = signer
    manifest = cms_kit.cades_manifest(FILES)
    signature = cms_kit.signed_data(manifest, certificate, key)

    assert read_container(make_zip(entries(FILES, signature, manifest, oasis=False))).files == FILES


def test_unknown_elements_are_skipped_as_both_xml_binders_skip_them(signer: Signer) -> None:
    extensions = '<ASiCManifestExtensions><Extension Critical="false">x</Extension></ASiCManifestExtensions>'
    manifest = cms_kit.cades_manifest(FILES, extra=extensions)

    assert read_container(signed(signer, manifest=manifest)).files == FILES


# Refused: unsigned, tampered ------------------------------------------------------------------------------


def test_refusals_are_sandbox_errors() -> None:
    assert issubclass(ContainerError, SandboxError)


def test_unsigned_container_without_manifest_or_signature_is_refused() -> None:
    """What Kanari sent before it signed its containers."""
    items = [
        ("mimetype", cms_kit.ASICE_MIMETYPE, zipfile.ZIP_STORED),
        *[(name, data, zipfile.ZIP_DEFLATED) for name, data in FILES.items()],
        ("META-INF/manifest.xml", cms_kit.oasis_manifest(FILES), zipfile.ZIP_DEFLATED),
    ]

    refused(
        make_zip(items),
        r"ASiC-E: File not verified: 'bekymringsmelding\.json': the container has no signed manifest",
    )


def test_manifest_without_signature_is_refused() -> None:
    refused(
        make_zip(entries(FILES, None)),
        rf"ASiC-E: Signature not verified: '{SIGNATURE_NAME}' is not in the container",
    )


def test_container_with_nothing_but_mimetype_is_refused() -> None:
    refused(
        make_zip([("mimetype", cms_kit.ASICE_MIMETYPE, zipfile.ZIP_STORED)]),
        r"^ASiC-E: the container has no signed",
    )


def test_tampered_data_file_is_refused(signer: Signer) -> None:
    items = replaced(signed_entries(signer), "bekymringsmelding.pdf", b"%PDF-1.4 endret")

    refused(make_zip(items), r"ASiC-E: Mismatching digest for file 'bekymringsmelding\.pdf'")


def test_tampered_manifest_is_refused(signer: Signer) -> None:
    """A manifest changed after signing (here a MIME type, no digest touched) no longer verifies."""
    items = signed_entries(signer)
    manifest = next(content for name, content, _ in items if name == "META-INF/ASiCManifest.xml")
    changed = manifest.replace(b'MimeType="application/octet-stream"', b'MimeType="text/plain"', 1)

    refused(
        make_zip(replaced(items, "META-INF/ASiCManifest.xml", changed)),
        "messageDigest attribute does not match",
    )


def test_altered_signature_bytes_are_refused(signer: Signer) -> None:
    key, certificate = signer
    manifest = cms_kit.cades_manifest(FILES)
    signature = bytearray(cms_kit.signed_data(manifest, certificate, key))
    signature[-1] ^= 0x01  # the last byte of the DER is the last byte of the RSA signature

    refused(make_zip(entries(FILES, bytes(signature), manifest)), "the signature does not verify")
    refused(signed(signer, corrupt=True), "the signature does not verify")


def test_signature_by_another_key_than_its_certificate_is_refused(
    signer: Signer, other_signer: Signer
) -> None:
    key, _ = signer
    _, other_certificate = other_signer
    manifest = cms_kit.cades_manifest(FILES)
    signature = cms_kit.signed_data(manifest, other_certificate, key)

    refused(make_zip(entries(FILES, signature, manifest)), "the signature does not verify")


def test_extra_data_file_not_in_the_manifest_is_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items.insert(3, ("vedlegg.pdf", b"%PDF-1.4 smuglet", zipfile.ZIP_DEFLATED))

    refused(make_zip(items), r"ASiC-E: File not verified: 'vedlegg\.pdf' \(not in the manifest\)")


def test_data_file_in_a_folder_is_refused(signer: Signer) -> None:
    files = {**FILES, "vedlegg/bilde.png": b"\x89PNG"}

    refused(signed(signer, files), r"data file 'vedlegg/bilde\.png' is in a folder")


def test_listed_file_that_is_missing_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest({**FILES, "borte.pdf": b"%PDF"})
    refused(
        make_zip(signed_entries(signer, manifest=manifest)),
        r"ASiC-E: File not verified: 'borte\.pdf' \(listed, but not in the container\)",
    )


@pytest.mark.parametrize(
    "method",
    [
        "http://www.w3.org/2000/09/xmldsig#sha1",
        # .NET would take SHA-512; Java's CAdES reader takes SHA-256 only.
        "http://www.w3.org/2001/04/xmlenc#sha512",
        "",
    ],
)
def test_digest_methods_other_than_sha256_are_refused(signer: Signer, method: str) -> None:
    def sha1_reference(name: str, content: bytes) -> str:
        digest = base64.b64encode(hashlib.sha1(content).digest()).decode()
        return (
            f'<DataObjectReference URI="{name}" MimeType="application/octet-stream">'
            f'<ds:DigestMethod Algorithm="{method}"/><ds:DigestValue>{digest}</ds:DigestValue>'
            "</DataObjectReference>"
        )

    manifest = cms_kit.cades_manifest(FILES, reference=sha1_reference)

    refused(
        signed(signer, manifest=manifest), r"ASiC-E: Wrong digest method for file 'bekymringsmelding\.json'"
    )


def test_certificate_not_valid_at_the_signing_time_is_refused() -> None:
    key = cms_kit.new_rsa_key()
    expired = cms_kit.certificate(
        key, "Utløpt", not_before=NOW - dt.timedelta(days=800), not_after=NOW - dt.timedelta(days=1)
    )
    future = cms_kit.certificate(key, "Ikke ennå", not_before=NOW + dt.timedelta(days=1))

    for certificate in (expired, future):
        refused(
            signed((key, certificate)), "the certificate was not valid at signingTime 2026-01-01T00:00:00"
        )


def test_probe_signature_with_an_expired_certificate_is_refused() -> None:
    """The probe's writer signs with OpenSSL's clock: an expired business certificate is refused."""
    key = cms_kit.new_rsa_key()
    now = dt.datetime.now(dt.UTC)
    expired = cms_kit.certificate(
        key, "Utløpt", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )

    refused(
        build_asice(FILES, ContainerSigner([expired], key)), "the certificate was not valid at signingTime"
    )


# Refused: the zip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_not_a_zip_is_refused(data: bytes) -> None:
    refused(data, "ASiC-E: not a zip archive")


def test_empty_zip_is_refused() -> None:
    refused(make_zip([]), "the archive is empty")


@pytest.mark.parametrize(
    "content", [b"application/zip", cms_kit.ASICE_MIMETYPE + b"\n", b"application/vnd.etsi.asic-s+zip", b""]
)
def test_wrong_mimetype_is_refused(signer: Signer, content: bytes) -> None:
    items = replaced(signed_entries(signer), "mimetype", content)

    refused(
        make_zip(items),
        r"Content is not ASiC-E container: 'mimetype' is not application/vnd\.etsi\.asic-e\+zip",
    )


def test_mimetype_not_first_is_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items[0], items[1] = items[1], items[0]

    refused(make_zip(items), "the first entry is not 'mimetype'")


def test_missing_mimetype_is_refused(signer: Signer) -> None:
    refused(make_zip(signed_entries(signer)[1:]), "the first entry is not 'mimetype'")


def test_compressed_mimetype_is_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items[0] = ("mimetype", cms_kit.ASICE_MIMETYPE, zipfile.ZIP_DEFLATED)

    refused(make_zip(items), "'mimetype' is compressed; it must be stored")


def test_mimetype_with_extra_field_is_refused(signer: Signer) -> None:
    refused(
        make_zip(signed_entries(signer), mimetype_extra=b"\xca\xfe\x00\x00"), "'mimetype' has an extra field"
    )


def test_mimetype_preceded_by_other_data_is_refused(signer: Signer) -> None:
    """A valid container behind a prefix (zip readers tolerate one): the type is no longer at byte 38."""
    refused(b"junk" * 10 + signed(signer), "'mimetype' is not at the start of the archive")


def test_hidden_data_between_entries_is_refused(signer: Signer) -> None:
    """Bytes between two entries that the central directory skips: a streaming reader (Java) could find an
    entry there that a central-directory reader (.NET) never sees."""
    data = signed(signer)
    after_mimetype = 30 + len("mimetype") + len(cms_kit.ASICE_MIMETYPE)
    hidden = cms_kit.splice(
        data, after_mimetype, make_zip([("skjult.pdf", b"%PDF", zipfile.ZIP_STORED)])[:60]
    )

    assert zipfile.ZipFile(io.BytesIO(hidden)).testzip() is None  # every listed entry still reads
    refused(hidden, r"entry 'bekymringsmelding\.json' is not where the previous one ends")


def test_data_before_the_central_directory_is_refused(signer: Signer) -> None:
    data = signed(signer)
    directory = zipfile.ZipFile(io.BytesIO(data)).start_dir

    refused(
        cms_kit.splice(data, directory, b"PK\x03\x04skjult"),
        "data between the last entry and the central directory",
    )


def test_entry_without_its_local_header_is_refused(signer: Signer) -> None:
    data = bytearray(signed(signer))
    second = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[1].header_offset
    data[second : second + 4] = b"XX\x03\x04"

    refused(bytes(data), r"entry 'bekymringsmelding\.json' has no local header")


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "a/../../b",
        "./a",
        "a//b",
        "C:/Windows/x",
        "c:x",
        "a\\..\\b",
    ],
)
def test_path_traversal_names_are_refused(signer: Signer, name: str) -> None:
    items = signed_entries(signer)
    items.insert(2, (name, b"evil", zipfile.ZIP_DEFLATED))

    refused(make_zip(items), "unsafe entry name")


def test_name_with_a_nul_byte_is_refused(signer: Signer) -> None:
    """Python's zipfile cuts a name at NUL, Java's does not: the two would read different names."""
    items = signed_entries(signer)
    items.insert(2, ("vedleggX.pdf", b"evil", zipfile.ZIP_DEFLATED))
    data = make_zip(items).replace(b"vedleggX.pdf", b"vedlegg\x00.pdf")

    refused(data, "unsafe entry name 'vedlegg\\\\x00.pdf': empty or contains NUL")


@pytest.mark.parametrize("duplicate", ["bekymringsmelding.json", "Bekymringsmelding.JSON"])
def test_duplicate_names_are_refused(signer: Signer, duplicate: str) -> None:
    items = signed_entries(signer)
    items.insert(2, (duplicate, b'{"annen": true}', zipfile.ZIP_DEFLATED))

    refused(make_zip(items), "appears twice")


@pytest.mark.parametrize("directory", ["META-INF/", "vedlegg/"])
def test_directory_entries_are_refused(signer: Signer, directory: str) -> None:
    items = signed_entries(signer)
    items.insert(1, (directory, b"", zipfile.ZIP_STORED))

    refused(make_zip(items), "directory entry")


def test_oversize_container_is_refused(signer: Signer) -> None:
    data = signed(signer, {"stor.pdf": b"x" * 20_000})

    assert read_container(data, max_total_size=40_000).files == {"stor.pdf": b"x" * 20_000}
    with pytest.raises(ContainerError, match="more than 10000"):
        read_container(data, max_total_size=10_000)


def test_zip_bomb_is_refused_before_unpacking(signer: Signer) -> None:
    bomb = make_zip(
        [
            ("mimetype", cms_kit.ASICE_MIMETYPE, zipfile.ZIP_STORED),
            ("bombe.json", bytes(60 * 1024 * 1024), zipfile.ZIP_DEFLATED),
        ]
    )

    assert len(bomb) < 200_000
    refused(bomb, "unpacks to")


def test_too_many_entries_are_refused() -> None:
    items: list[Entry] = [("mimetype", cms_kit.ASICE_MIMETYPE, zipfile.ZIP_STORED)]
    items += [(f"fil{index}.json", b"{}", zipfile.ZIP_STORED) for index in range(1000)]

    refused(make_zip(items), "1001 entries, more than 1000")


def test_corrupted_entry_is_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items[1] = ("bekymringsmelding.json", FILES["bekymringsmelding.json"], zipfile.ZIP_STORED)
    data = bytearray(make_zip(items))
    offset = data.index(FILES["bekymringsmelding.json"])
    data[offset] ^= 0xFF  # the CRC no longer matches

    refused(bytes(data), r"entry 'bekymringsmelding\.json' cannot be read")


# Refused: META-INF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["META-INF/signature.malformed", "META-INF/notes.txt", "META-INF/container.xml"]
)
def test_unknown_meta_inf_file_is_refused(signer: Signer, name: str) -> None:
    items = signed_entries(signer)
    items.append((name, b"x", zipfile.ZIP_DEFLATED))

    refused(make_zip(items), rf"ASiC-E: Contains unknown metadata file: '{name}'")


def test_meta_inf_in_another_case_is_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items.append(("meta-inf/notes.txt", b"x", zipfile.ZIP_DEFLATED))

    refused(make_zip(items), "spells META-INF/ in another case")


def test_xades_signatures_are_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items.append(("META-INF/signatures.xml", b"<XAdESSignatures/>", zipfile.ZIP_DEFLATED))

    refused(make_zip(items), "XAdES signatures are not read here")


def test_two_cades_manifests_are_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items.append(("META-INF/ASiCManifest2.xml", cms_kit.cades_manifest(FILES), zipfile.ZIP_DEFLATED))

    refused(make_zip(items), "more than one CAdES manifest")


def test_cades_manifest_under_another_name_is_refused(signer: Signer) -> None:
    """Java would read META-INF/ASiCManifest1.xml; the .NET reader looks for ASiCManifest.xml only."""
    items = [
        ("META-INF/ASiCManifest1.xml" if name == "META-INF/ASiCManifest.xml" else name, content, compression)
        for name, content, compression in signed_entries(signer)
    ]

    refused(make_zip(items), "the CAdES manifest must be META-INF/ASiCManifest.xml")


def test_lower_case_manifest_name_is_accepted(signer: Signer) -> None:
    items = [
        ("META-INF/asicmanifest.xml" if name == "META-INF/ASiCManifest.xml" else name, content, compression)
        for name, content, compression in signed_entries(signer)
    ]

    assert read_container(make_zip(items)).files == FILES


def test_signature_no_manifest_refers_to_is_refused(signer: Signer) -> None:
    items = signed_entries(signer)
    items.append(("META-INF/signature-extra.p7s", b"x", zipfile.ZIP_DEFLATED))

    refused(
        make_zip(items),
        r"Signature not verified: 'META-INF/signature-extra\.p7s' \(no manifest refers to it\)",
    )


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"<manifest", "META-INF/manifest.xml is not well-formed XML"),
        (b'<?xml version="1.0"?><other/>', "Unable to read XML as OASIS OpenDocument Manifest"),
        (
            b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "file:///etc/passwd"><m/>',
            "META-INF/manifest.xml declares a DTD",
        ),
    ],
)
def test_unreadable_oasis_manifest_is_refused(signer: Signer, document: bytes, problem: str) -> None:
    refused(make_zip(replaced(signed_entries(signer), "META-INF/manifest.xml", document)), problem)


# Refused: the CAdES manifest ----------------------------------------------------------------------------

ROOT = f'<ASiCManifest xmlns="{cms_kit.CADES_NAMESPACE}" xmlns:ds="{cms_kit.XMLDSIG_NAMESPACE}">'
SIG = f'<SigReference URI="{SIGNATURE_NAME}"/>'
DIGEST = base64.b64encode(hashlib.sha256(FILES["bekymringsmelding.json"]).digest()).decode()
METHOD = f'<ds:DigestMethod Algorithm="{cms_kit.SHA256_URI}"/>'
VALUE = f"<ds:DigestValue>{DIGEST}</ds:DigestValue>"
JSON_REFERENCE = (
    f'<DataObjectReference URI="bekymringsmelding.json" MimeType="application/json">{METHOD}{VALUE}'
    "</DataObjectReference>"
)
LOLZ = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><l>&lol2;</l>'


def manifest_of(*parts: str) -> bytes:
    return (ROOT + "".join(parts) + "</ASiCManifest>").encode()


def reference(attributes: str, *children: str) -> str:
    return f"<DataObjectReference {attributes}>{''.join(children)}</DataObjectReference>"


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"<ASiCManifest", "META-INF/ASiCManifest.xml is not well-formed XML"),
        (b"\xff\xfe\x00garbage", "META-INF/ASiCManifest.xml is not UTF-8 text"),
        (LOLZ, "declares a DTD"),
        (b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "file:///etc/passwd"><m/>', "declares a DTD"),
        (
            f'<ASiCManifest xmlns="http://uri.etsi.org/02918/v9.9.9#">{SIG}{JSON_REFERENCE}</ASiCManifest>'.encode(),
            "is not an ASiCManifest in a namespace the readers accept",
        ),
        (f"<ASiCManifest>{SIG}</ASiCManifest>".encode(), "is not an ASiCManifest in a namespace"),
        (manifest_of(JSON_REFERENCE), "must have one SigReference, not 0"),
        (manifest_of(SIG, SIG, JSON_REFERENCE), "must have one SigReference, not 2"),
        (manifest_of('<SigReference MimeType="x"/>', JSON_REFERENCE), "SigReference without URI"),
        (manifest_of(SIG), "lists no DataObjectReference"),
        (manifest_of(SIG, reference('MimeType="a"', METHOD, VALUE)), "DataObjectReference without URI"),
        (manifest_of(SIG, reference('URI="a"', METHOD, VALUE)), "gives 'a' no MimeType"),
        (manifest_of(SIG, reference('URI="a" MimeType="b"', VALUE)), "gives 'a' no DigestMethod"),
        (manifest_of(SIG, reference('URI="a" MimeType="b"', METHOD)), "gives 'a' no DigestValue"),
        (
            manifest_of(SIG, reference('URI="a" MimeType="b"', METHOD, METHOD, VALUE)),
            "with two DigestMethods",
        ),
        (manifest_of(SIG, reference('URI="a" MimeType="b"', METHOD, VALUE, VALUE)), "with two DigestValues"),
        (
            manifest_of(
                SIG,
                reference('URI="a" MimeType="b"', METHOD, "<ds:DigestValue>ikke base64!</ds:DigestValue>"),
            ),
            "the DigestValue of 'a' is not base64",
        ),
        (manifest_of(SIG, JSON_REFERENCE, JSON_REFERENCE), "lists 'bekymringsmelding.json' twice"),
    ],
)
def test_malformed_or_hostile_cades_manifest_is_refused(
    signer: Signer, manifest: bytes, problem: str
) -> None:
    refused(signed(signer, manifest=manifest), problem)


# Refused: the signature ---------------------------------------------------------------------------------


def signature_refused(signer: Signer, match: str, **sign: Any) -> None:
    refused(signed(signer, **sign), rf"ASiC-E: Unable to verify signature '{SIGNATURE_NAME}': {match}")


def test_signature_that_is_not_cms_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)

    for junk in (b"", b"garbage", b"\x30\x03\x02\x01\x01"):
        refused(make_zip(entries(FILES, junk, manifest)), "not DER or BER encoded CMS SignedData")


def test_signature_that_is_not_signed_data_is_refused(signer: Signer) -> None:
    _, certificate = signer
    manifest = cms_kit.cades_manifest(FILES)
    enveloped = cms_kit.envelope(manifest, certificate)

    refused(make_zip(entries(FILES, enveloped, manifest)), "not SignedData but enveloped_data")


def test_signature_of_other_content_than_data_is_refused(signer: Signer) -> None:
    signature_refused(signer, "it signs signed_data, not data", content_type="signed_data")


def test_signature_with_embedded_content_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)

    signature_refused(signer, "the signature is not detached", manifest=manifest, embedded=manifest)


def test_signature_without_or_with_two_signers_is_refused(signer: Signer, other_signer: Signer) -> None:
    key, certificate = signer
    other_key, other_certificate = other_signer
    manifest = cms_kit.cades_manifest(FILES)
    both = [
        cms_kit.signer_info(manifest, certificate, key),
        cms_kit.signer_info(manifest, other_certificate, other_key),
    ]

    signature_refused(signer, "0 signers, not one", manifest=manifest, signers=[])
    signature_refused(
        signer,
        "2 signers, not one",
        manifest=manifest,
        signers=both,
        certificates=[certificate, other_certificate],
    )


def test_signature_without_the_signers_certificate_is_refused(signer: Signer, other_signer: Signer) -> None:
    _, other_certificate = other_signer

    signature_refused(signer, "the signer's certificate is not in the signature", certificates=[])
    signature_refused(
        signer, "the signer's certificate is not in the signature", certificates=[other_certificate]
    )
    signature_refused(signer, "the signer's certificate is not in the signature", sid="wrong_ski")


@pytest.mark.parametrize(("digest", "algorithm"), [("md5", "rsassa_pkcs1v15"), ("sha224", "rsassa_pkcs1v15")])
def test_unsupported_signer_digest_is_refused(signer: Signer, digest: str, algorithm: str) -> None:
    signature_refused(
        signer, f"unsupported digest algorithm {digest}", digest=digest, signature_algorithm=algorithm
    )


@pytest.mark.parametrize("algorithm", ["rsassa_pss", "sha1_rsa", "sha256_ecdsa"])
def test_unsupported_signature_algorithm_is_refused(signer: Signer, algorithm: str) -> None:
    signature_refused(
        signer, f"unsupported signature algorithm {algorithm} with sha256", signature_algorithm=algorithm
    )


def test_signature_without_signed_attributes_is_refused(signer: Signer) -> None:
    signature_refused(signer, "no signed attributes", attributes=[])


@pytest.mark.parametrize("missing", ["content_type", "message_digest", "signing_time"])
def test_signature_missing_a_required_attribute_is_refused(signer: Signer, missing: str) -> None:
    manifest = cms_kit.cades_manifest(FILES)
    attributes = [item for item in cms_kit.standard_attributes(manifest) if item["type"].native != missing]

    signature_refused(signer, f"no {missing} signed attribute", manifest=manifest, attributes=attributes)


def test_attribute_twice_or_with_two_values_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)
    standard = cms_kit.standard_attributes(manifest)
    later = cms.Time(name="utc_time", value=NOW + dt.timedelta(hours=1))
    twice = [*standard, cms_kit.attribute("signing_time", later)]
    two_values = [
        *standard[:1],
        cms_kit.attribute("signing_time", cms.Time(name="utc_time", value=NOW), later),
        standard[2],
    ]

    signature_refused(signer, "the signing_time attribute appears twice", manifest=manifest, attributes=twice)
    signature_refused(
        signer, "the signing_time attribute has 2 values, not one", manifest=manifest, attributes=two_values
    )


def test_content_type_attribute_other_than_data_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)
    attributes = [
        cms_kit.attribute("content_type", "signed_data"),
        *cms_kit.standard_attributes(manifest)[1:],
    ]

    signature_refused(
        signer, "the contentType attribute is signed_data, not data", manifest=manifest, attributes=attributes
    )


def test_message_digest_of_something_else_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)
    attributes = [*cms_kit.standard_attributes(manifest)[:2], cms_kit.attribute("message_digest", bytes(32))]

    signature_refused(
        signer, "the messageDigest attribute does not match", manifest=manifest, attributes=attributes
    )


def test_signing_time_that_is_no_time_is_refused(signer: Signer) -> None:
    """Year 0 (asn1crypto's extended_datetime): not a time a certificate can be valid at."""
    manifest = cms_kit.cades_manifest(FILES)
    year_zero = cms.Time(name="generalized_time", value=core.GeneralizedTime.load(b"\x18\x0f00000101000000Z"))
    attributes = [
        *cms_kit.standard_attributes(manifest)[:1],
        cms_kit.attribute("signing_time", year_zero),
        cms_kit.standard_attributes(manifest)[2],
    ]

    signature_refused(
        signer, "the signingTime attribute is not a time", manifest=manifest, attributes=attributes
    )


def test_mismatching_cms_algorithm_protection_is_refused(signer: Signer) -> None:
    manifest = cms_kit.cades_manifest(FILES)
    protection = cms_kit.attribute(
        "cms_algorithm_protection",
        cms.CMSAlgorithmProtection(
            {
                "digest_algorithm": {"algorithm": "sha1"},
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
            }
        ),
    )
    attributes = [*cms_kit.standard_attributes(manifest), protection]

    signature_refused(
        signer,
        "the cmsAlgorithmProtection attribute names other algorithms",
        manifest=manifest,
        attributes=attributes,
    )


def test_signer_certificate_without_an_rsa_key_is_refused(signer: Signer) -> None:
    key, _ = signer
    ec_certificate = cms_kit.certificate(ec.generate_private_key(ec.SECP256R1()), "EC")
    manifest = cms_kit.cades_manifest(FILES)
    signature = cms_kit.signed_data(manifest, ec_certificate, key)

    refused(make_zip(entries(FILES, signature, manifest)), "the signer's certificate has no RSA key")
