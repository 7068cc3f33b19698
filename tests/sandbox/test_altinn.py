"""Altinn 3: token exchange, sending with idempotency, status history, the recipient side, and the
simulated municipalities fetching, reading and importing their mail."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import jwt
import pytest

from probe.clock import parse_rfc3339
from probe.sandbox.delays import inbox_schedule, next_poll
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "errorCode", "traceId"}


def assert_problem(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_FIELDS
    assert body["errorCode"] == code
    assert body["code"] == f"CORR-{code:05d}"


def correspondence_id(response: httpx.Response) -> str:
    return str(response.json()["correspondences"][0]["correspondenceId"])


async def recipient_headers(kit: Kit, kommunenummer: str) -> dict[str, str]:
    orgnr = kit.manifest.municipalities[kommunenummer].orgnr
    return {"Authorization": f"Bearer {await kit.altinn_token(recipient_orgnr=orgnr)}"}


async def test_token_exchange(kit: Kit) -> None:
    token = await kit.altinn_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"{kit.base}/altinn/authentication/"
    assert claims["urn:altinn:orgNumber"] == kit.manifest.maskinporten.orgnr
    assert claims["exp"] - claims["iat"] == 1800
    url = f"{kit.manifest.altinn.base_url}/authentication/api/v1/exchange/maskinporten"
    assert (await kit.http.get(url)).status_code == 401
    assert (await kit.http.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_send_and_follow_the_status_history(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde", imports_altinn=False)
    sent, canary_id = await kit.send_correspondence(kommunenummer)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    orgnr = kit.manifest.municipalities[kommunenummer].orgnr
    assert answer["attachmentIds"] == []
    assert answer["correspondences"][0]["status"] == "Initialized"
    assert answer["correspondences"][0]["recipient"] == f"urn:altinn:organization:identifier-no:{orgnr}"
    identifier = correspondence_id(sent)
    details = (await kit.details(identifier)).json()
    assert details["status"] == "Initialized"
    assert details["sendersReference"] == canary_id
    assert details["propertyList"]["kanariCanaryId"] == canary_id
    assert details["published"] is None
    kit.advance(60)
    assert await kit.statuses(identifier) == ["Initialized", "ReadyForPublish", "Published"]
    period, phase = inbox_schedule(kommunenummer, kit.world.settings.delays, 1.0)
    published = parse_rfc3339((await kit.details(identifier)).json()["published"])
    fetch_at = next_poll(published, period, phase)
    kit.clock.set(fetch_at - 1)
    assert "Fetched" not in await kit.statuses(identifier)
    kit.clock.set(fetch_at + 3600)
    details = (await kit.details(identifier)).json()
    assert [event["status"] for event in details["statusHistory"]] == [
        "Initialized",
        "ReadyForPublish",
        "Published",
        "Fetched",
        "Read",
    ]
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


async def test_idempotent_key(kit: Kit) -> None:
    body, _ = kit.correspondence_body("4601")
    headers = {"Authorization": f"Bearer {await kit.altinn_token()}"}
    first = await kit.http.post(kit.correspondence_url, json=body, headers=headers)
    assert first.status_code == 200
    assert_problem(await kit.http.post(kit.correspondence_url, json=body, headers=headers), 409, 1034)
    found = await kit.http.get(
        kit.correspondence_url,
        params={
            "resourceId": kit.manifest.altinn.resource_id,
            "role": "Sender",
            "sendersReference": body["correspondence"]["sendersReference"],
        },
        headers=headers,
    )
    assert found.json() == {"ids": [correspondence_id(first)]}
    by_key = await kit.http.get(
        kit.correspondence_url,
        params={
            "resourceId": kit.manifest.altinn.resource_id,
            "role": "Sender",
            "idempotentKey": body["idempotentKey"],
        },
        headers=headers,
    )
    assert by_key.json() == {"ids": [correspondence_id(first)]}
    bad_key, _ = await kit.send_correspondence("4601", idempotentKey="not-a-guid")
    assert_problem(bad_key, 400, 1033)
    empty_key, _ = await kit.send_correspondence("4601", idempotentKey="00000000-0000-0000-0000-000000000000")
    assert_problem(empty_key, 400, 1033)
    no_key, _ = await kit.send_correspondence("4601", idempotentKey=None)
    assert no_key.status_code == 200


async def test_send_refusals(kit: Kit) -> None:
    unknown, _ = await kit.send_correspondence(
        "4601", recipients=["urn:altinn:organization:identifier-no:123456785"]
    )
    assert_problem(unknown, 404, 1029)
    assert "123456785" in unknown.json()["detail"]
    bergen = kit.manifest.municipalities["4601"].orgnr
    oslo = kit.manifest.municipalities["0301"].orgnr
    duplicated, _ = await kit.send_correspondence("4601", recipients=[f"0192:{bergen}", f"0192:{bergen}"])
    assert_problem(duplicated, 400, 1006)
    several_with_key, _ = await kit.send_correspondence("4601", recipients=[bergen, oslo])
    assert_problem(several_with_key, 400, 1047)
    several, _ = await kit.send_correspondence("4601", recipients=[bergen, oslo], idempotentKey=None)
    assert [c["recipient"] for c in several.json()["correspondences"]] == [bergen, oslo]
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["resourceId"] = "some-other-resource"
    headers = {"Authorization": f"Bearer {await kit.altinn_token()}"}
    assert_problem(await kit.http.post(kit.correspondence_url, json=body, headers=headers), 400, 1036)
    for field, value, code in (
        ("language", "sv", 1023),
        ("messageTitle", "", 1020),
        ("messageTitle", "x" * 256, 1037),
        ("messageBody", " ", 1021),
        ("messageBody", "x" * 10_001, 1022),
        ("messageSummary", "x" * 256, 1042),
    ):
        body, _ = kit.correspondence_body("4601")
        body["correspondence"]["content"][field] = value
        assert_problem(await kit.http.post(kit.correspondence_url, json=body, headers=headers), 400, code)
    body, _ = kit.correspondence_body("4601")
    del body["correspondence"]["content"]
    assert_problem(await kit.http.post(kit.correspondence_url, json=body, headers=headers), 400, 1019)
    body, _ = kit.correspondence_body("4601")
    body["correspondence"]["propertyList"] = {f"k{i}": "v" for i in range(11)}
    invalid = await kit.http.post(kit.correspondence_url, json=body, headers=headers)
    assert invalid.status_code == 400
    assert "errors" in invalid.json()
    assert (await kit.http.post(kit.correspondence_url, content=b"{", headers=headers)).status_code == 400


async def test_correspondence_api_needs_an_altinn_token_with_the_right_scope(kit: Kit) -> None:
    body, _ = kit.correspondence_body("4601")
    maskinporten_token = await kit.token("altinn:serviceowner altinn:correspondence.write")
    raw = await kit.http.post(
        kit.correspondence_url, json=body, headers={"Authorization": f"Bearer {maskinporten_token}"}
    )
    assert raw.status_code == 401
    assert raw.content == b""
    assert (await kit.http.post(kit.correspondence_url, json=body)).status_code == 401
    reader = await recipient_headers(kit, "4601")
    assert (await kit.http.post(kit.correspondence_url, json=body, headers=reader)).status_code == 403


async def test_recipient_side(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "kystdata", imports_altinn=False)
    sent, _ = await kit.send_correspondence(kommunenummer)
    identifier = correspondence_id(sent)
    headers = await recipient_headers(kit, kommunenummer)
    listing_params = {"resourceId": kit.manifest.altinn.resource_id, "role": "Recipient"}
    assert (await kit.http.get(kit.correspondence_url, params=listing_params, headers=headers)).json() == {
        "ids": []
    }
    assert_problem(await kit.http.get(f"{kit.correspondence_url}/{identifier}", headers=headers), 404, 1001)
    kit.advance(60)  # published, not yet fetched by the municipality's own poll (at least 300 s away)
    assert (await kit.http.get(kit.correspondence_url, params=listing_params, headers=headers)).json() == {
        "ids": [identifier]
    }
    other = await recipient_headers(kit, "0301")
    assert (await kit.http.get(kit.correspondence_url, params=listing_params, headers=other)).json() == {
        "ids": []
    }
    assert_problem(await kit.http.get(f"{kit.correspondence_url}/{identifier}", headers=other), 404, 1001)
    if "Fetched" not in await kit.statuses(identifier):
        assert_problem(
            await kit.http.post(f"{kit.correspondence_url}/{identifier}/markasread", headers=headers),
            400,
            1024,
        )
        assert_problem(
            await kit.http.post(f"{kit.correspondence_url}/{identifier}/confirm", headers=headers), 400, 1025
        )
    overview = await kit.http.get(f"{kit.correspondence_url}/{identifier}", headers=headers)
    assert overview.status_code == 200
    assert overview.json()["correspondenceId"] == identifier
    assert (await kit.statuses(identifier))[-1] == "Fetched"
    read = await kit.http.post(f"{kit.correspondence_url}/{identifier}/markasread", headers=headers)
    assert read.json() == identifier
    assert_problem(
        await kit.http.post(f"{kit.correspondence_url}/{identifier}/markasread", headers=headers), 400, 1040
    )
    content = await kit.http.get(f"{kit.correspondence_url}/{identifier}/content", headers=headers)
    assert content.headers["content-type"].startswith("text/plain")
    assert "KANARI1." in content.text
    assert (
        await kit.http.post(f"{kit.correspondence_url}/{identifier}/confirm", headers=headers)
    ).status_code == 200
    assert_problem(
        await kit.http.post(f"{kit.correspondence_url}/{identifier}/confirm", headers=headers), 400, 1041
    )
    sender = {"Authorization": f"Bearer {await kit.altinn_token()}"}
    assert (
        await kit.http.get(f"{kit.correspondence_url}/{identifier}/content", headers=sender)
    ).status_code == 403
    assert_problem(
        await kit.http.delete(f"{kit.correspondence_url}/{identifier}/purge", headers=sender), 400, 1013
    )
    purged = await kit.http.delete(f"{kit.correspondence_url}/{identifier}/purge", headers=headers)
    assert purged.status_code == 200
    assert_problem(
        await kit.http.delete(f"{kit.correspondence_url}/{identifier}/purge", headers=headers), 400, 1014
    )
    assert (await kit.statuses(identifier))[-1] == "PurgedByRecipient"
    assert (await kit.http.get(kit.correspondence_url, params=listing_params, headers=headers)).json() == {
        "ids": []
    }


async def test_sender_purges_before_publication_and_lookup_errors(kit: Kit) -> None:
    sent, _ = await kit.send_correspondence("4601")
    identifier = correspondence_id(sent)
    sender = {"Authorization": f"Bearer {await kit.altinn_token()}"}
    purged = await kit.http.delete(f"{kit.correspondence_url}/{identifier}/purge", headers=sender)
    assert purged.status_code == 200
    kit.advance(3600)
    assert await kit.statuses(identifier) == ["Initialized", "PurgedByAltinn"]
    sender = {"Authorization": f"Bearer {await kit.altinn_token()}"}  # the first one has expired
    missing = await kit.http.get(f"{kit.correspondence_url}/{uuid.uuid4()}/details", headers=sender)
    assert_problem(missing, 404, 1001)
    malformed = await kit.http.get(f"{kit.correspondence_url}/not-a-guid/details", headers=sender)
    assert malformed.status_code == 400
    assert "errors" in malformed.json()
    no_role = await kit.http.get(kit.correspondence_url, params={"resourceId": "x"}, headers=sender)
    assert no_role.status_code == 400
    assert "role" in no_role.json()["errors"]
