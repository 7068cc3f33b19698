"""``/altinn/...``: Altinn 3's token exchange and Correspondence API (DESIGN 3.3).

The exchange turns a sandbox Maskinporten token into an Altinn token (``text/plain``). The correspondence
API accepts only Altinn tokens: a bare 401 without a valid one, a bare 403 without the scope the
operation's policy needs (``altinn:correspondence.write`` to send, ``.read`` as recipient). Everything
else answers problem details with the error codes of Altinn's ``Errors.cs``.

Who a caller is follows from the token's organisation: the sender of a correspondence may follow it
(details, sender-side search by ``sendersReference``); the recipient organisation (a municipality, via
the delegated ``sandbox-municipality-system`` client and ``consumer_org``) sees it once published, and its
overview, content, markasread, confirm and purge calls add statuses as Altinn's do.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import to_datetime
from probe.sandbox.answers import altinn_problem, altinn_validation, bare, problem
from probe.sandbox.correspondence import Correspondence, Status
from probe.sandbox.faults import FaultName
from probe.sandbox.tokens import Principal, TokenRejectedError

if TYPE_CHECKING:
    from probe.sandbox.assignment import Assignment
    from probe.sandbox.world import World

PREFIX = "/altinn"
BASE = PREFIX + "/correspondence/api/v1/correspondence"
WRITE = "altinn:correspondence.write"
READ = "altinn:correspondence.read"
RECIPIENT_URN = "urn:altinn:organization:identifier-no:"
ORGNR = re.compile(r"^\d{9}$")
LANGUAGES = frozenset({"nb", "nn", "en"})
ROLES = frozenset({"Recipient", "Sender", "RecipientAndSender"})
# Limits of Altinn's request model (BaseCorrespondenceExt, InitializeCorrespondenceContentExt).
MAX_TITLE, MAX_SUMMARY, MAX_BODY = 255, 255, 10_000
MAX_PROPERTIES, MAX_PROPERTY_KEY, MAX_PROPERTY_VALUE = 10, 50, 300
EXTRA_FIELDS = (
    "messageSender",
    "requestedPublishTime",
    "allowSystemDeleteAfter",
    "dueDateTime",
    "externalReferences",
    "replyOptions",
    "notification",
    "ignoreReservation",
    "isConfirmationNeeded",
    "isReservable",
)


def rfc3339(instant: float | None) -> str | None:
    """Altinn's DateTimeOffset: RFC 3339 with offset, milliseconds."""
    return None if instant is None else to_datetime(instant).isoformat(timespec="milliseconds")


def _orgnr_of_recipient(recipient: str) -> str | None:
    for prefix in (RECIPIENT_URN, "0192:", ""):
        if recipient.startswith(prefix) and ORGNR.match(recipient.removeprefix(prefix)):
            return recipient.removeprefix(prefix)
    return None


def _is_guid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return uuid.UUID(value).int != 0
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class _Send:
    """A checked send request."""

    correspondence: dict[str, Any]
    targets: list[tuple[str, Assignment]]
    key: str | None


