"""The probe's HTTP surface: ``/metrics``, ``/healthz``, ``/readyz`` and the marker keys.

- ``/healthz``: the process answers (liveness; restart it if not).
- ``/readyz``: the scheduler is running and the ledger takes writes (readiness; do not trust the
  numbers if not); its body names the replica's ``role``: ``leader``, or ``standby`` (ready too, with
  its ledger connected: a standby is ready to take over, and 200 keeps it in its Service).
- ``/.well-known/kanari/keys.json``: the JWKS of the marker signing keys, for vendors who verify
  markers before hiding a canary from case workers.
- ``/status``: the status page (:mod:`probe.http.status`): national status in public, vendor and
  municipality detail behind the same basic auth as ``/metrics``.
- ``/metrics``: Prometheus exposition, optionally behind basic auth; gzip-compressed when the scraper
  accepts it (Prometheus does by default: at 20 000 routes the text is 58 MB, its gzip 3 MB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.exposition import gzip_accepted
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from probe.http.auth import authorised, challenge
from probe.http.status.site import StatusSite
from probe.metrics.exposition import gzip_parts

JWKS_PATH = "/.well-known/kanari/keys.json"


class Exposition(Protocol):
    """What ``/metrics`` serves (:class:`probe.metrics.exposition.Exposition`)."""

    def text(self) -> bytes:
        """The text exposition."""

    async def gzip(self) -> bytes:
        """The text exposition, gzip-compressed."""


class _Rendered:
    """An exposition given only as the function that renders it: its gzip is compressed from the whole
    text on every scrape (in a worker thread), since nothing tells whether the text changed."""

    def __init__(self, render: Callable[[], bytes]) -> None:
        self.text = render

    async def gzip(self) -> bytes:
        return await asyncio.to_thread(gzip_parts, [self.text()])


def create_app(
    exposition: Exposition | Callable[[], bytes],
    ready: Callable[[], Mapping[str, bool]],
    jwks: Mapping[str, Any],
    basic_auth: tuple[str, str] | None = None,
    *,
    started: Callable[[], bool] | None = None,
    role: Callable[[], str] | None = None,
    status: StatusSite | None = None,
) -> Starlette:
    """The probe's ASGI app. ``exposition`` is what ``/metrics`` serves (an :class:`Exposition`, whose
    gzip is cached, or a function rendering the text); ``ready`` returns named readiness conditions, all
    of which must hold. While ``started`` says no (the engine resuming from the ledger), ``/metrics``
    answers 503: half-restored counters would read to Prometheus as resets. ``role`` names the
    replica's role in ``/readyz`` (without it: ``leader``, the only probe on its ledger). ``status`` is
    the status page (:mod:`probe.http.status`), served at ``/status`` when given."""
    source: Exposition = _Rendered(exposition) if callable(exposition) else exposition

    async def metrics(request: Request) -> Response:
        if basic_auth is not None and not authorised(request, basic_auth):
            return challenge()
        if started is not None and not started():
            return PlainTextResponse("starting: resuming from the ledger\n", status_code=503)
        # The body depends on Accept-Encoding, so a cache between scraper and probe must key on it.
        headers = {"Vary": "Accept-Encoding"}
        # prometheus_client's own test of the header, as its exposition servers use it (it ignores
        # q-values: ``gzip;q=0`` would still get gzip, which no scraper sends). Not starlette's
        # GZipMiddleware: it would compress the whole text again on every scrape, at level 9 by default
        # (1.7 s at 20 000 routes), where the exposition's gzip is kept while nothing changed.
        if gzip_accepted(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(await source.gzip(), media_type=CONTENT_TYPE_LATEST, headers=headers)
        return Response(source.text(), media_type=CONTENT_TYPE_LATEST, headers=headers)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        conditions = dict(ready())
        code = 200 if conditions and all(conditions.values()) else 503
        body = {"ready": code == 200, "role": role() if role is not None else "leader"}
        return JSONResponse({**body, "conditions": conditions}, status_code=code)

    async def keys(request: Request) -> Response:
        return JSONResponse(dict(jwks), headers={"Cache-Control": "public, max-age=300"})

    paths = (["/status"] if status is not None else []) + ["/metrics", "/healthz", "/readyz", JWKS_PATH]

    async def index(request: Request) -> Response:
        return PlainTextResponse("Kanari probe\n" + "".join(f"{path}\n" for path in paths))

    routes: list[BaseRoute] = [
        Route("/", index),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route(JWKS_PATH, keys),
    ]
    if status is not None:
        routes += status.http_routes()
    return Starlette(routes=routes)
