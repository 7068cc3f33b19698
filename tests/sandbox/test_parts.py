"""Small pieces: the multipart reader, the canary finder, the KS schemas and their absence."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from probe.sandbox import multipart
from probe.sandbox.fagsystem import find_canary
from probe.sandbox.schemas import KsSchemas
from tests.conftest import REFERENCE

EXAMPLE = REFERENCE / "ks-bekymringsmelding" / "examples" / "offentligBekymringsmeldingV2.json"


def encoded(files: dict[str, Any]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=files)
    return request.read(), request.headers["Content-Type"]


def test_multipart_reads_binary_parts_exactly() -> None:
    binary = bytes(range(256)) * 50 + b"\r\n--not-the-boundary\r\n"
    body, content_type = encoded({"a": ("a.bin", binary, "application/octet-stream"), "b": ("b.zip", b"zip")})
    parts = multipart.parse(body, content_type)
    assert parts["a"].data == binary
    assert parts["a"].filename == "a.bin"
    assert parts["a"].content_type == "application/octet-stream"
    assert parts["b"].data == b"zip"


def test_multipart_errors() -> None:
    with pytest.raises(multipart.MultipartError, match="not supported"):
        multipart.parse(b"{}", "application/json")
    with pytest.raises(multipart.MultipartError, match="boundary"):
        multipart.parse(b"", "multipart/form-data")
    body, content_type = encoded({"a": ("a", b"1")})
    with pytest.raises(multipart.MultipartError, match="terminated"):
        multipart.parse(body[:-10], content_type)
    with pytest.raises(multipart.MultipartError):
        multipart.parse(b"--b\r\nno header block--b--", "multipart/form-data; boundary=b")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_find_canary() -> None:
    payload = b64(json.dumps({"id": "abc-123", "ch": "portal", "kn": "4601", "iat": 1, "kid": "k"}).encode())
    marker = f"KANARI1.{payload}.{b64(b'signature')}"
    text = f"Noe tekst\nKanari-markør: {marker}\nmer tekst"
    found = find_canary(text)
    assert found is not None
    assert (found.canary_id, found.marker) == ("abc-123", marker)
    assert find_canary("no marker here") is None
    assert find_canary(f"KANARI1.{b64(b'not json')}.{b64(b'x')}") is None
    assert find_canary(f"KANARI1.{b64(json.dumps({'id': 5}).encode())}.{b64(b'x')}") is None


def test_ks_schemas_validate_the_example_and_name_errors() -> None:
    schemas = KsSchemas.load(REFERENCE / "ks-bekymringsmelding")
    assert schemas is not None
    example = json.loads(EXAMPLE.read_text())
    assert schemas.errors("v2", example) == []
    del example["melding"]["historie"]
    example["kommunenummer"] = "12"
    errors = schemas.errors("v2", example)
    assert any(error.startswith("kommunenummer:") for error in errors)
    assert any("historie" in error for error in errors)


def test_missing_schemas_warn_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="probe.sandbox"):
        assert KsSchemas.load(tmp_path) is None
    assert len(caplog.records) == 1
    assert "KANARI_SANDBOX_KS_SCHEMA_DIR" in caplog.records[0].getMessage()
