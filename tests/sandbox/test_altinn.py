"""Altinn 3: token exchange, sending with Altinn's limits and both refusal shapes, idempotency, the two
resources, the status history, who sets Fetched, the recipient side, and the simulated municipalities
fetching, reading and importing their mail (``municipality.no_confidential_role`` included)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
import pytest

from probe.clock import parse_rfc3339
from probe.sandbox.delays import inbox_schedule, next_poll
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

CODED_FIELDS = {"type", "title", "status", "detail", "code", "traceId", "statusDescription", "errorCode"}
VALIDATION_FIELDS = {
    "type",
    "title",
    "status",
    "code",
    "traceId",
    "statusDescription",
    "validationErrors",
    "errors",
}
WRITE = "altinn:serviceowner altinn:correspondence.write"
PAST_WORST_FETCH = 2000  # worst normal fetch at speed 1 is 1850 s


def assert_problem(response: httpx.Response, status: int, code: int) -> None:
    """A coded Altinn error (Errors.cs) in ProblemDetailsHelper's shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == CODED_FIELDS
    assert body["errorCode"] == code
    assert body["code"] == f"CORR-{code:05d}"
    assert body["status"] == status
    assert body["title"] == body["statusDescription"] == httpx.codes.get_reason_phrase(status)
    assert body["type"].startswith("https://tools.ietf.org/html/rfc9110#section-")


def assert_validation(response: httpx.Response, key: str, fragment: str = "") -> dict[str, list[str]]:
    """A model validation problem naming ``key``: no errorCode, no detail, STD-00000."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == VALIDATION_FIELDS
    assert (body["code"], body["title"], body["statusDescription"]) == (
        "STD-00000",
        "Bad Request",
        "Bad Request",
    )
    errors: dict[str, list[str]] = body["errors"]
    assert key in errors, errors
    assert any(fragment in message for message in errors[key]), errors[key]
    assert {(item["code"], item["title"], tuple(item["paths"])) for item in body["validationErrors"]} == {
        ("CORR.VLD-00000", message, (name.replace(".", "/"),))
        for name, messages in errors.items()
        for message in messages
    }
    return errors


def correspondence_id(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["correspondences"][0]["correspondenceId"])


async def altinn_headers(kit: Kit, scopes: str = WRITE) -> dict[str, str]:
    """Kanari's organisation with an Altinn token of ``scopes``."""
    response = await kit.http.get(
        f"{kit.manifest.altinn.base_url}/authentication/api/v1/exchange/maskinporten",
        headers={"Authorization": f"Bearer {await kit.token(scopes)}"},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.text}"}


async def recipient_headers(kit: Kit, kommunenummer: str) -> dict[str, str]:
    orgnr = kit.manifest.municipalities[kommunenummer].orgnr
    return {"Authorization": f"Bearer {await kit.altinn_token(recipient_orgnr=orgnr)}"}


def ordinary(kit: Kit) -> str:
    return kit.world.settings.altinn_ordinary_resource_id


def ordinary_body(kit: Kit, kommunenummer: str) -> tuple[dict[str, Any], str]:
    body, canary_id = kit.correspondence_body(kommunenummer)
    body["correspondence"]["resourceId"] = ordinary(kit)
    body["correspondence"]["isConfidential"] = False
    return body, canary_id


async def post(kit: Kit, body: object) -> httpx.Response:
    return await kit.http.post(kit.correspondence_url, json=body, headers=await altinn_headers(kit))


async def search(kit: Kit, headers: dict[str, str] | None = None, /, **params: str) -> httpx.Response:
    query = {"resourceId": kit.manifest.altinn.resource_id, "role": "Sender"} | params
    return await kit.http.get(
        kit.correspondence_url, params=query, headers=headers or await altinn_headers(kit)
    )


async def history(kit: Kit, identifier: str) -> list[dict[str, Any]]:
    response = await kit.details(identifier)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["statusHistory"]
    return entries


