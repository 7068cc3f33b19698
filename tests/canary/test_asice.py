"""The signed ASiC-E container as KS's client writes it, checked by code outside Kanari: OpenSSL verifies
the detached CAdES signature over the manifest against the issuing CA, and each manifest digest is
recomputed from the file it names."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import shutil
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from probe.canary.asice import (
    ASIC_MANIFEST_NAME,
    CADES_NAMESPACE,
    OASIS_MANIFEST_NAME,
    SHA256_URI,
    ContainerSigner,
    build_asice,
    signature_name,
)

XMLDSIG = "{http://www.w3.org/2000/09/xmldsig#}"
CADES = f"{{{CADES_NAMESPACE}}}"
FILES = {"bekymringsmelding.json": b'{"kommunenummer": "4601"}', "bekymringsmelding.pdf": b"%PDF-1.7 canary"}
OPENSSL = shutil.which("openssl")


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kanari test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@pytest.fixture(scope="module")
def business_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("Fiktiv Class 3 Test CA"))
        .issuer_name(_name("Fiktiv Class 3 Test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


@pytest.fixture(scope="module")
def signer(business_ca: tuple[rsa.RSAPrivateKey, x509.Certificate]) -> ContainerSigner:
    ca_key, ca = business_ca
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("KANARI SYNTETISK OVERVAKING"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3 * 365))
        .sign(ca_key, hashes.SHA256())
    )
    return ContainerSigner([leaf, ca], key)


def _entries(container: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(container)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_entries_are_in_the_order_commons_asic_writes_them(signer: ContainerSigner) -> None:
    container = build_asice(FILES, signer, signature_id="7d4b")
    with zipfile.ZipFile(io.BytesIO(container)) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == [
        "mimetype",
        "bekymringsmelding.json",
        "bekymringsmelding.pdf",
        ASIC_MANIFEST_NAME,
        signature_name("7d4b"),
        OASIS_MANIFEST_NAME,
    ]
    assert infos[0].compress_type == zipfile.ZIP_STORED
    assert not infos[0].extra
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in infos[1:])
    # The type can be read at a fixed offset: the local header, then the name, then the content.
    assert container[30:38] == b"mimetype"
    assert container[38:69] == b"application/vnd.etsi.asic-e+zip"


def test_the_manifest_names_the_signature_and_every_file_with_type_and_sha256(
    signer: ContainerSigner,
) -> None:
    entries = _entries(build_asice(FILES, signer, signature_id="7d4b"))
    root = ElementTree.fromstring(entries[ASIC_MANIFEST_NAME])
    assert root.tag == f"{CADES}ASiCManifest"
    reference = root.find(f"{CADES}SigReference")
    assert reference is not None
    assert reference.attrib == {"URI": signature_name("7d4b"), "MimeType": "application/x-pkcs7-signature"}
    objects = root.findall(f"{CADES}DataObjectReference")
    assert [(item.get("URI"), item.get("MimeType"), item.get("Rootfile")) for item in objects] == [
        ("bekymringsmelding.json", "application/json", "true"),
        ("bekymringsmelding.pdf", "application/pdf", None),
    ]
    for item in objects:
        method = item.find(f"{XMLDSIG}DigestMethod")
        value = item.find(f"{XMLDSIG}DigestValue")
        assert method is not None
        assert method.get("Algorithm") == SHA256_URI
        assert value is not None
        assert value.text is not None
        uri = item.get("URI")
        assert uri is not None
        assert base64.b64decode(value.text) == hashlib.sha256(entries[uri]).digest()


def test_the_oasis_manifest_lists_the_container_and_its_files(signer: ContainerSigner) -> None:
    root = ElementTree.fromstring(_entries(build_asice(FILES, signer))[OASIS_MANIFEST_NAME])
    namespace = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"
    assert [(entry.get(f"{namespace}full-path"), entry.get(f"{namespace}media-type")) for entry in root] == [
        ("/", "application/vnd.etsi.asic-e+zip"),
        ("bekymringsmelding.json", "application/json"),
        ("bekymringsmelding.pdf", "application/pdf"),
    ]


def test_openssl_verifies_the_detached_signature_over_the_manifest(
    signer: ContainerSigner, business_ca: tuple[rsa.RSAPrivateKey, x509.Certificate], tmp_path: Path
) -> None:
    assert OPENSSL is not None
    entries = _entries(build_asice(FILES, signer, signature_id="7d4b"))
    (tmp_path / "manifest.xml").write_bytes(entries[ASIC_MANIFEST_NAME])
    (tmp_path / "signature.p7s").write_bytes(entries[signature_name("7d4b")])
    (tmp_path / "ca.pem").write_bytes(business_ca[1].public_bytes(serialization.Encoding.PEM))
    verify = [
        OPENSSL, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "signature.p7s"),
        "-content", str(tmp_path / "manifest.xml"), "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "any",
        "-out", str(tmp_path / "verified"),
    ]  # fmt: skip
    result = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "verified").read_bytes() == entries[ASIC_MANIFEST_NAME]
    printed = subprocess.run(
        [OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / "signature.p7s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Detached, the business certificate and its issuer embedded, BouncyCastle's signed attributes.
    assert "eContent: <ABSENT>" in printed
    assert printed.count("d.certificate:") == 2
    for attribute in ("contentType", "signingTime", "messageDigest"):
        assert attribute in printed
    assert "SMIMECapabilities" not in printed
    assert "sha256" in printed

    # A manifest changed after signing no longer verifies.
    (tmp_path / "manifest.xml").write_bytes(entries[ASIC_MANIFEST_NAME].replace(b"Rootfile", b"RootFile"))
    tampered = subprocess.run(verify, capture_output=True, text=True, check=False)
    assert tampered.returncode != 0


def test_a_signer_refuses_a_certificate_of_another_key(signer: ContainerSigner) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError, match="not for the signing key"):
        ContainerSigner(signer.chain, other)
    with pytest.raises(ValueError, match="needs the business certificate"):
        ContainerSigner([], other)


@pytest.mark.parametrize(
    "name",
    ["mimetype", "META-INF/manifest.xml", "META-INF/signatures.xml", "../x", "/abs", "a\\b", "a\x00b", ""],
)
def test_reserved_or_unsafe_names_are_refused(signer: ContainerSigner, name: str) -> None:
    with pytest.raises(ValueError, match="ASiC-E: cannot add"):
        build_asice({name: b"{}"}, signer)


def test_a_file_of_unknown_type_or_no_file_is_refused(signer: ContainerSigner) -> None:
    with pytest.raises(ValueError, match="no MIME type"):
        build_asice({"notes.txt": b"x"}, signer)
    with pytest.raises(ValueError, match="at least one file"):
        build_asice({}, signer)
