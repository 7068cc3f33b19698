"""ASiC-E containers: the layout ETSI EN 319 162-1 fixes, and refusing every malformed container."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from xml.etree import ElementTree

import pytest

from probe.canary.asice import ASICE_MIMETYPE, build_asice, read_asice
from probe.errors import AsiceError

MANIFEST_NS = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"
# A zip entry written as-is: (name, data, compression).
Entry = tuple[str, bytes, int]
FILES = {"bekymringsmelding.json": b'{"kommunenummer": "4601"}', "bekymringsmelding.pdf": b"%PDF-1.4 fiktiv"}


def manifest_for(*names: str) -> bytes:
    entries = "".join(
        f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="application/octet-stream"/>'
        for name in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.etsi.asic-e+zip"/>'
        f"{entries}</manifest:manifest>"
    ).encode()


def make_zip(entries: Iterable[Entry], *, mimetype_extra: bytes = b"") -> bytes:
    """A zip of ``(name, data, compression)`` entries in order, written without any checks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are written on purpose
        for name, data, compression in entries:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = compression
            if name == "mimetype":
                info.extra = mimetype_extra
            archive.writestr(info, data)
    return buffer.getvalue()


def valid_entries(files: Mapping[str, bytes] = FILES) -> list[Entry]:
    return [
        ("mimetype", ASICE_MIMETYPE, zipfile.ZIP_STORED),
        *[(name, data, zipfile.ZIP_DEFLATED) for name, data in files.items()],
        ("META-INF/manifest.xml", manifest_for(*files), zipfile.ZIP_DEFLATED),
    ]


# Building -----------------------------------------------------------------------------------------------


def test_mimetype_is_first_stored_without_extra_field_at_a_fixed_offset() -> None:
    container = build_asice(FILES)
    first = zipfile.ZipFile(io.BytesIO(container)).infolist()[0]

    assert (first.filename, first.compress_type, first.extra, first.header_offset) == (
        "mimetype",
        zipfile.ZIP_STORED,
        b"",
        0,
    )
    # Local header: name length 8, extra length 0, so the type is readable at byte 38.
    assert container[26:30] == b"\x08\x00\x00\x00"
    assert container[30:38] == b"mimetype"
    assert container[38 : 38 + len(ASICE_MIMETYPE)] == ASICE_MIMETYPE


def test_files_are_deflated_in_order_then_the_manifest() -> None:
    entries = zipfile.ZipFile(io.BytesIO(build_asice(FILES))).infolist()

    assert [entry.filename for entry in entries] == ["mimetype", *FILES, "META-INF/manifest.xml"]
    assert all(entry.compress_type == zipfile.ZIP_DEFLATED for entry in entries[1:])


def test_manifest_lists_every_file_with_its_media_type() -> None:
    files = {**FILES, "vedlegg/bilde.png": b"\x89PNG"}
    archive = zipfile.ZipFile(io.BytesIO(build_asice(files)))

    root = ElementTree.fromstring(archive.read("META-INF/manifest.xml"))

    assert root.tag == f"{MANIFEST_NS}manifest"
    listed = {
        entry.get(f"{MANIFEST_NS}full-path"): entry.get(f"{MANIFEST_NS}media-type")
        for entry in root.iter(f"{MANIFEST_NS}file-entry")
    }
    assert listed == {
        "/": "application/vnd.etsi.asic-e+zip",
        "bekymringsmelding.json": "application/json",
        "bekymringsmelding.pdf": "application/pdf",
        "vedlegg/bilde.png": "application/octet-stream",
    }


def test_container_round_trips_and_is_reproducible() -> None:
    container = build_asice(FILES)

    assert read_asice(container) == FILES
    assert build_asice(FILES) == container


@pytest.mark.parametrize(
    "name",
    ["mimetype", "META-INF/manifest.xml", "META-INF/signatures.xml", "../x", "/abs", "a\\b", "a\x00b", ""],
)
def test_building_with_reserved_or_unsafe_names_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot add"):
        build_asice({name: b"x"})


# Reading: everything that is not a valid container is refused -------------------------------------------


def test_valid_hand_made_container_is_read() -> None:
    assert read_asice(make_zip(valid_entries())) == FILES


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_not_a_zip_is_refused(data: bytes) -> None:
    with pytest.raises(AsiceError, match="not a zip archive"):
        read_asice(data)


def test_empty_zip_is_refused() -> None:
    with pytest.raises(AsiceError, match="empty"):
        read_asice(make_zip([]))


@pytest.mark.parametrize(
    "content", [b"application/zip", ASICE_MIMETYPE + b"\n", b"application/vnd.etsi.asic-s+zip", b""]
)
def test_wrong_mimetype_is_refused(content: bytes) -> None:
    entries = valid_entries()
    entries[0] = ("mimetype", content, zipfile.ZIP_STORED)

    with pytest.raises(AsiceError, match=r"'mimetype' is not application/vnd\.etsi\.asic-e\+zip"):
        read_asice(make_zip(entries))


