"""``/fiks/bekymringsmelding/...``: KS's bekymringsmelding producer API (DESIGN 3.2), versions v1 and v2.

Every call needs a sandbox Maskinporten token with scope ``ks:fiks`` (401/403), the integration's
``IntegrasjonId`` and ``IntegrasjonPassord`` (401), and, where the path names one, the integration's own
``fraFiksOrgId`` (403). Errors are KS's Spring Boot error objects (:func:`probe.sandbox.answers.ks_error`).

``GET .../kommuner/{kommunenummer}/bydeler`` lists the offices; in v2 each carries ``stottetVersjon``,
the newest report version its fagsystem accepts (:func:`bydel_object`), in v1 it is left out.

``POST .../offentlig`` checks what KS itself can check: the size (413 over 5 MB), both parts present
(400), and that the ``bekymringsmelding`` part decrypts with KS's print key to a PDF (400), with the
sandbox's own CMS reader (:mod:`probe.sandbox.envelope`). A print part whose key was transported with
RSAES-PKCS1-v1_5 is accepted, as KS's BouncyCastle accepts it, and counted as the deviation
:data:`DEVIATION_PRINT_CMS_PKCS1V15`. The ``asice`` part is encrypted for the fagsystem, which KS cannot
read: a bad one is only discovered by the fagsystem, as ``AVVIST_FAGSYSTEM`` → ``SENDT_PRINT`` →
``LEVERT``; so is a report in a version the office does not support.

Times (``tidspunkt``) are KS's Java ``LocalDateTime``: Europe/Oslo local time without zone, to the
millisecond (:func:`probe.clock.to_local_text`).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, cast

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import NORWAY, to_local_text
from probe.sandbox import multipart
from probe.sandbox.answers import ks_error
from probe.sandbox.assignment import Assignment, Bydel, stottet_versjon_value
from probe.sandbox.certs import key_object
from probe.sandbox.envelope import EnvelopeError, KeyTransport, open_envelope
from probe.sandbox.faults import FaultName
from probe.sandbox.schemas import ApiVersion
from probe.sandbox.tokens import TokenRejectedError

if TYPE_CHECKING:
    from probe.sandbox.ks import Report
    from probe.sandbox.world import World

PREFIX = "/fiks/bekymringsmelding"
SCOPE = "ks:fiks"
VERSIONS: tuple[ApiVersion, ...] = ("v1", "v2")
# Room for the multipart framing around the two parts before the 5 MB payload limit applies.
MULTIPART_OVERHEAD = 64 * 1024
# KS's time zone for the local date-times it writes.
KS_ZONE = NORWAY
# A print part KS opens although its key transport is not KS's contract (key of ``World.deviations``).
DEVIATION_PRINT_CMS_PKCS1V15 = "print_cms_pkcs1v15"


def bydel_object(bydel: Bydel, version: ApiVersion) -> dict[str, object]:
    """One office as KS's ``bydeler`` answer lists it in ``version``: v2 adds ``stottetVersjon``."""
    body: dict[str, object] = {
        "bydelsnummer": bydel.bydelsnummer,
        "bydelsnavn": bydel.bydelsnavn,
        "standardMottaker": bydel.standard_mottaker,
    }
    if version != "v1":
        body["stottetVersjon"] = stottet_versjon_value(bydel)
    return body