def with_content(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body["correspondence"]["content"].update(changes)
    return body


# --- tokens ----------------------------------------------------------------------------------------


async def test_token_exchange(kit: Kit) -> None:
    token = await kit.altinn_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"{kit.base}/altinn/authentication/"
    assert claims["urn:altinn:orgNumber"] == kit.manifest.maskinporten.orgnr
    assert claims["exp"] - claims["iat"] == 1800
    url = f"{kit.manifest.altinn.base_url}/authentication/api/v1/exchange/maskinporten"
    assert (await kit.http.get(url)).status_code == 401
    assert (await kit.http.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_correspondence_api_needs_an_altinn_token_with_the_right_scope(kit: Kit) -> None:
    body, _ = kit.correspondence_body("4601")
    maskinporten_token = await kit.token(WRITE)
    raw = await kit.http.post(
        kit.correspondence_url, json=body, headers={"Authorization": f"Bearer {maskinporten_token}"}
    )
    assert raw.status_code == 401
    assert raw.content == b""
    assert (await kit.http.post(kit.correspondence_url, json=body)).status_code == 401
    reader = await recipient_headers(kit, "4601")
    assert (await kit.http.post(kit.correspondence_url, json=body, headers=reader)).status_code == 403


# --- sending and following -------------------------------------------------------------------------


async def test_send_and_follow_the_status_history(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde", imports_altinn=False)
    sent, canary_id = await kit.send_correspondence(kommunenummer)
    orgnr = kit.manifest.municipalities[kommunenummer].orgnr
    # InitializeCorrespondencesHandler: ReadyForPublish at once (no attachments), notifications null.
    assert sent.json() == {
        "correspondences": [
            {
                "correspondenceId": correspondence_id(sent),
                "status": "ReadyForPublish",
                "recipient": f"urn:altinn:organization:identifier-no:{orgnr}",
                "notifications": None,
            }
        ],
        "attachmentIds": [],
    }
    identifier = correspondence_id(sent)
    details = (await kit.details(identifier)).json()
    assert (details["status"], details["statusText"]) == ("ReadyForPublish", "ReadyForPublish")
    assert details["sendersReference"] == canary_id
    assert details["sender"] == f"urn:altinn:organization:identifier-no:{kit.manifest.maskinporten.orgnr}"
    assert details["isConfidential"] is True
    assert details["propertyList"]["kanariCanaryId"] == canary_id
    assert details["published"] is None
    assert details["systemLabel"] == "Default"
    kit.advance(60)
    assert await kit.statuses(identifier) == ["Initialized", "ReadyForPublish", "Published"]
    period, phase = inbox_schedule(kommunenummer, kit.world.settings.delays, 1.0)
    published = parse_rfc3339((await kit.details(identifier)).json()["published"])
    fetch_at = next_poll(published, period, phase)
    kit.clock.set(fetch_at - 1)
    assert "Fetched" not in await kit.statuses(identifier)
    kit.clock.set(fetch_at + 1)
    details = (await kit.details(identifier)).json()
    # Fetched is in the history, never the top-level status (GetHighestStatus skips it).
    assert [event["status"] for event in details["statusHistory"]][-1] == "Fetched"
    assert details["status"] == "Published"
    kit.clock.set(fetch_at + 3600)
    details = (await kit.details(identifier)).json()
    assert [event["status"] for event in details["statusHistory"]] == [
        "Initialized",
        "ReadyForPublish",
        "Published",
        "Fetched",
        "Read",
    ]
    assert details["status"] == "Read"
    assert details["read"] == details["statusHistory"][4]["statusChanged"]
    fetched = details["statusHistory"][3]["statusChanged"]
    assert dt.datetime.fromisoformat(fetched).utcoffset() == dt.timedelta(0)
    assert parse_rfc3339(fetched) == pytest.approx(fetch_at, abs=0.01)
    assert await kit.registered(kommunenummer) == []  # this municipality does not import Altinn mail


async def test_municipality_importing_altinn_mail_registers_it_with_its_vendor(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "fjordsys", imports_altinn=True)
    sent, canary_id = await kit.send_correspondence(kommunenummer)
    kit.advance(2500)  # worst normal registration via Altinn import: 2150 s
    entries = (await kit.readback(kommunenummer)).json()["canaries"]
    assert [(entry["canaryId"], entry["channel"]) for entry in entries] == [(canary_id, "altinn")]
    assert "Fetched" in await kit.statuses(correspondence_id(sent))


async def test_a_failed_publish_says_why_in_status_text(kit: Kit) -> None:
    await kit.fault("altinn.publish_failed", "4601")
    sent, _ = await kit.send_correspondence("4601")
    identifier = correspondence_id(sent)
    kit.advance(100)
    details = (await kit.details(identifier)).json()
    reason = f"Dialogporten dialog not created for correspondence {identifier}"
    assert (details["status"], details["statusText"]) == ("Failed", reason)
    assert details["statusHistory"][-1] == {
        "status": "Failed",
        "statusText": reason,
        "statusChanged": details["statusChanged"],
    }


# --- idempotency and the sender-side search ---------------------------------------------------------


async def test_a_repeated_idempotent_key_is_409_1034_without_the_id(kit: Kit) -> None:
    body, canary_id = kit.correspondence_body("4601")
    first = await post(kit, body)
    identifier = correspondence_id(first)
    again = await post(kit, body)  # identical, as a retry after a lost answer would be
    assert_problem(again, 409, 1034)
    assert again.json()["detail"] == "A correspondence with the same idempotent key already exists"
    assert identifier not in again.text
    # The key is a GUID, compared whatever its case; and checked before anything else in the request.
    body["idempotentKey"] = body["idempotentKey"].upper()
    body["correspondence"]["resourceId"] = "no-such-resource"
    assert_problem(await post(kit, body), 409, 1034)
    assert (await search(kit, sendersReference=canary_id)).json() == {"ids": [identifier]}
    assert (await search(kit, idempotentKey=canary_id)).json() == {"ids": [identifier]}


async def test_search_by_idempotent_key_is_global(kit: Kit) -> None:
    sent, canary_id = await kit.send_correspondence("4601")
    identifier = correspondence_id(sent)
    # GetCorrespondenceByIdempotentKey ignores role, status, sendersReference and even the resource,
    # but the caller still needs access to the resource it names.
    for params in (
        {"idempotentKey": canary_id.upper()},
        {"idempotentKey": canary_id, "role": "Recipient", "status": "Read", "sendersReference": "other"},
        {"idempotentKey": canary_id, "resourceId": ordinary(kit)},
    ):
        assert (await search(kit, **params)).json() == {"ids": [identifier]}, params
    assert (await search(kit, idempotentKey=str(uuid.uuid4()))).json() == {"ids": []}
    assert_validation(await search(kit, idempotentKey="not-a-guid"), "idempotentKey")
    assert_problem(await search(kit, idempotentKey=canary_id, resourceId="no-such-resource"), 401, 4001)


async def test_idempotent_key_forms(kit: Kit) -> None:
    assert_validation(
        (await kit.send_correspondence("4601", idempotentKey="not-a-guid"))[0], "$.idempotentKey"
    )
    braces = "{" + str(uuid.uuid4()) + "}"  # System.Text.Json reads only the hyphenated form
    assert_validation((await kit.send_correspondence("4601", idempotentKey=braces))[0], "$.idempotentKey")
    empty = "00000000-0000-0000-0000-000000000000"
    assert_validation(
        (await kit.send_correspondence("4601", idempotentKey=empty))[0],
        "IdempotentKey",
        "The idempotency key must be a valid non-empty GUID",
    )
    without, _ = await kit.send_correspondence("4601", idempotentKey=None)
    correspondence_id(without)


async def test_search_filters_and_order(kit: Kit) -> None:
    first, reference = await kit.send_correspondence("4601")
    second, _ = await kit.send_correspondence("0301")
    kit.advance(1)
    third, _ = await kit.send_correspondence("4601")
    ids = [correspondence_id(response) for response in (first, second, third)]
    everything = (await search(kit, role="sender")).json()["ids"]  # the role is case-insensitive
    assert everything[0] == ids[2]  # newest first
    assert sorted(everything) == sorted(ids)
    assert (await search(kit, sendersReference=reference)).json() == {"ids": [ids[0]]}
    assert (await search(kit, status="Published")).json() == {"ids": []}
    kit.advance(100)
    assert set((await search(kit, status="published")).json()["ids"]) == set(ids)
    assert (await search(kit, status="Fetched")).json() == {"ids": []}  # Fetched rows are kept apart
    assert (await search(kit, resourceId=ordinary(kit))).json() == {"ids": []}
    assert_validation(await search(kit, status="Lost"), "status")


# --- the request model's validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "key", "fragment"),
    [
        ("messageTitle", "x" * 256, "Correspondence.Content.MessageTitle", "maximum length of 255"),
        ("messageTitle", "🐦" * 128, "Correspondence.Content.MessageTitle", "maximum length of 255"),
        ("messageTitle", "", "Correspondence.Content.MessageTitle", "The MessageTitle field is required."),
        ("messageTitle", "   ", "Correspondence.Content.MessageTitle", "The MessageTitle field is required."),
        ("messageSummary", "x" * 256, "Correspondence.Content.MessageSummary", "maximum length of 255"),
        ("messageBody", "x" * 30_001, "Correspondence.Content.MessageBody", "maximum length of 30000"),
        ("messageBody", " ", "Correspondence.Content.MessageBody", "The MessageBody field is required."),
        ("language", "nob", "Correspondence.Content.Language", "exactly 2 characters"),
        ("language", "iv", "Correspondence.Content.Language", "ISO6391 compliant"),
    ],
)
async def test_content_limits_are_validation_problems(
    kit: Kit, field: str, value: str, key: str, fragment: str
) -> None:
    body, _ = kit.correspondence_body("4601")
    assert_validation(await post(kit, with_content(body, **{field: value})), key, fragment)


async def test_content_at_its_limits_is_accepted(kit: Kit) -> None:
    body, _ = kit.correspondence_body("4601")
    with_content(body, messageTitle="x" * 255, messageSummary="x" * 255, messageBody="x" * 30_000)
    identifier = correspondence_id(await post(kit, body))
    details = (await kit.details(identifier)).json()
    assert len(details["content"]["messageBody"]) == 30_000
    body, _ = kit.correspondence_body("4601")
    del body["correspondence"]["content"]["messageSummary"]
    body["correspondence"]["content"]["language"] = None
    identifier = correspondence_id(await post(kit, body))
    content = (await kit.details(identifier)).json()["content"]
    assert (content["language"], content["messageSummary"]) == ("nb", "")  # Altinn's defaults


async def test_property_list_limits(kit: Kit) -> None:
    for properties, fragment in (
        ({f"k{i}": "v" for i in range(11)}, "propertyList can contain at most 10 properties"),
        ({"k" * 51: "v"}, "propertyList Key can not be longer than 50. Length:51, KeyValue:" + "k" * 51),
        ({"k": "v" * 301}, "propertyList Value can not be longer than 300. Length:301"),
    ):
        body, _ = kit.correspondence_body("4601")
        body["correspondence"]["propertyList"] = properties
        assert_validation(await post(kit, body), "Correspondence.PropertyList", fragment)
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["propertyList"] = {f"k{i:02d}" + "k" * 47: "v" * 300 for i in range(10)}
    correspondence_id(await post(kit, body))


async def test_every_model_problem_is_reported_at_once(kit: Kit) -> None:
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["sendersReference"] = "r" * 4097
    body["correspondence"]["resourceId"] = "a:b"
    with_content(body, messageTitle="x" * 256, messageBody="")
    errors = assert_validation(
        await post(kit, body), "Correspondence.SendersReference", "maximum length of 4096"
    )
    assert errors["Correspondence.ResourceId"] == ["Invalid Resource identifier format"]
    assert set(errors) == {
        "Correspondence.SendersReference",
        "Correspondence.ResourceId",
        "Correspondence.Content.MessageTitle",
        "Correspondence.Content.MessageBody",
    }


@pytest.mark.parametrize(
    ("recipients", "fragment"),
    [
        (["{orgnr}"], "Recipient should be an organization number in the format"),  # the prefix is needed
        (["urn:altinn:organization:identifier-no:12345678"], "Recipient should be an organization number"),
        ([], "Recipients can not be empty"),
        ([""], "Recipients can not contain null or empty values"),
        (["01010112345"], "The given Recipient national identity number is not valid"),
        (["0192:{orgnr}"] * 501, "Recipients can contain at most 500 recipients"),
        (None, "The Recipients field is required."),
    ],
)
async def test_recipient_forms(kit: Kit, recipients: list[str] | None, fragment: str) -> None:
    orgnr = kit.manifest.municipalities["4601"].orgnr
    body, _ = kit.correspondence_body("4601")
    body["recipients"] = None if recipients is None else [r.format(orgnr=orgnr) for r in recipients]
    assert_validation(await post(kit, body), "Recipients", fragment)


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        (
            lambda body: body.pop("recipients"),
            "$",
            "missing required properties, including the following: recipients",
        ),
        (
            lambda body: body["correspondence"].pop("content"),
            "Correspondence.Content",
            "The Content field is required.",
        ),
        (lambda body: body["correspondence"]["content"].pop("messageBody"), "$", "messageBody"),
        (lambda body: body["correspondence"].pop("sendersReference"), "$", "sendersReference"),
        (
            lambda body: body["correspondence"].update(isConfidential="yes"),
            "$.correspondence.isConfidential",
            "System.Boolean",
        ),
        (
            lambda body: body["correspondence"].update(propertyList={"k": 1}),
            "$.correspondence.propertyList.k",
            "System.String",
        ),
        (lambda body: body.update(recipients="0192:964338531"), "$.recipients", "List"),
        (
            lambda body: body.update(correspondence=None),
            "Correspondence",
            "The Correspondence field is required.",
        ),
    ],
)
async def test_a_body_that_does_not_deserialize_is_a_validation_problem(
    kit: Kit, change: Any, key: str, fragment: str
) -> None:
    body, _ = kit.correspondence_body("4601")
    change(body)
    errors = assert_validation(await post(kit, body), key, fragment)
    if key.startswith("$"):
        assert errors["request"] == ["The request field is required."]


