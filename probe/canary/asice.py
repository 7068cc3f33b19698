"""ASiC-E containers (ETSI EN 319 162-1), the envelope KS forwards to a fagsystem through Fiks IO.

A container is a zip whose first entry is ``mimetype``, stored uncompressed with no extra field and
holding exactly ``application/vnd.etsi.asic-e+zip`` (so the type can be read at a fixed offset, byte 38),
then the files, then ``META-INF/manifest.xml``, an OASIS ODF manifest naming each file and its media type.
Kanari's containers are unsigned: KS's producer API does not ask the sender to sign them, and the canary
carries its own signature in the marker.

:func:`build_asice` is what the probe sends; :func:`read_asice` is what a receiving system (the sandbox's
simulated fagsystem) does with untrusted input, refusing anything malformed with
:class:`~probe.errors.AsiceError`.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Mapping
from xml.etree import ElementTree
from xml.parsers import expat

from probe.errors import AsiceError

MIMETYPE_NAME = "mimetype"
ASICE_MIMETYPE = b"application/vnd.etsi.asic-e+zip"
MANIFEST_NAME = "META-INF/manifest.xml"
MANIFEST_NAMESPACE = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
MEDIA_TYPES = {".json": "application/json", ".pdf": "application/pdf"}
DEFAULT_MEDIA_TYPE = "application/octet-stream"
MAX_ENTRIES = 1000

# Fixed entry times keep a container byte-for-byte reproducible; 1980-01-01 is the zip format's epoch.
_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
_LOCAL_HEADER = b"PK\x03\x04"
_LOCAL_HEADER_SIZE = 30
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")

# The manifest's elements are written with the customary ``manifest:`` prefix.
ElementTree.register_namespace("manifest", MANIFEST_NAMESPACE)


def build_asice(files: Mapping[str, bytes]) -> bytes:
    """An unsigned ASiC-E container holding ``files`` (name to content), in the order given.

    Raises ``ValueError`` for a name that is reserved (``mimetype``, ``META-INF/...``) or unsafe (absolute,
    ``..``, backslashes): the caller's mistake, not a container to send.
    """
    for name in files:
        problem = _name_problem(name)
        if problem is None and (name == MIMETYPE_NAME or name.startswith("META-INF/")):
            problem = "reserved for the container itself"
        if problem:
            raise ValueError(f"ASiC-E: cannot add {name!r}: {problem}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # ZipInfo has no extra field unless one is added, and ZIP_STORED leaves the bytes as they are.
        archive.writestr(_entry(MIMETYPE_NAME, zipfile.ZIP_STORED), ASICE_MIMETYPE)
        for name, content in files.items():
            archive.writestr(_entry(name, zipfile.ZIP_DEFLATED), content)
        archive.writestr(_entry(MANIFEST_NAME, zipfile.ZIP_DEFLATED), _manifest(files))
    return buffer.getvalue()


def read_asice(data: bytes, max_total_size: int = 50 * 1024 * 1024) -> dict[str, bytes]:
    """The files of the ASiC-E container ``data`` (name to content, without ``mimetype`` and
    ``META-INF/``), after checking it is one.

    Refuses, with :class:`~probe.errors.AsiceError`: anything that is not a zip; ``mimetype`` missing, not
    first, compressed, with an extra field or the wrong content; a missing or unreadable manifest, or one
    that does not list exactly the files present; unsafe or duplicate entry names; more than
    :data:`MAX_ENTRIES` entries; and a total unpacked size over ``max_total_size`` (zip bombs). The sizes are
    the ones the zip declares; unpacking never yields more than declared, and a lie fails the CRC check.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise AsiceError("ASiC-E: not a zip archive") from None
    with archive:
        entries = archive.infolist()
        _check_entries(entries, max_total_size)
        _check_mimetype(data, archive, entries[0])
        contents = {entry.filename: _read(archive, entry) for entry in entries[1:] if not entry.is_dir()}
    if MANIFEST_NAME not in contents:
        raise AsiceError(f"ASiC-E: {MANIFEST_NAME} is missing")
    files = {name: content for name, content in contents.items() if not name.startswith("META-INF/")}
    listed = _manifest_paths(contents[MANIFEST_NAME])
    unlisted = sorted(set(files) - listed)
    if unlisted:
        raise AsiceError(f"ASiC-E: manifest does not list {', '.join(map(repr, unlisted[:5]))}")
    absent = sorted(listed - set(files))
    if absent:
        raise AsiceError(f"ASiC-E: manifest lists missing files {', '.join(map(repr, absent[:5]))}")
    return files


