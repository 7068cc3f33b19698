"""Faults: switched on and off per municipality through ``/admin/faults``, each mirroring a real failure.

Every fault is kept with its activation interval, also after it is cleared, because the world is lazily
evaluated: a report's next step is worked out when someone looks, and it must see the faults that were
active *at the instant the step was due*, not the ones active when it is looked at. That makes the
outcome the same whether the world is observed every second or once an hour.

Two kinds of faults:

* **Step faults** are evaluated at the instant a step of the world is due (``portal.stall``,
  ``portal.handover_lost``, ``vendor.*`` except ``readback_down`` and ``delete_refused``,
  ``altinn.publish_failed``, ``municipality.never_fetches``, ``municipality.no_confidential_role``).
* **Request faults** are evaluated when an API call arrives (``portal.submit_error``,
  ``altinn.submit_error``, ``vendor.readback_down``, ``vendor.delete_refused``, ``ratelimit``,
  ``malformed``); :class:`FaultGate` applies the two that every municipality-scoped API shares.

``vendor.down`` is both: the vendor's whole system is unavailable for the municipality. Fiks IO keeps
what KS hands over in the fagsystem's queue (the report stays ``SENDT_FAGSYSTEM``, no receipt) and
delivers it when the fagsystem is back, the instant the fault is cleared; the sandbox models no Fiks IO
message lifetime, so nothing queued expires however long the outage. A municipality whose fagsystem
imports its Altinn mail fetches nothing while it lasts (the import is what fetches) and catches up at
its first inbox poll afterwards; a municipality reading Altinn mail in Altinn's own inbox is not
affected. The read-back API answers 503 to every call while it lasts.

``vendor.delete_refused`` is a vendor whose read-back API lists canaries but refuses to remove them:
``DELETE`` answers 403 and the canary stays listed (a vendor that never implemented removal, or denies
Kanari the permission).

``municipality.no_confidential_role`` is both: the municipality's own inbox poll skips confidential mail
from the instant the fetch was due, and the municipality's recipient API calls on confidential mail are
refused while it is active (nobody there, system user included, holds the access package).

The admin API has no authentication: the sandbox is a local test double and must only listen on a
loopback or private address.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Collection, Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import Clock, to_rfc3339
from probe.sandbox.answers import problem

ALL_MUNICIPALITIES = "*"


class FaultName(enum.StrEnum):
    """Every fault the sandbox can simulate, and the real failure each mirrors."""

    # KS answers 503 to POST mottak (an outage of the producer API).
    PORTAL_SUBMIT_ERROR = "portal.submit_error"
    # Reports stay AKSEPTERT while active (KS's queue stalls; resumes when cleared).
    PORTAL_STALL = "portal.stall"
    # SENDT_FAGSYSTEM, then never delivered (the Fiks IO message is lost).
    PORTAL_HANDOVER_LOST = "portal.handover_lost"
    # The fagsystem sends ``mottatt`` (LEVERT) but stores nothing: the 2020-2023 failure.
    VENDOR_RECEIPT_WITHOUT_STORE = "vendor.receipt_without_store"
    # The fagsystem answers ``feilet``: AVVIST_FAGSYSTEM, then KS falls back to SENDT_PRINT.
    VENDOR_REJECT = "vendor.reject"
    # The fagsystem processes (stores, receipts, imports) far later than normal.
    VENDOR_SLOW = "vendor.slow"
    # The vendor's read-back API answers 503 for the municipality.
    VENDOR_READBACK_DOWN = "vendor.readback_down"
    # The fagsystem registers the same report twice.
    VENDOR_DUPLICATE = "vendor.duplicate"
    # The vendor's system is down: it takes nothing from Fiks IO (reports stay SENDT_FAGSYSTEM, queued,
    # and are processed when cleared), its Altinn import fetches nothing, its read-back API answers 503.
    VENDOR_DOWN = "vendor.down"
    # The vendor's read-back API answers 403 to DELETE: the canary stays listed (cleanup never succeeds).
    VENDOR_DELETE_REFUSED = "vendor.delete_refused"
    # Altinn answers 503 to POST correspondence.
    ALTINN_SUBMIT_ERROR = "altinn.submit_error"
    # The correspondence ends as Failed instead of Published.
    ALTINN_PUBLISH_FAILED = "altinn.publish_failed"
    # Published, never fetched: nobody at the municipality looks at its Altinn inbox at all (no one holds
    # any role for the service, or the fagsystem's import has stopped); nothing is fetched.
    MUNICIPALITY_NEVER_FETCHES = "municipality.never_fetches"
    # The police failure: the municipality opens its ordinary Altinn mail, but nobody there holds the
    # access package that shows confidential mail ("Post til virksomheten med taushetsbelagt innhold"), so
    # confidential correspondences are never fetched, read or imported while ordinary ones are.
    MUNICIPALITY_NO_CONFIDENTIAL_ROLE = "municipality.no_confidential_role"
    # 429 with Retry-After on every API call concerning the municipality.
    RATELIMIT = "ratelimit"
    # Broken JSON answers on every API call concerning the municipality (the call itself takes effect).
    MALFORMED = "malformed"


@dataclasses.dataclass(slots=True)
class Fault:
    """One activation of a fault: active from ``since`` until ``cleared_at`` (exclusive), or still."""

    id: str
    name: FaultName
    municipality: str
    since: float
    cleared_at: float | None = None

    def covers(self, name: FaultName, kommunenummer: str, instant: float) -> bool:
        """Whether this activation applies to ``kommunenummer`` at ``instant``."""
        return (
            self.name is name
            and self.municipality in (ALL_MUNICIPALITIES, kommunenummer)
            and self.since <= instant
            and (self.cleared_at is None or instant < self.cleared_at)
        )

    def public(self) -> dict[str, str]:
        """The admin API's view: ``{id, fault, municipality, since}``."""
        return {
            "id": self.id,
            "fault": self.name.value,
            "municipality": self.municipality,
            "since": to_rfc3339(self.since),
        }


