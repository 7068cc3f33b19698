"""The probe's HTTP surface: ``/metrics``, ``/healthz``, ``/readyz`` and the marker keys.

- ``/healthz``: the process answers (liveness; restart it if not).
- ``/readyz``: the scheduler is running and the ledger takes writes (readiness; do not trust the
  numbers if not).
- ``/.well-known/kanari/keys.json``: the JWKS of the marker signing keys, for vendors who verify
  markers before hiding a canary from case workers.
- ``/metrics``: Prometheus exposition, optionally behind basic auth.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

JWKS_PATH = "/.well-known/kanari/keys.json"


def create_app(
    exposition: Callable[[], bytes],
    ready: Callable[[], Mapping[str, bool]],
    jwks: Mapping[str, Any],
    basic_auth: tuple[str, str] | None = None,
) -> Starlette:
    """The probe's ASGI app. ``exposition`` renders ``/metrics``; ``ready`` returns named readiness
    conditions, all of which must hold."""

    async def metrics(request: Request) -> Response:
        if basic_auth is not None and not _authorised(request, basic_auth):
            return PlainTextResponse(
                "authentication required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="kanari"'},
            )
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        conditions = dict(ready())
        status = 200 if conditions and all(conditions.values()) else 503
        return JSONResponse({"ready": status == 200, "conditions": conditions}, status_code=status)

    async def keys(request: Request) -> Response:
        return JSONResponse(dict(jwks), headers={"Cache-Control": "public, max-age=300"})

    async def index(request: Request) -> Response:
        return PlainTextResponse(
            "Kanari probe\n/metrics\n/healthz\n/readyz\n" + JWKS_PATH + "\n",
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(JWKS_PATH, keys),
        ]
    )


def _authorised(request: Request, expected: tuple[str, str]) -> bool:
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