async def test_not_json_is_a_validation_problem(kit: Kit) -> None:
    headers = await altinn_headers(kit)
    for content in (b"{", b"", b"\xff"):
        assert_validation(await kit.http.post(kit.correspondence_url, content=content, headers=headers), "$")
    assert_validation(await post(kit, ["a list"]), "$")


# --- the handler's coded refusals -------------------------------------------------------------------


async def test_recipient_refusals(kit: Kit) -> None:
    unknown, _ = await kit.send_correspondence("4601", recipients=["0192:123456785"])
    assert_problem(unknown, 404, 1029)
    assert unknown.json()["detail"] == (
        "Could not find partyId for the following recipients: urn:altinn:organization:identifier-no:123456785"
    )
    bergen = kit.manifest.municipalities["4601"].orgnr
    oslo = kit.manifest.municipalities["0301"].orgnr
    # Duplicates are found after normalisation to the URN form.
    duplicated, _ = await kit.send_correspondence(
        "4601",
        recipients=[f"0192:{bergen}", f"urn:altinn:organization:identifier-no:{bergen}"],
        idempotentKey=None,
    )
    assert_problem(duplicated, 400, 1006)
    several_with_key, _ = await kit.send_correspondence("4601", recipients=[f"0192:{bergen}", f"0192:{oslo}"])
    assert_problem(several_with_key, 400, 1047)
    several, _ = await kit.send_correspondence(
        "4601",
        recipients=[f"0192:{bergen}", f"urn:altinn:organization:identifier-no:{oslo}"],
        idempotentKey=None,
    )
    assert [c["recipient"] for c in several.json()["correspondences"]] == [
        f"urn:altinn:organization:identifier-no:{bergen}",
        f"urn:altinn:organization:identifier-no:{oslo}",
    ]