class FaultRegistry:
    """Every fault activation, active or cleared, on the world's clock."""

    def __init__(self, clock: Clock, municipalities: Collection[str]) -> None:
        self._clock = clock
        self._municipalities = municipalities
        self._faults: list[Fault] = []
        self._counter = 0

    def add(self, name: FaultName, municipality: str) -> Fault:
        """Switch ``name`` on for ``municipality`` (or ``*``) from now."""
        if municipality != ALL_MUNICIPALITIES and municipality not in self._municipalities:
            raise KeyError(municipality)
        self._counter += 1
        fault = Fault(f"fault-{self._counter}", name, municipality, self._clock.now())
        self._faults.append(fault)
        return fault

    def clear(self, fault_id: str) -> bool:
        """Switch one active fault off now; ``False`` if there is no such active fault."""
        for fault in self._faults:
            if fault.id == fault_id and fault.cleared_at is None:
                fault.cleared_at = self._clock.now()
                return True
        return False

    def clear_all(self) -> int:
        """Switch every active fault off now; returns how many were active."""
        now = self._clock.now()
        active = [fault for fault in self._faults if fault.cleared_at is None]
        for fault in active:
            fault.cleared_at = now
        return len(active)

    def active(self) -> list[Fault]:
        """The faults active now."""
        now = self._clock.now()
        return [fault for fault in self._faults if fault.cleared_at is None and fault.since <= now]

    def history(self) -> list[Fault]:
        """Every activation, cleared ones included."""
        return list(self._faults)

    def active_at(self, name: FaultName, kommunenummer: str, instant: float) -> bool:
        """Whether ``name`` applied to ``kommunenummer`` at ``instant``."""
        return any(fault.covers(name, kommunenummer, instant) for fault in self._faults)

    def active_now(self, name: FaultName, kommunenummers: Iterable[str]) -> bool:
        """Whether ``name`` applies now to any of ``kommunenummers``."""
        now = self._clock.now()
        return any(self.active_at(name, kommunenummer, now) for kommunenummer in kommunenummers)

    def free_from(
        self, name: FaultName | Collection[FaultName], kommunenummer: str, instant: float
    ) -> float | None:
        """The first instant at or after ``instant`` when ``name`` (or none of several names) applies to
        ``kommunenummer``; ``None`` while an activation covering it has not been cleared (the step stays
        blocked). Several names block together: a step waits until every one of them has let go."""
        names = (name,) if isinstance(name, FaultName) else tuple(name)
        moment = instant
        while True:
            covering = [
                fault
                for fault in self._faults
                if any(fault.covers(each, kommunenummer, moment) for each in names)
            ]
            if not covering:
                return moment
            ends = [fault.cleared_at for fault in covering]
            if any(end is None for end in ends):
                return None
            moment = max(end for end in ends if end is not None)


