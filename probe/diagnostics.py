"""What an upstream said about a failure, kept as evidence: bounded, single-line, never a secret.

Upstreams explain their refusals in their own shapes: Maskinporten with OAuth's ``error`` and
``error_description`` (``invalid_grant``, ``MP-120: ...``), KS with Spring Boot's ``message``,
``errorCode`` and ``errorId``, Altinn with problem details (``title``, ``detail``, ``errorCode``,
``validationErrors``/``errors``). That text is what an operator needs to act ("Invalid JWT claim aud",
"Mottaker støtter ikke versjon 2", "lacks required roles"), so it goes into the canary's evidence, the
verdict's log line and ``kanari status``; it is never a metric label.

Upstream text is untrusted: it is cut to :data:`MAX_DETAIL` characters, control characters become
spaces, and anything shaped like a credential (a JWT, a ``Bearer`` value, a long base64 run) is replaced
by ``[redacted]`` in case an upstream echoes what it was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

# Long enough for "MP-120: Invalid assertion. Client authentication failed. The JWT is signed with an
# invalid certificate. (trace_id: ...)", short enough that a ledger row and a log line stay small.
MAX_DETAIL = 300
# Upstream error bodies are small; a larger one is not read for diagnostics.
MAX_BODY = 64 * 1024

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+\S+")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{41,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s{2,}")

# The fields each upstream explains itself in, in the order they are worth reading.
_FIELDS = (
    "error",
    "error_description",
    "errorCode",
    "code",
    "title",
    "detail",
    "message",
    "errorId",
)


def clean(text: str) -> str:
    """``text`` as one bounded line with credential-shaped parts redacted."""
    line = _CONTROL.sub(" ", text)
    line = _JWT.sub("[redacted]", line)
    line = _BEARER.sub(r"\1 [redacted]", line)
    line = _LONG_TOKEN.sub("[redacted]", line)
    line = _SPACES.sub(" ", line).strip()
    if len(line) > MAX_DETAIL:
        line = line[: MAX_DETAIL - 1] + "…"
    return line


def from_body(body: bytes) -> str | None:
    """The diagnostic of an error answer's body, or ``None`` when it says nothing usable."""
    if not body or len(body) > MAX_BODY:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", errors="replace")
        return clean(text) or None
    if isinstance(document, dict):
        return _from_object(document)
    if isinstance(document, str):
        return clean(document) or None
    return None


def error_code(body: bytes) -> str | None:
    """The machine-readable code of an error answer: Altinn's numeric ``errorCode`` (``1034``), else a
    problem's ``code`` (``CORR-01034``), else OAuth's ``error`` (``invalid_grant``); ``None`` without one."""
    if not body or len(body) > MAX_BODY:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    for field in ("errorCode", "code", "error"):
        value = document.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return clean(str(value))[:64]
    return None


def join(parts: Iterable[str | None]) -> str | None:
    """Several diagnostics (the send's refusal, a status text) as one, without repeats."""
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return clean("; ".join(seen)) if seen else None


def _from_object(document: dict[str, Any]) -> str | None:
    parts = []
    for field in _FIELDS:
        value = document.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            parts.append(f"{field}={value}")
    parts.extend(_validation_errors(document))
    return clean(" ".join(parts)) if parts else None


def _validation_errors(document: dict[str, Any]) -> list[str]:
    """Altinn's (and ASP.NET's) validation problems: ``errors`` maps a field to its messages."""
    errors = document.get("errors")
    found: list[str] = []
    if isinstance(errors, dict):
        for field, messages in list(errors.items())[:5]:
            if isinstance(messages, list):
                text = " ".join(str(message) for message in messages[:2] if isinstance(message, str))
                found.append(f"{field}: {text}")
    return found