class AltinnApi:
    """The request handlers of the Altinn stand-in over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    # --- authentication ------------------------------------------------------------------------------

    async def exchange(self, request: Request) -> Response:
        """``GET /authentication/api/v1/exchange/maskinporten``: Maskinporten token → Altinn token."""
        try:
            token = self.world.tokens.exchange_for_altinn(request.headers.get("Authorization"))
        except TokenRejectedError:
            return bare(401, 'Bearer error="invalid_token"')
        return PlainTextResponse(token)

    def _principal(self, request: Request, scope: str | None) -> Principal | Response:
        tokens = self.world.tokens
        try:
            return tokens.verify(request.headers.get("Authorization"), tokens.altinn_issuer, scope)
        except TokenRejectedError as error:
            return bare(error.status, 'Bearer error="invalid_token"' if error.status == 401 else None)

    def _any_scope(self, request: Request) -> Principal | Response:
        principal = self._principal(request, None)
        if isinstance(principal, Principal) and not principal.scopes & {READ, WRITE}:
            return bare(403)
        return principal

    # --- sending -------------------------------------------------------------------------------------

    async def initialize(self, request: Request) -> Response:
        """``POST /correspondence/api/v1/correspondence``."""
        world = self.world
        principal = self._principal(request, WRITE)
        if not isinstance(principal, Principal):
            return principal
        try:
            body = await request.json()
        except ValueError:
            body = None
        send = self._parse_send(body)
        if not isinstance(send, _Send):
            return send
        municipalities = [assignment.kommunenummer for _, assignment in send.targets]
        limited = world.gate.rate_limited(municipalities)
        if limited is not None:
            return limited
        if world.faults.active_now(FaultName.ALTINN_SUBMIT_ERROR, municipalities):
            return problem(503, "The service is temporarily unavailable")
        if send.key is not None and send.key in world.altinn.idempotent_keys:
            return altinn_problem(409, 1034, "A correspondence with the same idempotent key already exists")
        fields = send.correspondence
        created = [
            world.altinn.create(
                resource_id=fields["resourceId"],
                sender_orgnr=principal.orgnr,
                senders_reference=fields["sendersReference"],
                recipient=recipient,
                assignment=assignment,
                content=dict(fields["content"]),
                property_list=dict(fields.get("propertyList") or {}),
                idempotent_key=send.key,
                extra={field: fields[field] for field in EXTRA_FIELDS if field in fields},
            )
            for recipient, assignment in send.targets
        ]
        world.submitted()
        answer: dict[str, Any] = {
            "correspondences": [
                {
                    "correspondenceId": c.id,
                    "status": c.latest.status.value,
                    "recipient": c.recipient,
                    "notifications": [],
                }
                for c in created
            ],
            "attachmentIds": [],
        }
        return world.gate.finish(municipalities, JSONResponse(answer))

    def _parse_send(self, body: object) -> _Send | Response:
        """The checks Altinn makes of a send request, in its order: the model, the content, the
        resource, the idempotency key, then the recipients' lookup."""
        if not isinstance(body, dict) or not isinstance(body.get("correspondence"), dict):
            return altinn_validation({"Correspondence": ["The Correspondence field is required."]})
        correspondence: dict[str, Any] = body["correspondence"]
        invalid = self._model_errors(correspondence, body.get("recipients")) or self._content_errors(
            correspondence
        )
        if invalid is not None:
            return invalid
        recipients: list[str] = body["recipients"]
        key = body.get("idempotentKey")
        checks = (
            (len(set(recipients)) != len(recipients), 1006, "Recipients must be unique"),
            (
                correspondence["resourceId"] != self.world.settings.altinn_resource_id,
                1036,
                "ResourceId must match an existing resource in the resource registry",
            ),
            (
                key is not None and not _is_guid(key),
                1033,
                "The idempotency key must be a valid non-empty GUID",
            ),
            (
                key is not None and len(recipients) > 1,
                1047,
                "Idempotency key is not supported for requests with multiple recipients",
            ),
        )
        for failed, code, message in checks:
            if failed:
                return altinn_problem(400, code, message)
        targets = []
        unknown = []
        for recipient in recipients:
            orgnr = _orgnr_of_recipient(recipient)
            assignment = self.world.by_orgnr(orgnr)
            if assignment is None:
                unknown.append(recipient)
            else:
                targets.append((recipient, assignment))
        if unknown:
            return altinn_problem(
                404, 1029, f"Could not find partyId for the following recipients: {', '.join(unknown)}"
            )
        return _Send(correspondence, targets, str(key).lower() if key is not None else None)

    @staticmethod
    def _model_errors(correspondence: dict[str, Any], recipients: object) -> Response | None:
        errors: dict[str, list[str]] = {}
        resource = correspondence.get("resourceId")
        if not isinstance(resource, str) or not 1 <= len(resource) <= 255:
            errors["Correspondence.ResourceId"] = ["The ResourceId field is required."]
        reference = correspondence.get("sendersReference")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 4096:
            errors["Correspondence.SendersReference"] = ["The SendersReference field is required."]
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(isinstance(r, str) for r in recipients)
        ):
            errors["Recipients"] = ["The Recipients field is required."]
        properties = correspondence.get("propertyList") or {}
        if not isinstance(properties, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in properties.items()
        ):
            errors["Correspondence.PropertyList"] = ["propertyList Object is not of proper type"]
        elif len(properties) > MAX_PROPERTIES:
            errors["Correspondence.PropertyList"] = ["propertyList can contain at most 10 properties"]
        else:
            for name, value in properties.items():
                if len(name) > MAX_PROPERTY_KEY:
                    errors["Correspondence.PropertyList"] = ["propertyList Key can not be longer than 50"]
                if len(value) > MAX_PROPERTY_VALUE:
                    errors["Correspondence.PropertyList"] = ["propertyList Value can not be longer than 300"]
        return altinn_validation(errors) if errors else None

    @staticmethod
    def _content_errors(correspondence: dict[str, Any]) -> Response | None:
        content = correspondence.get("content")
        if not isinstance(content, dict):
            return altinn_problem(400, 1019, "The Content field must be provided for the correspondence")
        title, body = content.get("messageTitle"), content.get("messageBody")
        summary = content.get("messageSummary")
        checks = (
            (
                content.get("language") not in LANGUAGES,
                1023,
                "Invalid language chosen. Supported languages is Norsk bokmål (nb), Nynorsk (nn) "
                "and English (en)",
            ),
            (not isinstance(title, str) or not title.strip(), 1020, "Message title cannot be empty"),
            (
                isinstance(title, str) and len(title) > MAX_TITLE,
                1037,
                "Message title cannot exceed 255 characters",
            ),
            (not isinstance(body, str) or not body.strip(), 1021, "Message body cannot be empty"),
            (
                isinstance(body, str) and len(body) > MAX_BODY,
                1022,
                "Message body cannot exceed 10000 characters",
            ),
            (
                summary is not None and (not isinstance(summary, str) or len(summary) > MAX_SUMMARY),
                1042,
                "Message summary, if not null, must be between 0 and 255 characters long",
            ),
        )
        for failed, code, message in checks:
            if failed:
                return altinn_problem(400, code, message)
        return None

    # --- following and reading -----------------------------------------------------------------------

    def _lookup(
        self, request: Request, principal: Principal
    ) -> tuple[Correspondence | None, bool, Response | None]:
        """The correspondence of the path, whether the caller is its recipient, or an error answer."""
        correspondence_id = request.path_params["correspondence_id"]
        if not _is_guid(correspondence_id):
            return (
                None,
                False,
                altinn_validation({"correspondenceId": [f"The value '{correspondence_id}' is not valid."]}),
            )
        correspondence = self.world.altinn.peek(correspondence_id.lower())
        if correspondence is None:
            return None, False, altinn_problem(404, 1001, "The requested correspondence was not found")
        is_recipient = correspondence.recipient_orgnr == principal.orgnr
        is_sender = correspondence.sender_orgnr == principal.orgnr
        if not is_recipient and not is_sender:
            return None, False, altinn_problem(404, 1001, "The requested correspondence was not found")
        limited = self.world.gate.rate_limited([correspondence.kommunenummer])
        if limited is not None:
            return None, False, limited
        self.world.altinn.advance(correspondence)
        if is_recipient and not correspondence.visible_to_recipient:
            return None, False, altinn_problem(404, 1001, "The requested correspondence was not found")
        return correspondence, is_recipient, None

    async def overview(self, request: Request) -> Response:
        """``GET .../{id}``: the overview; a recipient's call sets ``Fetched``."""
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        correspondence, is_recipient, error = self._lookup(request, principal)
        if correspondence is None:
            return cast(Response, error)
        if is_recipient:
            self.world.altinn.record(correspondence, Status.FETCHED)
        return self._finish(correspondence, JSONResponse(overview(correspondence)))

    async def details(self, request: Request) -> Response:
        """``GET .../{id}/details``: the overview with ``statusHistory``."""
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        correspondence, _, error = self._lookup(request, principal)
        if correspondence is None:
            return cast(Response, error)
        body = overview(correspondence) | {
            "statusHistory": [
                {"status": event.status.value, "statusText": event.text, "statusChanged": rfc3339(event.at)}
                for event in correspondence.history
            ],
            "notifications": [],
        }
        return self._finish(correspondence, JSONResponse(body))

    async def content(self, request: Request) -> Response:
        """``GET .../{id}/content`` (recipient): the message body; sets ``Read`` (and ``Fetched``)."""
        correspondence = await self._recipient_target(request)
        if not isinstance(correspondence, Correspondence):
            return correspondence
        if not correspondence.has(Status.FETCHED):
            self.world.altinn.record(correspondence, Status.FETCHED)
        if not correspondence.has(Status.READ):
            self.world.altinn.record(correspondence, Status.READ)
        return PlainTextResponse(str(correspondence.content.get("messageBody", "")), media_type="text/plain")

    async def mark_as_read(self, request: Request) -> Response:
        """``POST .../{id}/markasread`` (recipient)."""
        correspondence = await self._recipient_target(request)
        if not isinstance(correspondence, Correspondence):
            return correspondence
        if not correspondence.has(Status.FETCHED):
            return altinn_problem(400, 1024, "Correspondence must be fetched before it can be read")
        if correspondence.latest.status is Status.READ:
            return altinn_problem(400, 1040, "Correspondence is already marked as read")
        self.world.altinn.record(correspondence, Status.READ)
        return self._finish(correspondence, JSONResponse(correspondence.id))

    async def confirm(self, request: Request) -> Response:
        """``POST .../{id}/confirm`` (recipient)."""
        correspondence = await self._recipient_target(request)
        if not isinstance(correspondence, Correspondence):
            return correspondence
        if not correspondence.has(Status.FETCHED):
            return altinn_problem(400, 1025, "Correspondence must be fetched before it can be confirmed")
        if correspondence.has(Status.CONFIRMED):
            return altinn_problem(400, 1041, "Correspondence has already been confirmed")
        self.world.altinn.record(correspondence, Status.CONFIRMED)
        return self._finish(correspondence, JSONResponse(correspondence.id))

    async def purge(self, request: Request) -> Response:
        """``DELETE .../{id}/purge``: by the recipient once published, by the sender before."""
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        correspondence_id = request.path_params["correspondence_id"]
        found = self.world.altinn.peek(correspondence_id.lower()) if _is_guid(correspondence_id) else None
        if (
            found is not None
            and found.purged
            and principal.orgnr in (found.sender_orgnr, found.recipient_orgnr)
        ):
            return altinn_problem(400, 1014, "Correspondence has already been purged")
        correspondence, is_recipient, error = self._lookup(request, principal)
        if correspondence is None:
            return cast(Response, error)
        if is_recipient:
            status = Status.PURGED_BY_RECIPIENT
        elif correspondence.published is not None or correspondence.latest.status is Status.FAILED:
            return altinn_problem(400, 1013, "Sender cannot delete correspondence that has been published")
        else:
            status = Status.PURGED_BY_ALTINN
        self.world.altinn.record(correspondence, status)
        return self._finish(correspondence, JSONResponse(correspondence.id))

    async def _recipient_target(self, request: Request) -> Correspondence | Response:
        principal = self._principal(request, READ)
        if not isinstance(principal, Principal):
            return principal
        correspondence, is_recipient, error = self._lookup(request, principal)
        if correspondence is None:
            return cast(Response, error)
        if not is_recipient:
            return bare(403)
        return correspondence

    async def listing(self, request: Request) -> Response:
        """``GET /correspondence/api/v1/correspondence?resourceId=&role=`` → ``{"ids": [...]}``."""
        world = self.world
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        query = request.query_params
        resource, role = query.get("resourceId"), query.get("role")
        errors: dict[str, list[str]] = {}
        if not resource:
            errors["resourceId"] = ["The resourceId field is required."]
        if role not in ROLES:
            errors["role"] = [
                "The role field is required and must be Recipient, Sender or RecipientAndSender."
            ]
        wanted_status = query.get("status")
        if wanted_status is not None and wanted_status not in {status.value for status in Status}:
            errors["status"] = [f"The value '{wanted_status}' is not valid."]
        if errors:
            return altinn_validation(errors)
        # Candidates first (nothing advanced), so a rate limit answers before any work is done.
        received: list[Correspondence] = []
        sent: list[Correspondence] = []
        recipient_municipality = world.by_orgnr(principal.orgnr)
        if role in ("Recipient", "RecipientAndSender") and recipient_municipality is not None:
            received = [
                c
                for c in world.altinn.addressed_to(recipient_municipality.kommunenummer)
                if c.resource_id == resource
            ]
        if role in ("Sender", "RecipientAndSender"):
            reference, key = query.get("sendersReference"), query.get("idempotentKey")
            sent = [
                c
                for c in world.altinn.sent_by(principal.orgnr, str(resource))
                if (reference is None or c.senders_reference == reference)
                and (key is None or c.idempotent_key == key.lower())
            ]
        municipalities = {c.kommunenummer for c in sent}
        if recipient_municipality is not None and role != "Sender":
            municipalities.add(recipient_municipality.kommunenummer)
        limited = world.gate.rate_limited(municipalities)
        if limited is not None:
            return limited
        for c in [*received, *sent]:
            world.altinn.advance(c)
        found = {c.id: c for c in sent} | {c.id: c for c in received if c.visible_to_recipient}
        matches = sorted(
            (c for c in found.values() if wanted_status is None or c.latest.status.value == wanted_status),
            key=lambda c: c.created,
        )
        return world.gate.finish(municipalities, JSONResponse({"ids": [c.id for c in matches]}))

    def _finish(self, correspondence: Correspondence, response: Response) -> Response:
        return self.world.gate.finish([correspondence.kommunenummer], response)