async def test_resources_and_the_confidential_flag(kit: Kit) -> None:
    confidential = kit.manifest.altinn.resource_id
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["resourceId"] = "some-other-resource"
    assert_problem(await post(kit, body), 400, 1036)
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["isConfidential"] = False
    refused = await post(kit, body)
    assert_problem(refused, 400, 1060)
    assert "post-til-virksomheten-med-taushetsbelagt-innhold" in refused.json()["detail"]
    body, _ = kit.correspondence_body("4601")
    del body["correspondence"]["isConfidential"]  # false by default
    assert_problem(await post(kit, body), 400, 1060)
    body, _ = ordinary_body(kit, "4601")
    body["correspondence"]["isConfidential"] = True
    assert_problem(await post(kit, body), 400, 1061)
    body, _ = ordinary_body(kit, "4601")
    ordinary_id = correspondence_id(await post(kit, body))
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["resourceId"] = f"urn:altinn:resource:{confidential}"  # the prefix is stripped
    confidential_id = correspondence_id(await post(kit, body))
    assert (await kit.details(confidential_id)).json()["resourceId"] == confidential
    assert (await kit.details(ordinary_id)).json()["isConfidential"] is False
    assert (await search(kit, resourceId=ordinary(kit))).json() == {"ids": [ordinary_id]}
    assert (await search(kit)).json() == {"ids": [confidential_id]}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"messageTitle": "**Viktig** melding"}, 1002),
        ({"messageTitle": "<b>Viktig</b>"}, 1002),
        ({"messageTitle": "# Viktig"}, 1002),
        ({"messageTitle": "Se [her](https://example.test)"}, 1002),
        ({"messageBody": "Tekst med <script>alert(1)</script>"}, 1003),
        ({"language": "sv"}, 1023),
    ],
)
async def test_content_form_refusals(kit: Kit, changes: dict[str, str], code: int) -> None:
    body, _ = kit.correspondence_body("4601")
    assert_problem(await post(kit, with_content(body, **changes)), 400, code)


