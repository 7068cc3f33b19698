"""The sandbox as one Starlette application, with a path prefix per service it stands in for:

==============================================  ==================================================
``/maskinporten/token``                         Maskinporten (DESIGN 3.1), :mod:`.tokens`
``/fiks/bekymringsmelding/api/{v1,v2}/...``     KS's producer API (DESIGN 3.2), :mod:`.fiks`
``/altinn/authentication/...``, ``/altinn/correspondence/...``
                                                Altinn 3 (DESIGN 3.3), :mod:`.altinn`
``/vendors/{vendor}/kanari/v1/...``             the vendors' read-back APIs (DESIGN 3.4), :mod:`.readback`
``/admin/faults``                               fault switches, :mod:`.faults`
``/admin/deviations``                           what was accepted against KS's contract, by kind
``/admin/rotate-print-key``                      KS changes its print key (POST)
``/healthz``                                    liveness
==============================================  ==================================================

Mount it in-process with ``httpx.ASGITransport(app=create_app(world))`` or serve it with
:mod:`probe.sandbox.server`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from probe.sandbox.altinn import altinn_routes
from probe.sandbox.fagsystem import DEVIATION_CMS_PKCS1V15
from probe.sandbox.faults import admin_routes
from probe.sandbox.fiks import DEVIATION_PRINT_CMS_PKCS1V15, fiks_routes
from probe.sandbox.readback import readback_routes
from probe.sandbox.tokens import maskinporten_routes
from probe.sandbox.world import World

# Every kind of deviation the world counts, listed (with 0) even before the first one happens.
DEVIATION_KINDS = (DEVIATION_CMS_PKCS1V15, DEVIATION_PRINT_CMS_PKCS1V15)


def create_app(world: World) -> Starlette:
    """The sandbox application over ``world``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def deviations(request: Request) -> Response:
        """``GET /admin/deviations``: how often each deviation from KS's contract was accepted."""
        counts = dict.fromkeys(DEVIATION_KINDS, 0) | dict(world.deviations)
        return JSONResponse(counts)

    async def rotate_print_key(request: Request) -> Response:
        """``POST /admin/rotate-print-key``: KS changes its print key and certificate."""
        world.pki.rotate_print_key()
        return JSONResponse({"serial": str(world.pki.print_certificate.serial_number)})

    async def index(request: Request) -> Response:
        urls = world.urls
        return JSONResponse(
            {
                "maskinporten": urls.maskinporten_token,
                "fiks": urls.fiks,
                "altinn": urls.altinn,
                "readback": {
                    vendor: urls.readback(vendor) for vendor, spec in world.vendors.items() if spec.readback
                },
                "admin": urls.admin,
                "deviations": urls.deviations,
            }
        )

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/", index, methods=["GET"]),
        *maskinporten_routes(world.tokens),
        *fiks_routes(world),
        *altinn_routes(world),
        *readback_routes(world),
        *admin_routes(world.faults),
        Route("/admin/deviations", deviations, methods=["GET"]),
        Route("/admin/rotate-print-key", rotate_print_key, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.world = world
    return app
