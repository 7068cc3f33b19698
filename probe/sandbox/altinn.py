"""``/altinn/...``: Altinn 3's token exchange and Correspondence API (DESIGN 3.3).

The exchange turns a sandbox Maskinporten token into an Altinn token (``text/plain``). The correspondence
API accepts only Altinn tokens: a bare 401 without a valid one, a bare 403 without the scope the
operation's policy needs (``altinn:correspondence.write`` to send, ``.read`` for the recipient-only
calls, either for the rest).

A send is checked the way Altinn checks it (``Altinn/altinn-correspondence``), and refused in Altinn's
two shapes (:mod:`probe.sandbox.answers`):

1. JSON that does not deserialize into the request model (not JSON, a missing C# ``required`` member, a
   wrong type, an ``idempotentKey`` that is no hyphenated GUID): a validation problem keyed by JSON path.
2. The model's attributes (``InitializeCorrespondencesExt``, ``BaseCorrespondenceExt``,
   ``InitializeCorrespondenceContentExt``): a validation problem keyed by property path. Every length
   limit lands here (title 1-255, summary ≤ 255, body 1-30 000, sendersReference 1-4096, propertyList ≤ 10
   entries with keys ≤ 50 and values ≤ 300, recipients with their mandatory prefixes), so the coded
   errors 1019-1022, 1037 and 1042 are unreachable for JSON, as they are in Altinn.
3. The handler, in ``InitializeCorrespondencesHandler``'s order, with coded errors: 1047 (idempotentKey
   with several recipients), 409/1034 (idempotentKey used before, also for an identical retry, without
   the id), 1036 (unknown resource), 4001 (not the resource's owner), 1060/1061 (``isConfidential``
   against the resource), 1006 (duplicate recipients), 404/1029 (unknown recipients), then the content
   (1002 title not plain text, 1003 body not Markdown, 1023 language) and 1039 (messageSender).

The answer is Altinn's: ``status: ReadyForPublish``, the recipient as a lower-case URN and
``notifications: null``.

Who a caller is follows from its token's organisation and scopes, as in Altinn's authorisation service:
the sender organisation has *sender* access; the recipient organisation (a municipality, via the
delegated ``sandbox-municipality-system`` client and ``consumer_org``) has *recipient* access, except to
confidential mail while ``municipality.no_confidential_role`` is active there; and a token with
``altinn:serviceowner`` of the resource's owner passes every check, recipient access included. A call
*opens* a correspondence when the caller has recipient access and its scope lacks
``altinn:correspondence.write`` (``CallingAsSender``): only then do the overview (debounced 15 s), the
details and the content add ``Fetched`` (the content also ``Read``), and only then is a correspondence
not yet published hidden (404/1001). Kanari sends and polls with a write-scoped token, so its own polling
never marks a canary fetched.

The sender-side search answers by ``sendersReference`` on the resource, or by ``idempotentKey``, a global
lookup that ignores every other filter but still needs access to the named resource.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from probe.clock import to_datetime
from probe.sandbox.answers import altinn_problem, altinn_validation, bare, problem
from probe.sandbox.correspondence import (
    AVAILABLE_FOR_RECIPIENT,
    AVAILABLE_FOR_SENDER,
    Correspondence,
    Status,
)
from probe.sandbox.credentials import KANARI_ORGNR
from probe.sandbox.faults import FaultName
from probe.sandbox.tokens import Principal, TokenRejectedError

if TYPE_CHECKING:
    from probe.sandbox.assignment import Assignment
    from probe.sandbox.world import World

PREFIX = "/altinn"
BASE = PREFIX + "/correspondence/api/v1/correspondence"
WRITE = "altinn:correspondence.write"
READ = "altinn:correspondence.read"
SERVICE_OWNER = "altinn:serviceowner"
ORGANIZATION_URN = "urn:altinn:organization:identifier-no:"
PERSON_URN = "urn:altinn:person:identifier-no:"
RESOURCE_URN = "urn:altinn:resource:"
# The owner (service owner) of every resource of the sandbox: Kanari's organisation.
RESOURCE_OWNER = KANARI_ORGNR
# RecipientListAttribute.cs: the accepted recipient forms (case-sensitive; the prefix of an organisation
# is mandatory, so a bare nine-digit number is refused).
ORG_RECIPIENT = re.compile(r"^(?:0192:|urn:altinn:organization:identifier-no:)\d{9}$")
PERSON_RECIPIENT = re.compile(r"^(?:urn:altinn:person:identifier-no:)?\d{11}$")
EMAIL_RECIPIENT = re.compile(r"^urn:altinn:person:idporten-email:.+$")
LEGACY_RECIPIENT = re.compile(r"^urn:altinn:person:legacy-selfidentified:[^:]+$")
RESOURCE_ID = re.compile(r"^(?:urn:altinn:resource:)?[^:]{1,255}$")
# System.Text.Json reads a Guid only in the hyphenated "D" form.
GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
LANGUAGES = frozenset({"nb", "nn", "en"})
ROLES = {"recipient": "Recipient", "sender": "Sender", "recipientandsender": "RecipientAndSender"}
# Limits of Altinn's request model (BaseCorrespondenceExt, InitializeCorrespondenceContentExt,
# InitializeCorrespondencesExt and their validation attributes).
MAX_RESOURCE_ID, MAX_SENDERS_REFERENCE, MAX_MESSAGE_SENDER = 255, 4096, 255
MAX_TITLE, MAX_SUMMARY, MAX_BODY = 255, 255, 30_000
MAX_PROPERTIES, MAX_PROPERTY_KEY, MAX_PROPERTY_VALUE = 10, 50, 300
MAX_RECIPIENTS = 500
# The search answers at most this many ids (GetCorrespondencesHandler.cs).
MAX_SEARCH_IDS = 1000
# Without a status filter, a recipient's search skips correspondences whose latest status is one of these
# (QueryableExtensions.FilterByStatus); a sender's skips none.
RECIPIENT_SEARCH_HIDES = frozenset({Status.INITIALIZED, Status.READY_FOR_PUBLISH, Status.FAILED})
# The statuses a sender may still purge from (IsPurgeableForSender).
PURGEABLE_BY_SENDER = frozenset({Status.INITIALIZED, Status.READY_FOR_PUBLISH, Status.FAILED})
# Optional request fields kept and echoed in the overview.
EXTRA_FIELDS = (
    "messageSender",
    "requestedPublishTime",
    "dueDateTime",
    "externalReferences",
    "replyOptions",
    "ignoreReservation",
    "isConfirmationNeeded",
    "allowForwarding",
)
BOOLEAN_FIELDS = ("isConfirmationNeeded", "isConfidential", "allowForwarding")
REQUEST_MODEL = "Altinn.Correspondence.API.Models.InitializeCorrespondencesExt"
CORRESPONDENCE_MODEL = "Altinn.Correspondence.API.Models.BaseCorrespondenceExt"
CONTENT_MODEL = "Altinn.Correspondence.API.Models.InitializeCorrespondenceContentExt"
NO_ACCESS = (
    "You must use an Altinn token, DialogToken or log in to IDPorten as someone with access to the "
    "resource and organization in Altinn Authorization"
)
NOT_FOUND = "The requested correspondence was not found"
RECIPIENT_FORMAT = (
    "Recipient should be an organization number in the format "
    "'urn:altinn:organization:identifier-no:organizationnumber' or the format "
    "countrycode:organizationnumber, for instance 0192:910753614, a national identity number, an "
    "idporten email URN in the format 'urn:altinn:person:idporten-email:email', or a legacy "
    "selfidentified URN in the format 'urn:altinn:person:legacy-selfidentified:username'"
)

# The plain-text rule (TextValidation.ValidatePlainText) renders the text as Markdown and compares the
# result with the input; in effect any HTML tag, entity or Markdown syntax that changes the rendering is
# refused. The sandbox recognises the common ones.
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>|<!--")
_HTML_ENTITY = re.compile(r"&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")
_MARKDOWN_SYNTAX = re.compile(
    r"(?m)^\s{0,3}(?:#{1,6}\s|>|[-*_](?:\s*[-*_]){2,}\s*$)"  # heading, quote, rule
    r"|(\*\*|__)(?=\S).+?(?<=\S)\1"  # strong emphasis
    r"|(?<![\w*])\*(?=[^\s*]).*?(?<=[^\s*])\*(?!\w)"  # emphasis with *
    r"|(?<![\w_])_(?=[^\s_]).*?(?<=[^\s_])_(?![\w_])"  # emphasis with _
    r"|!?\[[^\]]*\]\([^)]*\)"  # link or image
    r"|~~(?=\S).+?(?<=\S)~~"  # strikethrough (Markdig's advanced extensions)
)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def rfc3339(instant: float | None) -> str | None:
    """Altinn's DateTimeOffset: RFC 3339 with offset, milliseconds."""
    return None if instant is None else to_datetime(instant).isoformat(timespec="milliseconds")