async def test_content_forms_altinn_accepts(kit: Kit) -> None:
    for changes in (
        {"messageTitle": "Aurskog-Høland - 3 * 4 = 12 (test_melding)"},
        {"messageSummary": "**sammendraget** sjekkes ikke (1004 er slått av)"},
        {"messageBody": "**fet** og `<b>kode</b>`\n\n```\n<html>\n```"},
        {"language": "EN"},
    ):
        body, _ = kit.correspondence_body("4601")
        correspondence_id(await post(kit, with_content(body, **changes)))
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["messageSender"] = "<i>Kanari</i>"
    assert_problem(await post(kit, body), 400, 1039)


# --- who sets Fetched -------------------------------------------------------------------------------


async def test_kanari_polling_never_marks_its_canary_fetched(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "kystdata", imports_altinn=False)
    sent, canary_id = await kit.send_correspondence(kommunenummer)
    identifier = correspondence_id(sent)
    kit.advance(60)  # published; the municipality's own poll is at least 300 s away
    sender = await altinn_headers(kit)
    for _ in range(3):
        assert (
            await kit.http.get(f"{kit.correspondence_url}/{identifier}", headers=sender)
        ).status_code == 200
        assert (await kit.details(identifier)).status_code == 200
        assert (await search(kit, sendersReference=canary_id)).status_code == 200
    assert "Fetched" not in await kit.statuses(identifier)
    # A service-owner token *without* the write scope passes the recipient check (Altinn's bypass for
    # the resource's owner) and does add Fetched: which is why Kanari polls with the write scope.
    reader = await altinn_headers(kit, "altinn:serviceowner altinn:correspondence.read")
    assert (await kit.http.get(f"{kit.correspondence_url}/{identifier}", headers=reader)).status_code == 200
    assert (await kit.statuses(identifier))[-1] == "Fetched"


