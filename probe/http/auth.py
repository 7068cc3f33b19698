"""HTTP basic authentication of the probe's restricted paths (``/metrics``, the status page's vendor and
municipality views): one check and one refusal, so every restricted path asks the same way."""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


def authorised(request: Request, expected: tuple[str, str]) -> bool:
    """Whether ``request`` carries basic-auth credentials equal to ``expected`` (user, password)."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Constant-time comparisons: the answer time must not tell how much of a guess was right.
    user_ok = secrets.compare_digest(user.encode(), expected[0].encode())
    password_ok = secrets.compare_digest(password.encode(), expected[1].encode())
    return user_ok and password_ok


def challenge() -> Response:
    """The 401 answer that asks for credentials."""
    return PlainTextResponse(
        "authentication required\n",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="kanari"'},
    )