def test_mimetype_not_first_is_refused() -> None:
    entries = valid_entries()
    entries[0], entries[1] = entries[1], entries[0]

    with pytest.raises(AsiceError, match="first entry is not 'mimetype'"):
        read_asice(make_zip(entries))


def test_missing_mimetype_is_refused() -> None:
    with pytest.raises(AsiceError, match="first entry is not 'mimetype'"):
        read_asice(make_zip(valid_entries()[1:]))


def test_compressed_mimetype_is_refused() -> None:
    entries = valid_entries()
    entries[0] = ("mimetype", ASICE_MIMETYPE, zipfile.ZIP_DEFLATED)

    with pytest.raises(AsiceError, match="'mimetype' is compressed"):
        read_asice(make_zip(entries))


def test_mimetype_with_extra_field_is_refused() -> None:
    with pytest.raises(AsiceError, match="'mimetype' has an extra field"):
        read_asice(make_zip(valid_entries(), mimetype_extra=b"\xca\xfe\x00\x00"))


def test_mimetype_preceded_by_other_data_is_refused() -> None:
    """A valid container behind a prefix (zip readers tolerate one): the type is no longer at byte 38."""
    with pytest.raises(AsiceError, match="not at the start"):
        read_asice(b"junk" * 10 + build_asice(FILES))


def test_missing_manifest_is_refused() -> None:
    with pytest.raises(AsiceError, match=r"META-INF/manifest\.xml is missing"):
        read_asice(make_zip(valid_entries()[:-1]))


def test_manifest_that_omits_a_file_is_refused() -> None:
    entries = valid_entries()
    entries[-1] = ("META-INF/manifest.xml", manifest_for("bekymringsmelding.json"), zipfile.ZIP_DEFLATED)

    with pytest.raises(AsiceError, match=r"manifest does not list 'bekymringsmelding\.pdf'"):
        read_asice(make_zip(entries))


def test_manifest_that_lists_a_missing_file_is_refused() -> None:
    entries = valid_entries()
    entries[-1] = ("META-INF/manifest.xml", manifest_for(*FILES, "borte.pdf"), zipfile.ZIP_DEFLATED)

    with pytest.raises(AsiceError, match=r"manifest lists missing files 'borte\.pdf'"):
        read_asice(make_zip(entries))


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (b"<manifest", "not well-formed XML"),
        (b"\xff\xfe\x00garbage", "not well-formed XML"),
        (b'<?xml version="1.0"?><other/>', "not an ODF manifest"),
        (
            b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            b"<manifest:file-entry/></manifest:manifest>",
            "file-entry without full-path",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<lolz>&lol2;</lolz>",
            "declares a DTD",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "file:///etc/passwd"><m/>',
            "declares a DTD",
        ),
    ],
)
def test_unreadable_or_hostile_manifest_is_refused(manifest: bytes, problem: str) -> None:
    entries = valid_entries()
    entries[-1] = ("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)

    with pytest.raises(AsiceError, match=problem):
        read_asice(make_zip(entries))


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/etc/passwd", "a/../../b", "./a", "a//b", "C:/Windows/x", "c:x", "a\\..\\b"],
)
def test_path_traversal_names_are_refused(name: str) -> None:
    entries = valid_entries({**FILES, name: b"evil"})

    with pytest.raises(AsiceError, match="unsafe entry name"):
        read_asice(make_zip(entries))


def test_duplicate_names_are_refused() -> None:
    entries = valid_entries()
    entries.insert(2, ("bekymringsmelding.json", b'{"annen": true}', zipfile.ZIP_DEFLATED))

    with pytest.raises(AsiceError, match="appears twice"):
        read_asice(make_zip(entries))


def test_oversize_container_is_refused() -> None:
    container = build_asice({"stor.pdf": b"x" * 2000})

    assert read_asice(container, max_total_size=4000)
    with pytest.raises(AsiceError, match="more than 1000"):
        read_asice(container, max_total_size=1000)


def test_zip_bomb_is_refused_before_unpacking() -> None:
    bomb = build_asice({"bombe.json": bytes(60 * 1024 * 1024)})

    assert len(bomb) < 200_000
    with pytest.raises(AsiceError, match="unpacks to"):
        read_asice(bomb)


def test_too_many_entries_are_refused() -> None:
    files = {f"fil{index}.json": b"{}" for index in range(1001)}

    with pytest.raises(AsiceError, match="more than 1000"):
        read_asice(build_asice(files))


def test_corrupted_entry_is_refused() -> None:
    entries = valid_entries()
    entries[1] = ("bekymringsmelding.json", FILES["bekymringsmelding.json"], zipfile.ZIP_STORED)
    container = bytearray(make_zip(entries))
    offset = container.index(FILES["bekymringsmelding.json"])
    container[offset] ^= 0xFF  # the CRC no longer matches

    with pytest.raises(AsiceError, match=r"'bekymringsmelding\.json' cannot be read"):
        read_asice(bytes(container))


def test_directory_entries_are_tolerated_and_not_returned() -> None:
    entries = valid_entries()
    entries.insert(-1, ("META-INF/", b"", zipfile.ZIP_STORED))

    assert read_asice(make_zip(entries)) == FILES
