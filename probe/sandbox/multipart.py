"""A small ``multipart/form-data`` reader for KS's mottak endpoint.

The request body is read with a byte limit first (KS answers 413 over 5 MB), then split here. Starlette's
own form parser would need the python-multipart package and spools to temporary files; the sandbox only
ever receives two small binary parts, so twenty lines of RFC 7578 are the simpler dependency.
"""

from __future__ import annotations

import dataclasses
from email.message import Message

from probe.sandbox.errors import SandboxError


class MultipartError(SandboxError, ValueError):
    """The body is not well-formed ``multipart/form-data``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Part:
    """One form part."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a ``multipart/form-data`` content type."""
    message = Message()
    message["Content-Type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        raise MultipartError(f"Content-Type '{message.get_content_type()}' is not supported")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("multipart/form-data without a boundary")
    return boundary


def parse(body: bytes, content_type: str) -> dict[str, Part]:
    """The parts of ``body`` by name (the last one wins if a name repeats)."""
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
    # Each part is preceded by CRLF + delimiter; prefixing CRLF makes the first one look the same.
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise MultipartError("multipart body is not terminated by the closing boundary")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        head, separator, data = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("multipart part without a header block")
        headers = Message()
        for line in head.split(b"\r\n"):
            key, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                headers[key.strip()] = value.strip()
        disposition = headers.get("Content-Disposition")
        if disposition is None:
            raise MultipartError("multipart part without Content-Disposition")
        name = headers.get_param("name", header="Content-Disposition")
        if not isinstance(name, str) or not name:
            raise MultipartError("multipart part without a name")
        filename = headers.get_param("filename", header="Content-Disposition")
        parts[name] = Part(
            name=name,
            filename=filename if isinstance(filename, str) else None,
            content_type=headers.get("Content-Type"),
            data=data,
        )
    return parts
