"""A vendor's read-back API as a small Starlette app served over loopback, correct by default and broken
on request (:class:`Flaws`), for the conformance check's tests: each flaw is a mistake a real
implementation could make."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from probe.canary.marker import MarkerSigner
from probe.clock import Clock, parse_rfc3339, to_rfc3339
from probe.http.server import HttpServer

SERVED = "4601"
TOKEN = "fake-vendor-token"
SIGNER = MarkerSigner(Ed25519PrivateKey.generate(), "test-key")
PATH = "/kanari/v1/municipalities/{kommunenummer}/canaries"


@dataclasses.dataclass(frozen=True)
class Flaws:
    """What the fake gets wrong (nothing by default)."""

    no_auth: bool = False  # answers whatever the token
    ignores_since: bool = False  # lists every registration
    exclusive_since: bool = False  # lists only what was registered strictly after since
    extra_property: bool = False  # list entries carry a property the schema does not allow
    renamed_list: bool = False  # {"items": [...]} instead of {"canaries": [...]}
    server_time_offset: float = 0.0  # its clock is this far off
    since_optional: bool = False  # a list without since answers 200
    any_municipality: bool = False  # serves every municipality number
    unknown_found: bool = False  # GET/DELETE of an unknown canary answer 200/204
    delete_status: int = 204  # what DELETE of a registered canary answers
    keeps_deleted: bool = False  # DELETE answers 204 but the canary stays listed
    hangs_list: bool = False  # the authorised list with since never answers
    list_padding: int = 0  # bytes of whitespace after the list's JSON
    echoes_token: bool = False  # its 404 answers quote the token it was sent


@dataclasses.dataclass
class Registration:
    canary_id: str
    marker: str
    registered_at: float

    def public(self) -> dict[str, str]:
        return {
            "canaryId": self.canary_id,
            "marker": self.marker,
            "channel": "portal",
            "registeredAt": to_rfc3339(self.registered_at),
        }


class FakeVendor:
    """The read-back API of one vendor serving municipality :data:`SERVED`."""

    def __init__(self, clock: Clock, flaws: Flaws | None = None) -> None:
        self.clock = clock
        self.flaws = flaws or Flaws()
        self.registrations: list[Registration] = []
        self.removed: set[str] = set()
        self.released = asyncio.Event()
        routes = [
            Route(PATH, self.since, methods=["GET"]),
            Route(PATH + "/{canary_id}", self.one, methods=["GET"]),
            Route(PATH + "/{canary_id}", self.delete, methods=["DELETE"]),
        ]
        self.app = Starlette(routes=routes)

    def register(self, canary_id: str, at: float) -> Registration:
        registration = Registration(canary_id, SIGNER.sign(canary_id, "portal", SERVED, int(at)), at)
        self.registrations.append(registration)
        return registration

    def visible(self) -> list[Registration]:
        return [found for found in self.registrations if found.canary_id not in self.removed]

    def _refuse(self, request: Request) -> Response | None:
        authorised = request.headers.get("Authorization") == f"Bearer {TOKEN}"
        if not authorised and not self.flaws.no_auth:
            return _problem(401, "missing or wrong token")
        served = request.path_params["kommunenummer"] == SERVED or self.flaws.any_municipality
        return None if served else _problem(404, "municipality not served here")

    async def since(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        raw = request.query_params.get("since")
        if raw is None and not self.flaws.since_optional:
            return _problem(400, "since is required")
        if self.flaws.hangs_list and raw is not None:
            await self.released.wait()
        since = parse_rfc3339(raw) if raw is not None else float("-inf")
        flaws = self.flaws
        listed = [
            found.public()
            for found in self.visible()
            if flaws.ignores_since
            or (found.registered_at > since if flaws.exclusive_since else found.registered_at >= since)
        ]
        if flaws.extra_property:
            listed = [{**entry, "note": "stored"} for entry in listed]
        key = "items" if flaws.renamed_list else "canaries"
        body = {key: listed, "serverTime": to_rfc3339(self.clock.now() + flaws.server_time_offset)}
        text = json.dumps(body) + " " * flaws.list_padding
        return Response(text, media_type="application/json")

    def _find(self, canary_id: str) -> Registration | None:
        return next((found for found in self.visible() if found.canary_id == canary_id), None)

    def _missing(self, request: Request, canary_id: str) -> Response:
        quoted = (
            f" (asked with {request.headers.get('Authorization', '')[7:]})" if self.flaws.echoes_token else ""
        )
        return _problem(404, f"canary {canary_id} is not registered{quoted}")

    async def one(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        canary_id = request.path_params["canary_id"]
        found = self._find(canary_id)
        if found is None:
            if self.flaws.unknown_found:
                return JSONResponse(
                    Registration(canary_id, SIGNER.sign(canary_id, "portal", SERVED, 0), 0).public()
                )
            return self._missing(request, canary_id)
        return JSONResponse(found.public())

    async def delete(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        canary_id = request.path_params["canary_id"]
        if self._find(canary_id) is None:
            return (
                Response(status_code=204) if self.flaws.unknown_found else self._missing(request, canary_id)
            )
        if not self.flaws.keeps_deleted:
            self.removed.add(canary_id)
        return Response(status_code=self.flaws.delete_status)


def _problem(status: int, detail: str) -> Response:
    body = {"type": "about:blank", "title": "error", "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


@contextlib.asynccontextmanager
async def served(vendor: FakeVendor) -> AsyncIterator[str]:
    """``vendor`` on a free loopback port for the block; yields its base URL."""
    server = HttpServer("127.0.0.1:0")
    await server.start(vendor.app)
    try:
        yield server.url
    finally:
        vendor.released.set()  # a hanging answer ends, so the server stops at once
        await server.close()