async def test_a_recipient_opening_sets_fetched_and_listing_does_not(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "kystdata", imports_altinn=False)
    sent, _ = await kit.send_correspondence(kommunenummer)
    identifier = correspondence_id(sent)
    recipient = await recipient_headers(kit, kommunenummer)
    item = f"{kit.correspondence_url}/{identifier}"
    # Not yet published: the recipient sees nothing, and nothing is recorded.
    assert_problem(await kit.http.get(item, headers=recipient), 404, 1001)
    assert_problem(await kit.http.get(f"{item}/details", headers=recipient), 404, 1001)
    listing = {"role": "Recipient"}
    assert (await search(kit, recipient, **listing)).json() == {"ids": []}
    kit.advance(60)
    assert (await search(kit, recipient, **listing)).json() == {"ids": [identifier]}
    assert "Fetched" not in await kit.statuses(identifier)  # listing is not opening
    # The overview adds Fetched at most once per 15 s per party; the details every time.
    assert (await kit.http.get(item, headers=recipient)).status_code == 200
    kit.advance(10)
    assert (await kit.http.get(item, headers=recipient)).status_code == 200
    assert (await kit.statuses(identifier)).count("Fetched") == 1
    kit.advance(6)
    assert (await kit.http.get(item, headers=recipient)).status_code == 200
    assert (await kit.statuses(identifier)).count("Fetched") == 2
    details = await kit.http.get(f"{item}/details", headers=recipient)
    assert details.json()["status"] == "Published"
    assert (await kit.http.get(f"{item}/details", headers=recipient)).status_code == 200
    assert (await kit.statuses(identifier)).count("Fetched") == 4
    # The content adds Read the first time (Arbeidsflate opening a message sets Fetched and Read).
    content = await kit.http.get(f"{item}/content", headers=recipient)
    assert content.headers["content-type"].startswith("text/plain")
    assert "KANARI1." in content.text
    statuses = await kit.statuses(identifier)
    assert statuses[-2:] == ["Fetched", "Read"]
    await kit.http.get(f"{item}/content", headers=recipient)
    assert (await kit.statuses(identifier)).count("Read") == 1