def overview(correspondence: Correspondence) -> dict[str, Any]:
    """``CorrespondenceOverviewExt`` of a correspondence."""
    latest = correspondence.latest
    content = correspondence.content
    extra = correspondence.extra
    return {
        "correspondenceId": correspondence.id,
        "resourceId": correspondence.resource_id,
        "sender": f"0192:{correspondence.sender_orgnr}",
        "sendersReference": correspondence.senders_reference,
        "messageSender": extra.get("messageSender") or "",
        "content": {
            "language": content.get("language"),
            "messageTitle": content.get("messageTitle"),
            "messageSummary": content.get("messageSummary"),
            "messageBody": content.get("messageBody"),
            "attachments": [],
        },
        "created": rfc3339(correspondence.created),
        "recipient": correspondence.recipient,
        "markedUnread": None,
        "status": latest.status.value,
        "statusText": latest.text,
        "statusChanged": rfc3339(latest.at),
        "published": rfc3339(correspondence.published),
        "requestedPublishTime": extra.get("requestedPublishTime"),
        "allowSystemDeleteAfter": extra.get("allowSystemDeleteAfter"),
        "dueDateTime": extra.get("dueDateTime"),
        "isConfirmationNeeded": bool(extra.get("isConfirmationNeeded", False)),
        "isReservable": extra.get("isReservable"),
        "externalReferences": extra.get("externalReferences") or [],
        "propertyList": correspondence.property_list,
        "replyOptions": extra.get("replyOptions") or [],
        "notifications": [],
    }


def altinn_routes(world: World) -> list[BaseRoute]:
    """The routes of the Altinn stand-in under ``/altinn``."""
    api = AltinnApi(world)
    item = BASE + "/{correspondence_id}"
    return [
        Route(PREFIX + "/authentication/api/v1/exchange/maskinporten", api.exchange, methods=["GET"]),
        Route(BASE, api.initialize, methods=["POST"]),
        Route(BASE, api.listing, methods=["GET"]),
        Route(item, api.overview, methods=["GET"]),
        Route(item + "/details", api.details, methods=["GET"]),
        Route(item + "/content", api.content, methods=["GET"]),
        Route(item + "/markasread", api.mark_as_read, methods=["POST"]),
        Route(item + "/confirm", api.confirm, methods=["POST"]),
        Route(item + "/purge", api.purge, methods=["DELETE"]),
    ]