def media_type(name: str) -> str:
    """The media type the manifest gives ``name``, by its extension."""
    for extension, kind in MEDIA_TYPES.items():
        if name.lower().endswith(extension):
            return kind
    return DEFAULT_MEDIA_TYPE


def _entry(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ENTRY_TIME)
    info.compress_type = compression
    info.external_attr = 0o644 << 16  # a plain readable file when unpacked on Unix
    return info


def _manifest(files: Mapping[str, bytes]) -> bytes:
    root = ElementTree.Element(f"{{{MANIFEST_NAMESPACE}}}manifest")
    entries = [("/", ASICE_MIMETYPE.decode("ascii"))] + [(name, media_type(name)) for name in files]
    for path, kind in entries:
        ElementTree.SubElement(
            root,
            f"{{{MANIFEST_NAMESPACE}}}file-entry",
            {f"{{{MANIFEST_NAMESPACE}}}full-path": path, f"{{{MANIFEST_NAMESPACE}}}media-type": kind},
        )
    ElementTree.indent(root)
    document: bytes = ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return document


def _name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe to unpack (path traversal and friends), or ``None``."""
    if not name or "\x00" in name:
        return "empty or contains NUL"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        return "absolute path"
    segments = name.rstrip("/").split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "empty, '.' or '..' path segment"
    return None


def _check_entries(entries: list[zipfile.ZipInfo], max_total_size: int) -> None:
    if not entries:
        raise AsiceError("ASiC-E: the archive is empty")
    if len(entries) > MAX_ENTRIES:
        raise AsiceError(f"ASiC-E: {len(entries)} entries, more than {MAX_ENTRIES}")
    seen: set[str] = set()
    for entry in entries:
        problem = _name_problem(entry.filename)
        if problem:
            raise AsiceError(f"ASiC-E: unsafe entry name {entry.filename[:100]!r}: {problem}")
        if entry.filename in seen:
            raise AsiceError(f"ASiC-E: entry {entry.filename[:100]!r} appears twice")
        seen.add(entry.filename)
    total = sum(entry.file_size for entry in entries)
    if total > max_total_size:
        raise AsiceError(f"ASiC-E: unpacks to {total} bytes, more than {max_total_size}")


def _check_mimetype(data: bytes, archive: zipfile.ZipFile, first: zipfile.ZipInfo) -> None:
    if first.filename != MIMETYPE_NAME:
        raise AsiceError("ASiC-E: the first entry is not 'mimetype'")
    if first.compress_type != zipfile.ZIP_STORED:
        raise AsiceError("ASiC-E: 'mimetype' is compressed; it must be stored")
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
        raise AsiceError("ASiC-E: 'mimetype' is not at the start of the archive")
    if extra_length or first.extra:
        raise AsiceError("ASiC-E: 'mimetype' has an extra field")
    if _read(archive, first) != ASICE_MIMETYPE:
        raise AsiceError(f"ASiC-E: 'mimetype' is not {ASICE_MIMETYPE.decode('ascii')}")


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(entry)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError):
        # Bad CRC, truncated data, unsupported compression or an encrypted entry.
        raise AsiceError(f"ASiC-E: entry {entry.filename[:100]!r} cannot be read") from None


def _manifest_paths(manifest: bytes) -> set[str]:
    """The ``full-path`` of every file entry in the manifest, except the container's own ``/``.

    Parsed with expat and any DTD refused, as defusedxml does: a manifest never needs one, and entity
    definitions are how XML bombs and external-entity reads get in.
    """
    paths: set[str] = set()
    elements: list[str] = []
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse_dtd(*_: object) -> None:
        raise AsiceError("ASiC-E: manifest declares a DTD")

    def start(name: str, attributes: dict[str, str]) -> None:
        if not elements and name != f"{MANIFEST_NAMESPACE} manifest":
            raise AsiceError("ASiC-E: manifest is not an ODF manifest")
        elements.append(name)
        if name == f"{MANIFEST_NAMESPACE} file-entry":
            path = attributes.get(f"{MANIFEST_NAMESPACE} full-path")
            if path is None:
                raise AsiceError("ASiC-E: manifest has a file-entry without full-path")
            paths.add(path)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    try:
        parser.Parse(manifest, True)
    except expat.ExpatError:
        raise AsiceError("ASiC-E: manifest is not well-formed XML") from None
    paths.discard("/")
    return paths