async def test_recipient_side(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "kystdata", imports_altinn=False)
    sent, _ = await kit.send_correspondence(kommunenummer)
    identifier = correspondence_id(sent)
    item = f"{kit.correspondence_url}/{identifier}"
    headers = await recipient_headers(kit, kommunenummer)
    kit.advance(60)  # published, not yet fetched by the municipality's own poll (at least 300 s away)
    other = await recipient_headers(kit, "0301" if kommunenummer != "0301" else "4601")
    assert (await search(kit, other, role="Recipient")).json() == {"ids": []}
    assert_problem(await kit.http.get(item, headers=other), 401, 4001)
    assert_problem(await kit.http.post(f"{item}/markasread", headers=other), 401, 4001)
    assert_problem(await kit.http.post(f"{item}/markasread", headers=headers), 400, 1024)
    assert_problem(await kit.http.post(f"{item}/confirm", headers=headers), 400, 1025)
    assert (await kit.http.get(item, headers=headers)).json()["correspondenceId"] == identifier
    read = await kit.http.post(f"{item}/markasread", headers=headers)
    assert read.json() == identifier
    assert_problem(await kit.http.post(f"{item}/markasread", headers=headers), 400, 1040)
    assert (await kit.http.post(f"{item}/confirm", headers=headers)).status_code == 200
    assert "Confirmed" not in await kit.statuses(identifier)  # written by a job 4 s later
    kit.advance(5)
    assert (await kit.statuses(identifier))[-1] == "Confirmed"
    assert_problem(await kit.http.post(f"{item}/confirm", headers=headers), 400, 1041)
    sender = await altinn_headers(kit)
    assert (await kit.http.get(f"{item}/content", headers=sender)).status_code == 403  # needs .read
    assert_problem(await kit.http.delete(f"{item}/purge", headers=sender), 400, 1013)
    assert (await kit.http.delete(f"{item}/purge", headers=headers)).status_code == 200
    assert_problem(await kit.http.delete(f"{item}/purge", headers=headers), 400, 1014)
    assert_problem(await kit.http.get(item, headers=headers), 404, 1001)
    assert (await kit.statuses(identifier))[-1] == "PurgedByRecipient"
    # As in Altinn, a recipient's search filters only Initialized, ReadyForPublish and Failed.
    assert (await search(kit, headers, role="Recipient")).json() == {"ids": [identifier]}