class FaultGate:
    """Applies ``ratelimit`` and ``malformed`` to API calls concerning a set of municipalities."""

    def __init__(self, faults: FaultRegistry, retry_after: float, speed: float) -> None:
        self._faults = faults
        # Retry-After is whole seconds (RFC 9110); scaled with the world, but at least 1.
        self.retry_after = max(1, math.ceil(retry_after / speed))

    def rate_limited(self, kommunenummers: Iterable[str]) -> Response | None:
        """A 429 answer if ``ratelimit`` applies to any of ``kommunenummers`` now, else ``None``."""
        if not self._faults.active_now(FaultName.RATELIMIT, list(kommunenummers)):
            return None
        return problem(429, "rate limit exceeded, retry later", {"Retry-After": str(self.retry_after)})

    def finish(self, kommunenummers: Iterable[str], response: Response) -> Response:
        """``response``, with its JSON body cut in half if ``malformed`` applies now."""
        if not self._faults.active_now(FaultName.MALFORMED, list(kommunenummers)):
            return response
        body = bytes(response.body)
        if not body:
            return response
        # Half a JSON document never parses, whatever the document was.
        broken = body[: max(1, len(body) // 2)] + b"\x00"
        headers = {key: value for key, value in response.headers.items() if key.lower() != "content-length"}
        return Response(broken, status_code=response.status_code, headers=headers)


def admin_routes(faults: FaultRegistry) -> list[BaseRoute]:
    """``/admin/faults``: switch faults on (POST), list the active ones (GET), clear (DELETE)."""

    async def create(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad_request('body must be JSON: {"fault": NAME, "municipality": "4601" or "*"}')
        if not isinstance(body, dict):
            return _bad_request("body must be a JSON object")
        name, municipality = body.get("fault"), body.get("municipality", ALL_MUNICIPALITIES)
        try:
            fault_name = FaultName(str(name))
        except ValueError:
            known = ", ".join(fault.value for fault in FaultName)
            return _bad_request(f"unknown fault {name!r}; known faults: {known}")
        if not isinstance(municipality, str):
            return _bad_request(f"unknown municipality {municipality!r}")
        try:
            fault = faults.add(fault_name, municipality)
        except KeyError:
            return _bad_request(f'unknown municipality {municipality!r}; give a kommunenummer or "*"')
        return JSONResponse({"id": fault.id, **fault.public()}, status_code=201)

    async def listing(request: Request) -> Response:
        return JSONResponse([fault.public() for fault in faults.active()])

    async def clear_all(request: Request) -> Response:
        faults.clear_all()
        return Response(status_code=204)

    async def clear_one(request: Request) -> Response:
        fault_id = request.path_params["fault_id"]
        if not faults.clear(fault_id):
            return JSONResponse(
                {"status": 404, "title": "Not Found", "detail": f"no active fault {fault_id!r}"},
                status_code=404,
            )
        return Response(status_code=204)

    return [
        Route("/admin/faults", create, methods=["POST"]),
        Route("/admin/faults", listing, methods=["GET"]),
        Route("/admin/faults", clear_all, methods=["DELETE"]),
        Route("/admin/faults/{fault_id}", clear_one, methods=["DELETE"]),
    ]


def _bad_request(detail: str) -> Response:
    return JSONResponse({"status": 400, "title": "Bad Request", "detail": detail}, status_code=400)