class FiksApi:
    """The request handlers of KS's producer API over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _error(self, request: Request, status: int, message: str) -> JSONResponse:
        return ks_error(request, self.world.clock, status, message, PREFIX)

    def _refuse(self, request: Request, fiks_org_id: str | None = None) -> Response | None:
        """An error answer if the call is not authenticated and authorised, else ``None``."""
        world = self.world
        if request.path_params.get("version") not in VERSIONS:
            return self._error(request, 404, "No handler found")
        try:
            world.tokens.verify(request.headers.get("Authorization"), world.tokens.issuer, SCOPE)
        except TokenRejectedError as error:
            return self._error(request, error.status, f"Ugyldig Maskinporten-token: {error}")
        integration = request.headers.get("IntegrasjonId", "")
        password = request.headers.get("IntegrasjonPassord", "")
        if integration != world.settings.integrasjon_id or not hmac.compare_digest(
            password.encode(), world.credentials.integrasjon_passord.encode()
        ):
            return self._error(request, 401, "Ugyldig IntegrasjonId eller IntegrasjonPassord")
        if fiks_org_id is not None and fiks_org_id != world.settings.fiks_org_id:
            return self._error(request, 403, f"Integrasjonen har ikke tilgang til organisasjon {fiks_org_id}")
        return None

    def _guard(
        self, request: Request, *, fiks_org_id: str | None = None, office: bool = False
    ) -> Assignment | Response:
        """The municipality of the path, or the error answer: authentication and authorisation first,
        then the rate limit, then whether the municipality (and its office) exists."""
        refused = self._refuse(request, fiks_org_id)
        if refused is not None:
            return refused
        kommunenummer = request.path_params["kommunenummer"]
        limited = self.world.gate.rate_limited([kommunenummer])
        if limited is not None:
            return limited
        assignment = self.world.assignments.get(kommunenummer)
        if assignment is None:
            return self._error(request, 404, f"Fant ikke kommune med kommunenummer {kommunenummer}")
        bydelsnummer = request.path_params.get("bydelsnummer")
        if office and bydelsnummer not in {bydel.bydelsnummer for bydel in assignment.bydeler}:
            return self._error(request, 404, f"Fant ikke bydel {bydelsnummer} i kommune {kommunenummer}")
        return assignment

    async def bydeler(self, request: Request) -> Response:
        """``GET api/{v}/kommuner/{kommunenummer}/bydeler``."""
        assignment = self._guard(request)
        if not isinstance(assignment, Assignment):
            return assignment
        version = cast(ApiVersion, request.path_params["version"])
        body = [bydel_object(bydel, version) for bydel in assignment.bydeler]
        return self.world.gate.finish([assignment.kommunenummer], JSONResponse(body))

    async def krypteringsnokler(self, request: Request) -> Response:
        """``GET api/{v}/mottak/fagsystem/{kommunenummer}/{bydelsnummer}/krypteringsnokler``."""
        assignment = self._guard(request, office=True)
        if not isinstance(assignment, Assignment):
            return assignment
        pki = self.world.pki
        fiks_io = pki.fiks_io_certificate(
            assignment.kommunenummer, request.path_params["bydelsnummer"], assignment.vendor_id
        )
        body = {
            "printOffentligNokkel": key_object(pki.print_certificate),
            "fiksIOOffentligNokkel": key_object(fiks_io),
        }
        return self.world.gate.finish([assignment.kommunenummer], JSONResponse(body))

    async def mottak(self, request: Request) -> Response:
        """``POST api/{v}/mottak/fagsystem/{fraFiksOrgId}/{kommunenummer}/{bydelsnummer}/offentlig``."""
        world = self.world
        assignment = self._guard(request, fiks_org_id=request.path_params["fiks_org_id"], office=True)
        if not isinstance(assignment, Assignment):
            return assignment
        kommunenummer = assignment.kommunenummer
        if world.faults.active_now(FaultName.PORTAL_SUBMIT_ERROR, [kommunenummer]):
            return self._error(request, 503, "Tjenesten er midlertidig utilgjengelig")
        parts = await self._parts(request)
        if not isinstance(parts, dict):
            return parts
        try:
            opened = open_envelope(
                parts["bekymringsmelding"], world.pki.print_certificate, world.pki.print_key
            )
        except EnvelopeError:
            pdf = b""
        else:
            pdf = opened.content
            if opened.key_transport is KeyTransport.PKCS1V15:
                world.deviations[DEVIATION_PRINT_CMS_PKCS1V15] += 1
        if not pdf.startswith(b"%PDF-"):
            return self._error(
                request,
                400,
                "Delen bekymringsmelding kunne ikke dekrypteres med print-sertifikatet til en PDF",
            )
        bydelsnummer = request.path_params["bydelsnummer"]
        office = next(bydel for bydel in assignment.bydeler if bydel.bydelsnummer == bydelsnummer)
        report = world.ks.accept(
            world.settings.fiks_org_id,
            kommunenummer=kommunenummer,
            bydelsnummer=bydelsnummer,
            version=cast(ApiVersion, request.path_params["version"]),
            stottet_versjon=office.stottet_versjon,
            vendor_id=assignment.vendor_id,
            encrypted_asice=parts["asice"],
        )
        world.submitted()
        return world.gate.finish([kommunenummer], JSONResponse({"uuid": report.id}))

    async def _parts(self, request: Request) -> dict[str, bytes] | Response:
        """The two parts of a mottak request, or KS's error answer."""
        limit = self.world.settings.max_payload_bytes
        body = await _read_bounded(request, limit + MULTIPART_OVERHEAD)
        if body is None:
            return self._error(request, 413, "Maximum upload size exceeded")
        try:
            parts = multipart.parse(body, request.headers.get("Content-Type", ""))
        except multipart.MultipartError as error:
            return self._error(request, 415 if "not supported" in str(error) else 400, str(error))
        missing = [name for name in ("bekymringsmelding", "asice") if name not in parts]
        if missing:
            return self._error(request, 400, f"Required part '{missing[0]}' is not present.")
        if sum(len(part.data) for part in parts.values()) > limit:
            return self._error(request, 413, "Maximum upload size exceeded")
        return {name: part.data for name, part in parts.items()}

    async def status(self, request: Request) -> Response:
        """``GET api/{v}/mottak/fagsystem/{fraFiksOrgId}/bekymringsmelding/{id}/status``."""
        world = self.world
        refused = self._refuse(request, request.path_params["fiks_org_id"])
        if refused is not None:
            return refused
        report_id = request.path_params["report_id"]
        report: Report | None = world.ks.peek(report_id)
        if report is None or report.fiks_org_id != request.path_params["fiks_org_id"]:
            return self._error(request, 404, f"Fant ikke bekymringsmelding med id {report_id}")
        limited = world.gate.rate_limited([report.kommunenummer])
        if limited is not None:
            return limited
        world.ks.advance(report)
        body = [
            {
                "bekymringsmeldingId": report.id,
                "tidspunkt": to_local_text(entry.at, KS_ZONE, timespec="milliseconds"),
                "tilstand": entry.tilstand.value,
                "beskrivelse": entry.beskrivelse,
            }
            for entry in report.history
        ]
        return world.gate.finish([report.kommunenummer], JSONResponse(body))


async def _read_bounded(request: Request, limit: int) -> bytes | None:
    """The request body, or ``None`` as soon as it is known to exceed ``limit`` bytes (an incomplete
    body counts as empty: the multipart parser then refuses it)."""
    declared = request.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return None
    except ClientDisconnect:
        return b""
    return bytes(body)


def fiks_routes(world: World) -> list[BaseRoute]:
    """The routes of KS's producer API under ``/fiks/bekymringsmelding``."""
    api = FiksApi(world)
    base = PREFIX + "/api/{version}"
    return [
        Route(base + "/kommuner/{kommunenummer}/bydeler", api.bydeler, methods=["GET"]),
        Route(
            base + "/mottak/fagsystem/{kommunenummer}/{bydelsnummer}/krypteringsnokler",
            api.krypteringsnokler,
            methods=["GET"],
        ),
        Route(
            base + "/mottak/fagsystem/{fiks_org_id}/bekymringsmelding/{report_id}/status",
            api.status,
            methods=["GET"],
        ),
        Route(
            base + "/mottak/fagsystem/{fiks_org_id}/{kommunenummer}/{bydelsnummer}/offentlig",
            api.mottak,
            methods=["POST"],
        ),
    ]