def utf16_length(text: str) -> int:
    """The length .NET measures: UTF-16 code units (a character outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def is_plain_text(text: str) -> bool:
    """Whether Altinn would take ``text`` as plain text (messageTitle, messageSender; 1002/1039).
    Backticks and backslashes are removed first, as Altinn does."""
    stripped = text.replace("`", "").replace("\\", "")
    return not (
        _HTML_TAG.search(stripped) or _HTML_ENTITY.search(stripped) or _MARKDOWN_SYNTAX.search(stripped)
    )


def is_markdown(text: str) -> bool:
    """Whether Altinn would take ``text`` as Markdown (messageBody; 1003): raw HTML outside code is
    refused, because the Markdown → HTML → Markdown round trip changes it."""
    return not _HTML_TAG.search(_CODE.sub("", text))


def normalise_recipient(recipient: str) -> str:
    """A recipient the way Altinn stores and echoes it: lower case, in URN form
    (``0192:991825827`` → ``urn:altinn:organization:identifier-no:991825827``)."""
    lowered = recipient.lower()
    if lowered.startswith("0192:"):
        return ORGANIZATION_URN + lowered.removeprefix("0192:")
    if PERSON_RECIPIENT.match(lowered) and not lowered.startswith(PERSON_URN):
        return PERSON_URN + lowered
    return lowered


def _orgnr_of_recipient(recipient: str) -> str | None:
    """The organisation number of a normalised organisation recipient."""
    number = recipient.removeprefix(ORGANIZATION_URN)
    return number if recipient.startswith(ORGANIZATION_URN) and number.isdigit() else None


def _is_fodselsnummer(number: str) -> bool:
    """The two mod-11 check digits of a national identity number (RecipientListAttribute's test)."""
    digits = [int(digit) for digit in number]
    for weights, position in (((3, 7, 6, 1, 8, 9, 4, 5, 2), 9), ((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), 10)):
        remainder = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
        check = 0 if remainder == 0 else 11 - remainder
        if check == 10 or check != digits[position]:
            return False
    return True


def _is_guid(value: object) -> bool:
    return isinstance(value, str) and GUID.match(value) is not None and value.strip("0-") != ""


def _conversion_error(path: str, type_name: str) -> dict[str, list[str]]:
    """System.Text.Json's conversion failure, as ModelState holds it (the request itself is then null)."""
    return {
        path: [
            f"The JSON value could not be converted to {type_name}. Path: {path} | LineNumber: 0 | "
            "BytePositionInLine: 0."
        ],
        "request": ["The request field is required."],
    }


def _missing_members(model: str, names: list[str]) -> dict[str, list[str]]:
    return {
        "$": [
            f"JSON deserialization for type '{model}' was missing required properties, including the "
            f"following: {', '.join(names)}"
        ],
        "request": ["The request field is required."],
    }


def deserialization_errors(body: object) -> dict[str, list[str]]:
    """What System.Text.Json refuses before any validation attribute runs: missing ``required`` members
    and values of the wrong JSON type. It stops at the first problem, so only that one is reported."""
    return next(_deserialization_problems(body), {})


def _deserialization_problems(body: object) -> Iterator[dict[str, list[str]]]:
    if not isinstance(body, dict):
        yield _conversion_error("$", REQUEST_MODEL)
        return
    missing = [name for name in ("correspondence", "recipients") if name not in body]
    if missing:
        yield _missing_members(REQUEST_MODEL, missing)
    correspondence, recipients = body.get("correspondence"), body.get("recipients")
    if correspondence is not None and not isinstance(correspondence, dict):
        yield _conversion_error("$.correspondence", CORRESPONDENCE_MODEL)
    if recipients is not None and not isinstance(recipients, list):
        yield _conversion_error("$.recipients", "System.Collections.Generic.List`1[System.String]")
    for index, recipient in enumerate(recipients if isinstance(recipients, list) else []):
        if recipient is not None and not isinstance(recipient, str):
            yield _conversion_error(f"$.recipients[{index}]", "System.String")
    key = body.get("idempotentKey")
    if key is not None and not (isinstance(key, str) and GUID.match(key)):
        yield _conversion_error("$.idempotentKey", "System.Nullable`1[System.Guid]")
    if isinstance(correspondence, dict):
        yield from _correspondence_problems(correspondence)


def _correspondence_problems(correspondence: dict[str, Any]) -> Iterator[dict[str, list[str]]]:
    missing = [name for name in ("resourceId", "sendersReference") if name not in correspondence]
    if missing:
        yield _missing_members(CORRESPONDENCE_MODEL, missing)
    for name in ("resourceId", "sendersReference", "messageSender"):
        if not isinstance(correspondence.get(name), str | None):
            yield _conversion_error(f"$.correspondence.{name}", "System.String")
    for name in BOOLEAN_FIELDS:
        if name in correspondence and not isinstance(correspondence[name], bool):
            yield _conversion_error(f"$.correspondence.{name}", "System.Boolean")
    properties = correspondence.get("propertyList")
    if not isinstance(properties, dict | None):
        yield _conversion_error(
            "$.correspondence.propertyList",
            "System.Collections.Generic.Dictionary`2[System.String,System.String]",
        )
    for name, value in (properties if isinstance(properties, dict) else {}).items():
        if not isinstance(value, str):
            yield _conversion_error(f"$.correspondence.propertyList.{name}", "System.String")
    yield from _content_problems(correspondence.get("content"))


def _content_problems(content: object) -> Iterator[dict[str, list[str]]]:
    if not isinstance(content, dict | None):
        yield _conversion_error("$.correspondence.content", CONTENT_MODEL)
    if isinstance(content, dict):
        missing = [name for name in ("messageTitle", "messageBody") if name not in content]
        if missing:
            yield _missing_members(CONTENT_MODEL, missing)
        for name in ("language", "messageTitle", "messageSummary", "messageBody"):
            if not isinstance(content.get(name), str | None):
                yield _conversion_error(f"$.correspondence.content.{name}", "System.String")


def _string_errors(
    name: str, value: str | None, maximum: int, *, minimum: int = 0, required: bool = False
) -> list[str]:
    """DataAnnotations' ``[Required]`` (null, empty or whitespace) and ``[StringLength]`` messages."""
    errors = []
    if required and (value is None or not value.strip()):
        errors.append(f"The {name} field is required.")
    if value is not None and not minimum <= utf16_length(value) <= maximum:
        errors.append(
            f"The field {name} must be a string with a minimum length of {minimum} and a maximum length "
            f"of {maximum}."
            if minimum
            else f"The field {name} must be a string with a maximum length of {maximum}."
        )
    return errors


def model_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    """The request model's validation attributes, every failing property at once (ModelState)."""
    errors: dict[str, list[str]] = {}

    def add(key: str, messages: list[str]) -> None:
        if messages:
            errors.setdefault(key, []).extend(messages)

    correspondence: dict[str, Any] | None = body["correspondence"]
    if correspondence is None:
        add("Correspondence", ["The Correspondence field is required."])
    else:
        resource = correspondence["resourceId"]
        add(
            "Correspondence.ResourceId",
            _string_errors("ResourceId", resource, MAX_RESOURCE_ID, minimum=1, required=True),
        )
        if resource and not RESOURCE_ID.match(resource):
            add("Correspondence.ResourceId", ["Invalid Resource identifier format"])
        add(
            "Correspondence.SendersReference",
            _string_errors(
                "SendersReference",
                correspondence["sendersReference"],
                MAX_SENDERS_REFERENCE,
                minimum=1,
                required=True,
            ),
        )
        add(
            "Correspondence.MessageSender",
            _string_errors("MessageSender", correspondence.get("messageSender"), MAX_MESSAGE_SENDER),
        )
        add("Correspondence.PropertyList", _property_list_errors(correspondence.get("propertyList")))
        content: dict[str, Any] | None = correspondence.get("content")
        if content is None:
            add("Correspondence.Content", ["The Content field is required."])
        else:
            for key, messages in _content_errors(content).items():
                add(f"Correspondence.Content.{key}", messages)
    add("Recipients", _recipient_errors(body["recipients"]))
    idempotent_key = body.get("idempotentKey")
    if idempotent_key is not None and not _is_guid(idempotent_key):
        add("IdempotentKey", ["The idempotency key must be a valid non-empty GUID"])
    return errors


def _content_errors(content: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    language = content.get("language")
    if language and language.strip():
        if len(language) != 2:
            errors["Language"] = ["The ISO6391 field must be exactly 2 characters long!"]
        elif language == "iv":  # InvariantCulture's TwoLetterISOLanguageName ("iv".Contains(value))
            errors["Language"] = ["The language code must be ISO6391 compliant!"]
    for key, value, maximum, minimum, required in (
        ("MessageTitle", content.get("messageTitle"), MAX_TITLE, 1, True),
        ("MessageSummary", content.get("messageSummary"), MAX_SUMMARY, 0, False),
        ("MessageBody", content.get("messageBody"), MAX_BODY, 1, True),
    ):
        messages = _string_errors(key, value, maximum, minimum=minimum, required=required)
        if messages:
            errors[key] = messages
    return errors


def _property_list_errors(properties: dict[str, str] | None) -> list[str]:
    """PropertyListAttribute: the first problem only, in its words."""
    if properties is None:
        return []
    if len(properties) > MAX_PROPERTIES:
        return ["propertyList can contain at most 10 properties"]
    for name, value in properties.items():
        if utf16_length(name) > MAX_PROPERTY_KEY:
            return [
                f"propertyList Key can not be longer than 50. Length:{utf16_length(name)}, KeyValue:{name}"
            ]
        if utf16_length(value) > MAX_PROPERTY_VALUE:
            return [
                f"propertyList Value can not be longer than 300. Length:{utf16_length(value)}, Value:{value}"
            ]
    return []


def _recipient_errors(recipients: list[str | None] | None) -> list[str]:
    """``[Required]`` and RecipientListAttribute: the first problem only, in its words."""
    first = next(_recipient_problems(recipients), None)
    return [first] if first is not None else []


def _recipient_problems(recipients: list[str | None] | None) -> Iterator[str]:
    if recipients is None:
        yield "The Recipients field is required."
        return
    if not recipients:
        yield "Recipients can not be empty"
    if len(recipients) > MAX_RECIPIENTS:
        yield "Recipients can contain at most 500 recipients"
    for recipient in recipients:
        if recipient is None or not recipient.strip():
            yield "Recipients can not contain null or empty values"
            continue
        person = PERSON_RECIPIENT.match(recipient)
        if not (
            ORG_RECIPIENT.match(recipient)
            or person
            or EMAIL_RECIPIENT.match(recipient)
            or LEGACY_RECIPIENT.match(recipient)
        ):
            yield RECIPIENT_FORMAT
        if person and not _is_fodselsnummer(recipient[-11:]):
            yield "The given Recipient national identity number is not valid"


@dataclasses.dataclass(frozen=True)
class _Send:
    """A send request that passed model validation."""

    correspondence: dict[str, Any]
    resource_id: str  # without the urn:altinn:resource: prefix
    recipients: list[str]  # normalised
    key: str | None  # lower case
    confidential: bool


@dataclasses.dataclass(frozen=True)
class _Access:
    """A correspondence and what the caller may do with it (Altinn's authorisation checks)."""

    correspondence: Correspondence
    recipient: bool  # CheckAccessAsRecipient
    sender: bool  # CheckAccessAsSender
    calling_as_sender: bool  # the token's scope holds altinn:correspondence.write
    party: str  # the caller's organisation (the Fetched debounce is per party)

    @property
    def opens(self) -> bool:
        """Whether this call is a recipient opening the correspondence: only then does Altinn add
        ``Fetched`` (and hide what is not yet published)."""
        return self.recipient and not self.calling_as_sender


class AltinnApi:
    """The request handlers of the Altinn stand-in over one world."""

    def __init__(self, world: World) -> None:
        self.world = world
        settings = world.settings
        # resource id → whether it is the resource for confidential mail.
        self.resources = {settings.altinn_resource_id: True, settings.altinn_ordinary_resource_id: False}

    # --- authentication and access -------------------------------------------------------------------

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

    @staticmethod
    def _service_owner(principal: Principal) -> bool:
        """Altinn's bypass: ``altinn:serviceowner`` for the resource's owner passes every check."""
        return SERVICE_OWNER in principal.scopes and principal.orgnr == RESOURCE_OWNER

    def _role_missing(self, kommunenummer: str, confidential: bool) -> bool:
        """Whether the municipality lacks the access package for this kind of mail now."""
        return confidential and self.world.faults.active_now(
            FaultName.MUNICIPALITY_NO_CONFIDENTIAL_ROLE, [kommunenummer]
        )

    def _access(self, principal: Principal, correspondence: Correspondence) -> _Access:
        recipient = self._service_owner(principal) or (
            principal.orgnr == correspondence.recipient_orgnr
            and not self._role_missing(correspondence.kommunenummer, correspondence.confidential)
        )
        return _Access(
            correspondence,
            recipient=recipient,
            sender=principal.orgnr == correspondence.sender_orgnr,
            calling_as_sender=WRITE in principal.scopes,
            party=principal.orgnr,
        )

    def _resource_access(self, principal: Principal, resource_id: str) -> bool:
        """CheckAccessAsAny on a resource: its owner, or a recipient organisation that may read it."""
        confidential = self.resources.get(resource_id)
        if confidential is None:
            return False  # Altinn finds no service owner for an unknown resource: no access
        if principal.orgnr == RESOURCE_OWNER:
            return True
        municipality = self.world.by_orgnr(principal.orgnr)
        return municipality is not None and not self._role_missing(municipality.kommunenummer, confidential)

    # --- sending -------------------------------------------------------------------------------------

    async def initialize(self, request: Request) -> Response:
        """``POST /correspondence/api/v1/correspondence``."""
        world = self.world
        principal = self._principal(request, WRITE)
        if not isinstance(principal, Principal):
            return principal
        try:
            body: object = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return altinn_validation(
                {
                    "$": ["The input is not valid JSON. Path: $ | LineNumber: 0 | BytePositionInLine: 0."],
                    "request": ["The request field is required."],
                }
            )
        invalid = deserialization_errors(body)
        if not invalid and isinstance(body, dict):
            invalid = model_errors(body)
        if invalid or not isinstance(body, dict):
            return altinn_validation(invalid)
        send = _parsed(body)
        targets = {r: world.by_orgnr(_orgnr_of_recipient(r)) for r in send.recipients}
        municipalities = sorted({a.kommunenummer for a in targets.values() if a is not None})
        refused = self._gate(municipalities) or self._handler_errors(principal, send, targets)
        if refused is not None:
            return refused
        fields = send.correspondence
        created = [
            world.altinn.create(
                resource_id=send.resource_id,
                sender_orgnr=principal.orgnr,
                senders_reference=fields["sendersReference"],
                recipient=recipient,
                assignment=assignment,
                content=_stored_content(fields["content"]),
                property_list=dict(fields.get("propertyList") or {}),
                idempotent_key=send.key,
                confidential=send.confidential,
                extra={field: fields[field] for field in EXTRA_FIELDS if fields.get(field) is not None},
            )
            for recipient, assignment in targets.items()
            if assignment is not None
        ]
        world.submitted()
        answer: dict[str, Any] = {
            "correspondences": [
                {
                    "correspondenceId": c.id,
                    "status": c.current.status.value,
                    "recipient": c.recipient,
                    # InitializeCorrespondencesHandler never sets the notifications of its answer.
                    "notifications": None,
                }
                for c in created
            ],
            "attachmentIds": [],
        }
        return world.gate.finish(municipalities, JSONResponse(answer))

    def _gate(self, municipalities: list[str]) -> Response | None:
        """The request faults of a send, before Altinn looks at it: ``ratelimit`` (429) and
        ``altinn.submit_error`` (503)."""
        limited = self.world.gate.rate_limited(municipalities)
        if limited is not None:
            return limited
        if self.world.faults.active_now(FaultName.ALTINN_SUBMIT_ERROR, municipalities):
            return problem(503, "The service is temporarily unavailable")
        return None

    def _handler_errors(
        self, principal: Principal, send: _Send, targets: dict[str, Assignment | None]
    ) -> Response | None:
        """The handler's first coded refusal, in Altinn's order (InitializeCorrespondencesHandler.Process,
        then InitializeCorrespondenceValidationHelper), or ``None``."""
        return next(self._handler_refusals(principal, send, targets), None)

    def _handler_refusals(
        self, principal: Principal, send: _Send, targets: dict[str, Assignment | None]
    ) -> Iterator[Response]:
        if send.key is not None and len(send.recipients) > 1:
            yield altinn_problem(
                400, 1047, "Idempotency key is not supported for requests with multiple recipients"
            )
        if send.key is not None and self.world.altinn.by_idempotent_key(send.key) is not None:
            yield altinn_problem(409, 1034, "A correspondence with the same idempotent key already exists")
        confidential_resource = self.resources.get(send.resource_id)
        if confidential_resource is None:
            yield altinn_problem(
                400, 1036, "ResourceId must match an existing resource in the resource registry"
            )
        if principal.orgnr != RESOURCE_OWNER:
            yield altinn_problem(401, 4001, NO_ACCESS)
        if confidential_resource and not send.confidential:
            yield altinn_problem(
                400,
                1060,
                "Confidential correspondences (resources with the access package "
                "post-til-virksomheten-med-taushetsbelagt-innhold) cannot be initialized without setting "
                "the 'IsConfidential' flag to true",
            )
        if send.confidential and confidential_resource is False:
            yield altinn_problem(
                400,
                1061,
                "Correspondences cannot be initialized with 'IsConfidential' flag set to true if the "
                "resource is not confidential",
            )
        if len(set(send.recipients)) != len(send.recipients):
            yield altinn_problem(400, 1006, "Recipients must be unique")
        unknown = [recipient for recipient, assignment in targets.items() if assignment is None]
        if unknown:
            yield altinn_problem(
                404, 1029, f"Could not find partyId for the following recipients: {', '.join(unknown)}"
            )
        # 1044 (a confidential recipient organisation without the roles Altinn requires) cannot happen
        # here: every recipient is a municipality, and municipalities hold them.
        yield from _content_refusals(send.correspondence)

    # --- following and reading -----------------------------------------------------------------------

    def _find(self, request: Request, principal: Principal) -> _Access | Response:
        """The correspondence of the path with the caller's access, advanced to now, or the refusal."""
        correspondence_id = request.path_params["correspondence_id"]
        if not GUID.match(correspondence_id):
            return altinn_validation({"correspondenceId": [f"The value '{correspondence_id}' is not valid."]})
        correspondence = self.world.altinn.peek(correspondence_id.lower())
        if correspondence is None:
            return altinn_problem(404, 1001, NOT_FOUND)
        access = self._access(principal, correspondence)
        if not access.recipient and not access.sender:
            return altinn_problem(401, 4001, NO_ACCESS)
        limited = self.world.gate.rate_limited([correspondence.kommunenummer])
        if limited is not None:
            return limited
        self.world.altinn.advance(correspondence)
        return access

    async def overview(self, request: Request) -> Response:
        """``GET .../{id}``: the overview; a recipient opening it adds ``Fetched`` (debounced)."""
        return await self._open(request, content=False)

    async def content(self, request: Request) -> Response:
        """``GET .../{id}/content`` (recipient policy): the message body as text; a recipient opening it
        adds ``Fetched`` (debounced) and, the first time, ``Read``."""
        return await self._open(request, content=True)

    async def _open(self, request: Request, *, content: bool) -> Response:
        principal = self._principal(request, READ) if content else self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        access = self._find(request, principal)
        if not isinstance(access, _Access):
            return access
        correspondence = access.correspondence
        if correspondence.purged:
            return altinn_problem(404, 1001, NOT_FOUND)
        if access.opens:
            if correspondence.current.status not in AVAILABLE_FOR_RECIPIENT:
                return altinn_problem(404, 1001, NOT_FOUND)
            self.world.altinn.record_fetched(correspondence, access.party, debounce=True)
            if content and not correspondence.has(Status.READ):
                self.world.altinn.record(correspondence, Status.READ)
        if content:
            body = str(correspondence.content.get("messageBody", ""))
            return self._finish(correspondence, PlainTextResponse(body, media_type="text/plain"))
        return self._finish(correspondence, JSONResponse(overview(correspondence)))

    async def details(self, request: Request) -> Response:
        """``GET .../{id}/details``: the overview with ``statusHistory``; a recipient opening it adds
        ``Fetched`` (every time: the details have no debounce)."""
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        access = self._find(request, principal)
        if not isinstance(access, _Access):
            return access
        correspondence = access.correspondence
        if access.opens:
            if correspondence.current.status not in AVAILABLE_FOR_RECIPIENT:
                return altinn_problem(404, 1001, NOT_FOUND)
            self.world.altinn.record_fetched(correspondence, access.party, debounce=False)
        history = sorted(correspondence.history, key=lambda event: event.at)
        if not access.recipient:
            history = [event for event in history if event.status in AVAILABLE_FOR_SENDER]
        body = overview(correspondence, with_content=access.recipient or correspondence.published is None)
        body |= {
            "statusHistory": [
                {"status": event.status.value, "statusText": event.text, "statusChanged": rfc3339(event.at)}
                for event in history
            ],
            "notifications": [],
            "systemLabel": "Default",
        }
        return self._finish(correspondence, JSONResponse(body))

    async def mark_as_read(self, request: Request) -> Response:
        """``POST .../{id}/markasread`` (recipient)."""
        correspondence = await self._recipient_target(request)
        if not isinstance(correspondence, Correspondence):
            return correspondence
        if not correspondence.has(Status.FETCHED):
            return altinn_problem(400, 1024, "Correspondence must be fetched before it can be read")
        if correspondence.has(Status.READ):
            return altinn_problem(400, 1040, "Correspondence is already marked as read")
        self.world.altinn.record(correspondence, Status.READ)
        return self._finish(correspondence, JSONResponse(correspondence.id))

    async def confirm(self, request: Request) -> Response:
        """``POST .../{id}/confirm`` (recipient); ``Confirmed`` follows 4 s later, as in Altinn."""
        correspondence = await self._recipient_target(request)
        if not isinstance(correspondence, Correspondence):
            return correspondence
        if not correspondence.has(Status.FETCHED):
            return altinn_problem(400, 1025, "Correspondence must be fetched before it can be confirmed")
        if correspondence.has(Status.CONFIRMED):
            return altinn_problem(400, 1041, "Correspondence has already been confirmed")
        self.world.altinn.confirm_later(correspondence)
        return self._finish(correspondence, JSONResponse(correspondence.id))

    async def _recipient_target(self, request: Request) -> Correspondence | Response:
        """A correspondence a recipient-only call may act on: recipient access, visible, not purged."""
        principal = self._principal(request, READ)
        if not isinstance(principal, Principal):
            return principal
        access = self._find(request, principal)
        if not isinstance(access, _Access):
            return access
        if not access.recipient:
            return altinn_problem(401, 4001, NO_ACCESS)
        if not access.correspondence.visible_to_recipient:
            return altinn_problem(404, 1001, NOT_FOUND)
        return access.correspondence

    async def purge(self, request: Request) -> Response:
        """``DELETE .../{id}/purge``: as sender only before publication, as recipient once visible."""
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        access = self._find(request, principal)
        if not isinstance(access, _Access):
            return access
        status = _purge_status(access)
        if isinstance(status, Response):
            return status
        self.world.altinn.record(access.correspondence, status)
        return self._finish(access.correspondence, JSONResponse(access.correspondence.id))

    # --- searching -----------------------------------------------------------------------------------

    async def listing(self, request: Request) -> Response:
        """``GET /correspondence/api/v1/correspondence?resourceId=&role=`` → ``{"ids": [...]}``, newest
        first; by ``idempotentKey`` a global lookup, else filtered by role, ``status`` and
        ``sendersReference``."""
        world = self.world
        principal = self._any_scope(request)
        if not isinstance(principal, Principal):
            return principal
        query = request.query_params
        resource = query.get("resourceId")
        role = ROLES.get((query.get("role") or "").lower())
        wanted, wanted_error = _status_filter(query.get("status"))
        key = query.get("idempotentKey")
        errors: dict[str, list[str]] = {}
        if not resource:
            errors["resourceId"] = ["The resourceId field is required."]
        if role is None:
            errors["role"] = [
                "The role field is required and must be Recipient, Sender or RecipientAndSender."
            ]
        if wanted_error is not None:
            errors["status"] = [wanted_error]
        if key is not None and not GUID.match(key):
            errors["idempotentKey"] = [f"The value '{key}' is not valid."]
        if errors or resource is None or role is None:
            return altinn_validation(errors)
        if not self._resource_access(principal, resource):
            return altinn_problem(401, 4001, NO_ACCESS)
        if key is not None:
            found = world.altinn.by_idempotent_key(key.lower())
            municipalities = [found.kommunenummer] if found is not None else []
            limited = world.gate.rate_limited(municipalities)
            if limited is not None:
                return limited
            answer = {"ids": [found.id] if found is not None else []}
            return world.gate.finish(municipalities, JSONResponse(answer))
        return self._search(principal, resource, role, wanted, query.get("sendersReference"))

    def _search(
        self, principal: Principal, resource: str, role: str, wanted: Status | None, reference: str | None
    ) -> Response:
        world = self.world
        # Candidates first (nothing advanced), so a rate limit answers before any work is done.
        received: list[Correspondence] = []
        sent: list[Correspondence] = []
        municipality = world.by_orgnr(principal.orgnr)
        if role != "Sender" and municipality is not None:
            received = [
                c for c in world.altinn.addressed_to(municipality.kommunenummer) if c.resource_id == resource
            ]
        if role != "Recipient":
            sent = list(world.altinn.sent_by(principal.orgnr, resource))
        if reference is not None:
            # Filtered before the rate limit looks at them: a search for one canary concerns only its
            # municipality, not every municipality the sender ever wrote to.
            received = [c for c in received if c.senders_reference == reference]
            sent = [c for c in sent if c.senders_reference == reference]
        municipalities = {c.kommunenummer for c in [*received, *sent]}
        if municipality is not None and role != "Sender":
            municipalities.add(municipality.kommunenummer)
        limited = world.gate.rate_limited(municipalities)
        if limited is not None:
            return limited
        for c in [*received, *sent]:
            world.altinn.advance(c)
        found = {c.id: c for c in sent if _matches(c, wanted, frozenset())}
        found |= {c.id: c for c in received if _matches(c, wanted, RECIPIENT_SEARCH_HIDES)}
        matches = sorted(found.values(), key=lambda c: c.created, reverse=True)
        ids = [c.id for c in matches[:MAX_SEARCH_IDS]]
        return world.gate.finish(municipalities, JSONResponse({"ids": ids}))

    def _finish(self, correspondence: Correspondence, response: Response) -> Response:
        return self.world.gate.finish([correspondence.kommunenummer], response)


def _parsed(body: dict[str, Any]) -> _Send:
    """The send request after model validation, with Altinn's normalisation applied."""
    correspondence: dict[str, Any] = body["correspondence"]
    key = body.get("idempotentKey")
    return _Send(
        correspondence=correspondence,
        resource_id=str(correspondence["resourceId"]).removeprefix(RESOURCE_URN),
        recipients=[normalise_recipient(str(recipient)) for recipient in body["recipients"]],
        key=key.lower() if isinstance(key, str) else None,
        confidential=bool(correspondence.get("isConfidential", False)),
    )


def _stored_content(content: dict[str, Any]) -> dict[str, Any]:
    """The content as Altinn stores it: no language means ``nb``, no summary an empty one."""
    language = content.get("language")
    return {
        "language": language if language and language.strip() else "nb",
        "messageTitle": content["messageTitle"],
        "messageSummary": content.get("messageSummary") or "",
        "messageBody": content["messageBody"],
    }


def _content_refusals(correspondence: dict[str, Any]) -> Iterator[Response]:
    """The handler's content checks (InitializeCorrespondenceHelper.ValidateCorrespondenceContent): the
    lengths were settled by the model, what remains is the form of the texts and the language."""
    content = _stored_content(correspondence["content"])
    if not is_plain_text(content["messageTitle"]):
        yield altinn_problem(400, 1002, "Message title must be plain text")
    # 1004 (summary not plain text) is disabled in Altinn ("Temporarily disabled until changed by
    # customer #1331"): a summary's form is never refused.
    if not is_markdown(content["messageBody"]):
        yield altinn_problem(400, 1003, "Message body must be markdown")
    if content["language"].lower() not in LANGUAGES:
        yield altinn_problem(
            400,
            1023,
            "Invalid language chosen. Supported languages is Norsk bokmål (nb), Nynorsk (nn) and "
            "English (en)",
        )
    sender = correspondence.get("messageSender")
    if sender and not is_plain_text(sender):
        yield altinn_problem(400, 1039, "Message sender must be plain text")


def _purge_status(access: _Access) -> Status | Response:
    """The status a purge writes, or its refusal (PurgeCorrespondenceHandler.CheckUserPermissions and
    PurgeCorrespondenceHelper): a sender calling as one purges only what is not yet published, a
    recipient only what it can see (and, when confirmation is needed, has confirmed)."""
    correspondence = access.correspondence
    current = correspondence.current.status
    if correspondence.purged:
        return altinn_problem(400, 1014, "Correspondence has already been purged")
    if access.sender and (access.calling_as_sender or not access.recipient):
        if current not in PURGEABLE_BY_SENDER:
            return altinn_problem(400, 1013, "Sender cannot delete correspondence that has been published")
        return Status.PURGED_BY_ALTINN
    if current not in AVAILABLE_FOR_RECIPIENT:
        return altinn_problem(404, 1001, NOT_FOUND)
    if correspondence.extra.get("isConfirmationNeeded") and not correspondence.has(Status.CONFIRMED):
        return altinn_problem(
            400,
            1026,
            "Cannot archive or delete a correspondence which has not been confirmed when confirmation is "
            "required",
        )
    return Status.PURGED_BY_RECIPIENT


def _status_filter(value: str | None) -> tuple[Status | None, str | None]:
    """The search's ``status`` (an enum name in any case, or its number), or the validation message."""
    if value is None:
        return None, None
    for status in Status:
        if value.lower() == status.value.lower() or value == str(status.rank):
            return status, None
    return None, f"The value '{value}' is not valid."


def _matches(correspondence: Correspondence, wanted: Status | None, hidden: frozenset[Status]) -> bool:
    """QueryableExtensions.FilterByStatus: with a status, any entry of the history (``Fetched`` is kept
    apart by Altinn and never matches); without, the latest entry must not be one the role hides."""
    statuses = [event.status for event in correspondence.history if event.status is not Status.FETCHED]
    if wanted is not None:
        return wanted not in hidden and wanted in statuses
    return statuses[-1] not in hidden


def overview(correspondence: Correspondence, *, with_content: bool = True) -> dict[str, Any]:
    """``CorrespondenceOverviewExt`` of a correspondence. Without ``with_content`` (details for a caller
    without recipient access, once published) the content is the mapper's empty one."""
    current = correspondence.current
    content = correspondence.content
    extra = correspondence.extra
    read = correspondence.first(Status.READ)
    shown: dict[str, Any] = (
        {
            "language": content.get("language"),
            "messageTitle": content.get("messageTitle"),
            "messageSummary": content.get("messageSummary"),
            "messageBody": content.get("messageBody"),
            "attachments": [],
        }
        if with_content
        else dict.fromkeys(("messageTitle", "messageSummary", "messageBody"), "")
        | {"language": "no", "attachments": []}
    )
    return {
        "correspondenceId": correspondence.id,
        "resourceId": correspondence.resource_id,
        "sender": ORGANIZATION_URN + correspondence.sender_orgnr,
        "sendersReference": correspondence.senders_reference,
        "messageSender": extra.get("messageSender") or "",
        "content": shown,
        "created": rfc3339(correspondence.created),
        "recipient": correspondence.recipient,
        "status": current.status.value,
        "statusText": current.text,
        "statusChanged": rfc3339(current.at),
        "altinn2CorrespondenceId": None,
        "published": rfc3339(correspondence.published),
        "read": rfc3339(read.at) if read is not None else None,
        "requestedPublishTime": extra.get("requestedPublishTime") or rfc3339(correspondence.created),
        "dueDateTime": extra.get("dueDateTime"),
        "externalReferences": extra.get("externalReferences") or [],
        "propertyList": correspondence.property_list,
        "replyOptions": extra.get("replyOptions") or [],
        "notification": None,
        "ignoreReservation": bool(extra.get("ignoreReservation", False)),
        "isConfirmationNeeded": bool(extra.get("isConfirmationNeeded", False)),
        "isConfidential": correspondence.confidential,
        "allowForwarding": bool(extra.get("allowForwarding", False)),
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
