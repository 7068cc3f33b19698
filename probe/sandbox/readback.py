"""``/vendors/{vendor}/kanari/v1/...``: each simulated vendor's read-back API (DESIGN 3.4), exactly as
``docs/readback-openapi.yaml`` specifies it for real vendors.

Authentication is a bearer token: the vendor's static token (``readback-<vendor>.token`` in the state
dir), or for vendors that chose Maskinporten a sandbox Maskinporten token carrying the vendor's scope.
A municipality the vendor does not serve is 404, as is a vendor without a read-back API.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import parse_rfc3339, to_rfc3339
from probe.sandbox.answers import problem
from probe.sandbox.fagsystem import VendorStore
from probe.sandbox.faults import FaultName
from probe.sandbox.tokens import TokenRejectedError

if TYPE_CHECKING:
    from probe.sandbox.assignment import VendorSpec
    from probe.sandbox.world import World

PREFIX = "/vendors"
BEARER_CHALLENGE = 'Bearer realm="kanari-readback"'
# The faults under which every read-back call answers 503: the API alone, or the vendor's whole system.
READBACK_DOWN = (FaultName.VENDOR_READBACK_DOWN, FaultName.VENDOR_DOWN)


class ReadbackApi:
    """The request handlers of every vendor's read-back API over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _refuse(self, vendor: VendorSpec, authorization: str) -> Response | None:
        """An error answer unless ``authorization`` carries the vendor's static token or a sandbox
        Maskinporten token with the vendor's scope."""
        world = self.world
        if vendor.readback == "static":
            expected = f"Bearer {world.credentials.readback_tokens[vendor.id]}"
            if hmac.compare_digest(authorization.encode(), expected.encode()):
                return None
            return problem(401, "missing or wrong bearer token", {"WWW-Authenticate": BEARER_CHALLENGE})
        try:
            world.tokens.verify(authorization, world.tokens.issuer, vendor.scope)
        except TokenRejectedError as error:
            headers = {"WWW-Authenticate": BEARER_CHALLENGE} if error.status == 401 else None
            return problem(error.status, str(error), headers)
        return None

    def _target(self, request: Request) -> tuple[VendorStore, str] | Response:
        """The vendor's store and the municipality of the path (advanced to now), or an error answer:
        unknown vendor, authentication, municipality not served, rate limit, read-back (or the whole
        vendor) down."""
        world = self.world
        vendor_id, kommunenummer = request.path_params["vendor"], request.path_params["kommunenummer"]
        vendor = world.vendors.get(vendor_id)
        if vendor is None or vendor.readback is None:
            return problem(404, f"no read-back API at vendor {vendor_id!r}")
        refused = self._refuse(vendor, request.headers.get("Authorization", ""))
        if refused is not None:
            return refused
        assignment = world.assignments.get(kommunenummer)
        if assignment is None or assignment.vendor_id != vendor.id:
            return problem(404, f"municipality {kommunenummer} is not served by {vendor.id}")
        limited = world.gate.rate_limited([kommunenummer])
        if limited is not None:
            return limited
        if any(world.faults.active_now(name, [kommunenummer]) for name in READBACK_DOWN):
            return problem(503, "read-back is temporarily unavailable")
        world.advance_municipality(kommunenummer)
        return world.fagsystems.stores[vendor.id], kommunenummer

    async def since(self, request: Request) -> Response:
        """``GET municipalities/{kommunenummer}/canaries?since=``."""
        target = self._target(request)
        if not isinstance(target, tuple):
            return target
        store, kommunenummer = target
        raw = request.query_params.get("since")
        if raw is None:
            return problem(400, "query parameter 'since' (RFC 3339 with offset) is required")
        try:
            since = parse_rfc3339(raw)
        except ValueError:
            return problem(400, f"'since' is not an RFC 3339 timestamp with offset: {raw!r}")
        now = self.world.clock.now()
        body = {
            "canaries": [report.public() for report in store.canaries(kommunenummer, since, now)],
            "serverTime": to_rfc3339(now),
        }
        return self.world.gate.finish([kommunenummer], JSONResponse(body))

    async def one(self, request: Request) -> Response:
        """``GET municipalities/{kommunenummer}/canaries/{canaryId}``."""
        target = self._target(request)
        if not isinstance(target, tuple):
            return target
        store, kommunenummer = target
        canary_id = request.path_params["canary_id"]
        report = store.canary(kommunenummer, canary_id, self.world.clock.now())
        if report is None:
            return problem(404, f"canary {canary_id} is not registered for municipality {kommunenummer}")
        return self.world.gate.finish([kommunenummer], JSONResponse(report.public()))

    async def delete(self, request: Request) -> Response:
        """``DELETE municipalities/{kommunenummer}/canaries/{canaryId}``: remove from view, 204 (403 under
        ``vendor.delete_refused``: the canary stays listed)."""
        target = self._target(request)
        if not isinstance(target, tuple):
            return target
        store, kommunenummer = target
        canary_id = request.path_params["canary_id"]
        if self.world.faults.active_now(FaultName.VENDOR_DELETE_REFUSED, [kommunenummer]):
            return problem(403, f"removing canaries is not permitted for municipality {kommunenummer}")
        if not store.remove(kommunenummer, canary_id, self.world.clock.now()):
            return problem(404, f"canary {canary_id} is not registered for municipality {kommunenummer}")
        return Response(status_code=204)


def readback_routes(world: World) -> list[BaseRoute]:
    """The read-back routes of every vendor under ``/vendors/{vendor}/kanari/v1``."""
    api = ReadbackApi(world)
    base = PREFIX + "/{vendor}/kanari/v1/municipalities/{kommunenummer}/canaries"
    return [
        Route(base, api.since, methods=["GET"]),
        Route(base + "/{canary_id}", api.one, methods=["GET"]),
        Route(base + "/{canary_id}", api.delete, methods=["DELETE"]),
    ]