async def test_sender_purges_before_publication_and_lookup_errors(kit: Kit) -> None:
    sent, _ = await kit.send_correspondence("4601")
    identifier = correspondence_id(sent)
    sender = await altinn_headers(kit)
    purged = await kit.http.delete(f"{kit.correspondence_url}/{identifier}/purge", headers=sender)
    assert purged.status_code == 200
    kit.advance(3600)
    assert await kit.statuses(identifier) == ["Initialized", "ReadyForPublish", "PurgedByAltinn"]
    sender = await altinn_headers(kit)  # the first one has expired
    missing = await kit.http.get(f"{kit.correspondence_url}/{uuid.uuid4()}/details", headers=sender)
    assert_problem(missing, 404, 1001)
    malformed = await kit.http.get(f"{kit.correspondence_url}/not-a-guid/details", headers=sender)
    assert_validation(malformed, "correspondenceId")
    no_role = await kit.http.get(kit.correspondence_url, params={"resourceId": "x"}, headers=sender)
    assert_validation(no_role, "role")
    assert_problem(await search(kit, resourceId="no-such-resource"), 401, 4001)


# --- municipality.no_confidential_role --------------------------------------------------------------


async def test_no_confidential_role_hides_confidential_mail_only(kit: Kit) -> None:
    faulty = municipality_of(kit, "fjordsys", imports_altinn=True)
    healthy = municipality_of(kit, "fjordsys", imports_altinn=True, exclude=(faulty,))
    fault = await kit.fault("municipality.no_confidential_role", faulty)
    hidden, hidden_canary = await kit.send_correspondence(faulty)
    body, open_canary = ordinary_body(kit, faulty)
    opened = await post(kit, body)
    seen, seen_canary = await kit.send_correspondence(healthy)
    hidden_id = correspondence_id(hidden)
    kit.advance(6 * 3600)
    assert await kit.statuses(hidden_id) == ["Initialized", "ReadyForPublish", "Published"]
    assert {"Fetched", "Read"} <= set(await kit.statuses(correspondence_id(opened)))
    assert {"Fetched", "Read"} <= set(await kit.statuses(correspondence_id(seen)))
    # Never imported either: the fagsystem's import cannot see it.
    assert await kit.registered(faulty) == [open_canary]
    assert await kit.registered(healthy) == [seen_canary]
    # Nobody there, system user included, may open confidential mail while the fault lasts.
    recipient = await recipient_headers(kit, faulty)
    assert_problem(await kit.http.get(f"{kit.correspondence_url}/{hidden_id}", headers=recipient), 401, 4001)
    assert_problem(await search(kit, recipient, role="Recipient"), 401, 4001)
    assert (await search(kit, recipient, role="Recipient", resourceId=ordinary(kit))).json() == {
        "ids": [correspondence_id(opened)]
    }
    assert await kit.statuses(hidden_id) == ["Initialized", "ReadyForPublish", "Published"]
    await kit.clear(fault)
    kit.advance(PAST_WORST_FETCH)
    assert (await kit.statuses(hidden_id))[3] == "Fetched"
    kit.advance(2500)
    assert sorted(await kit.registered(faulty)) == sorted([open_canary, hidden_canary])


async def test_no_confidential_role_is_judged_at_the_instant_the_fetch_was_due(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde", imports_altinn=False)
    sent, _ = await kit.send_correspondence(kommunenummer)
    identifier = correspondence_id(sent)
    kit.advance(PAST_WORST_FETCH)  # the fetch was due, though nobody has looked yet
    await kit.fault("municipality.no_confidential_role", kommunenummer)
    # The fault came after the fetch: the lazily evaluated world still records the fetch.
    assert "Fetched" in await kit.statuses(identifier)
    late, _ = await kit.send_correspondence(kommunenummer)
    kit.advance(PAST_WORST_FETCH)
    assert "Fetched" not in await kit.statuses(correspondence_id(late))
