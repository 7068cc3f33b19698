"""The altinn channel against Altinn's real wire shapes (``Altinn/altinn-correspondence``): what is sent
(confidential flag and resource per route, recipient URN, limits), how a 409/1034 repeat is found again
(by idempotentKey, then sendersReference), what a refusal keeps as evidence, and Failed's statusText."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probe.canary.content import (
    ALTINN_TEXT_LIMIT,
    CanarySubject,
    _property_problems,
    altinn_content,
    altinn_correspondence,
)
from probe.canary.marker import MarkerSigner
from probe.channels.altinn import AltinnChannel, error_code
from probe.clock import FakeClock, parse_rfc3339
from probe.config.models import MAX_KEY_ID_LENGTH, AltinnSettings, MaskinportenSettings
from probe.config.routes import Route
from probe.errors import InvalidResponseError, Reason, UpstreamError
from probe.hops import Channel, Hop
from probe.transport.maskinporten import MaskinportenClient
from probe.transport.upstream import Upstream

pytestmark = pytest.mark.anyio

BASE = "https://platform.tt02.altinn.test"
TOKEN_URL = "https://test.maskinporten.test/token"
CONFIDENTIAL = "kanari-taushetsbelagt-test"
ORDINARY = "kanari-ordinaer-test"
ORGNR = "964338531"
TEST_ORGNR = "310461277"  # a TT02 test organisation standing in for the municipality
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SIGNER = MarkerSigner(Ed25519PrivateKey.generate(), "test-key")
SEARCH = f"{BASE}/correspondence/api/v1/correspondence"
CORRESPONDENCE_ID = "0195f4b8-2c59-7a4e-9b3d-6a1f0c2e8d47"
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# Altinn's answers, as ProblemDetailsHelper serialises them (see /tmp/research/altinn.md section 3).
CONFLICT = {
    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.10",
    "title": "Conflict",
    "status": 409,
    "detail": "A correspondence with the same idempotent key already exists",
    "code": "CORR-01034",
    "traceId": TRACE,
    "statusDescription": "Conflict",
    "errorCode": 1034,
}
VALIDATION = {
    "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
    "title": "Bad Request",
    "status": 400,
    "code": "STD-00000",
    "traceId": TRACE,
    "statusDescription": "Bad Request",
    "validationErrors": [
        {
            "code": "CORR.VLD-00000",
            "title": "The field MessageBody must be a string with a minimum length of 1 and a maximum "
            "length of 30000.",
            "paths": ["Correspondence/Content/MessageBody"],
        }
    ],
    "errors": {
        "Correspondence.Content.MessageBody": [
            "The field MessageBody must be a string with a minimum length of 1 and a maximum length of 30000."
        ]
    },
}


def sent_answer(correspondence_id: str = CORRESPONDENCE_ID, orgnr: str = ORGNR) -> dict[str, Any]:
    return {
        "correspondences": [
            {
                "correspondenceId": correspondence_id,
                "status": "ReadyForPublish",
                "recipient": f"urn:altinn:organization:identifier-no:{orgnr}",
                "notifications": None,
            }
        ],
        "attachmentIds": [],
    }


def history_entry(status: str, when: str, text: str | None = None) -> dict[str, str]:
    return {"status": status, "statusText": text or status, "statusChanged": when}


class FakeAltinn:
    """Maskinporten's token endpoint, Altinn's token exchange and the correspondence API, answering what
    each test sets; every request is kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.send: Callable[[httpx.Request], httpx.Response] = lambda _: httpx.Response(
            200, json=sent_answer()
        )
        # search criterion ("idempotentKey" or "sendersReference") → ids answered
        self.found: dict[str, list[str]] = {}
        self.search_answer: Any = None
        self.details: Any = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url)
        if url == TOKEN_URL:
            return httpx.Response(
                200, json={"access_token": "mp-token", "token_type": "Bearer", "expires_in": 120}
            )
        if url == f"{BASE}/authentication/api/v1/exchange/maskinporten":
            assert request.headers["Authorization"] == "Bearer mp-token"
            return httpx.Response(200, text='"altinn-token"')
        assert request.headers["Authorization"] == "Bearer altinn-token"
        if request.method == "POST" and url == SEARCH:
            return self.send(request)
        if request.method == "GET" and request.url.path.endswith("/details"):
            return httpx.Response(200, json=self.details)
        if request.method == "GET" and request.url.copy_with(query=None) == httpx.URL(SEARCH):
            if self.search_answer is not None:
                return httpx.Response(200, json=self.search_answer)
            params = request.url.params
            for criterion in ("idempotentKey", "sendersReference"):
                if criterion in params:
                    return httpx.Response(200, json={"ids": self.found.get(criterion, [])})
        return httpx.Response(404)

    def of(self, method: str, part: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and part in str(r.url)]

    @property
    def searches(self) -> list[dict[str, str]]:
        return [
            dict(r.url.params)
            for r in self.requests
            if r.method == "GET" and r.url.copy_with(query=None) == httpx.URL(SEARCH)
        ]

    @property
    def sends(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.of("POST", "/correspondence/api/v1/correspondence")]


def settings(**overrides: Any) -> AltinnSettings:
    values: dict[str, Any] = {"base_url": BASE, "resource_id": CONFIDENTIAL, "ordinary_resource_id": ORDINARY}
    return AltinnSettings(**(values | overrides))


def route(*, confidential: bool = True, orgnr: str = ORGNR) -> Route:
    return Route(
        channel=Channel.ALTINN,
        kommunenummer="4601",
        municipality_name="Bergen",
        county="Vestland",
        orgnr=orgnr,
        vendor="example-vendor",
        bydel=None,
        interval=3600,
        deadline=3600,
        poll_interval=15,
        final_hop=Hop.FETCHED,
        confidential=confidential,
    )


def subject(*, marker: str | None = None, kommunenavn: str = "Bergen") -> CanarySubject:
    canary_id = str(uuid.uuid4())
    return CanarySubject(
        canary_id=canary_id,
        channel=Channel.ALTINN,
        kommunenummer="4601",
        kommunenavn=kommunenavn,
        bydelsnummer="00",
        bydelsnavn="",
        marker=marker or SIGNER.sign(canary_id, "altinn", "4601", 1_767_225_600),
        created_at=1_767_225_600.0,
        child_fnr="15821900000",
    )


@pytest.fixture
def altinn() -> FakeAltinn:
    return FakeAltinn()


@pytest.fixture
async def http(altinn: FakeAltinn) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(altinn)) as client:
        yield client


def channel_of(http: httpx.AsyncClient, **overrides: Any) -> AltinnChannel:
    clock = FakeClock()
    mp_settings = MaskinportenSettings(
        token_url=TOKEN_URL,
        audience="https://test.maskinporten.test/",
        client_id="kanari-test",
        key_file=Path("unused.pem"),
        key_id="kanari-key-1",
    )
    maskinporten = MaskinportenClient(
        mp_settings,
        KEY,
        Upstream("maskinporten", http, clock, concurrency=4, timeout=5, max_response_bytes=65536),
        clock,
    )
    upstream = Upstream("altinn", http, clock, concurrency=4, timeout=5, max_response_bytes=65536)
    return AltinnChannel(settings(**overrides), upstream, maskinporten, clock)


@pytest.fixture
def channel(http: httpx.AsyncClient) -> AltinnChannel:
    return channel_of(http)


# --- sending ---------------------------------------------------------------------------------------


async def test_a_confidential_route_sends_confidential_mail_on_the_confidential_resource(
    channel: AltinnChannel, altinn: FakeAltinn
) -> None:
    canary = subject()
    sent = await channel.send(route(), canary)
    assert sent.upstream_id == CORRESPONDENCE_ID
    [body] = altinn.sends
    assert body["correspondence"]["resourceId"] == CONFIDENTIAL
    assert body["correspondence"]["isConfidential"] is True
    assert body["recipients"] == [f"urn:altinn:organization:identifier-no:{ORGNR}"]
    assert body["idempotentKey"] == body["correspondence"]["sendersReference"] == canary.canary_id
    assert body["correspondence"]["propertyList"]["kanariMarker"] == canary.marker
    assert body["correspondence"]["messageSender"] == "Kanari syntetisk overvåking"
    assert "allowSystemDeleteAfter" not in body["correspondence"]  # not in Altinn's API


async def test_an_ordinary_route_sends_ordinary_mail_on_the_ordinary_resource(
    channel: AltinnChannel, altinn: FakeAltinn
) -> None:
    await channel.send(route(confidential=False, orgnr=TEST_ORGNR), subject())
    [body] = altinn.sends
    assert body["correspondence"]["resourceId"] == ORDINARY
    assert body["correspondence"]["isConfidential"] is False
    assert body["recipients"] == [f"urn:altinn:organization:identifier-no:{TEST_ORGNR}"]


async def test_an_ordinary_route_without_an_ordinary_resource_sends_nothing(
    http: httpx.AsyncClient, altinn: FakeAltinn
) -> None:
    channel = channel_of(http, ordinary_resource_id=None)
    with pytest.raises(UpstreamError) as raised:
        await channel.send(route(confidential=False), subject())
    assert raised.value.reason is Reason.HTTP_4XX
    assert not raised.value.maybe_processed
    assert altinn.requests == []


async def test_a_canary_over_altinns_limits_is_never_sent(channel: AltinnChannel, altinn: FakeAltinn) -> None:
    with pytest.raises(UpstreamError) as raised:
        await channel.send(route(), subject(marker="KANARI1." + "A" * 300))
    assert raised.value.reason is Reason.HTTP_4XX
    assert not raised.value.maybe_processed
    assert "kanariMarker" in (raised.value.detail or "")
    assert "KANARI1.AAAA" not in (raised.value.detail or "")  # the length, not the value
    assert altinn.requests == []


@pytest.mark.parametrize("code", [1034, "1034", "CORR-01034"])
async def test_409_1034_is_found_by_idempotent_key(
    channel: AltinnChannel, altinn: FakeAltinn, code: object
) -> None:
    altinn.send = lambda _: httpx.Response(409, json=CONFLICT | {"errorCode": code})
    altinn.found = {"idempotentKey": [CORRESPONDENCE_ID]}
    canary = subject()
    sent = await channel.send(route(), canary)
    assert sent.upstream_id == CORRESPONDENCE_ID
    assert altinn.searches == [
        {"resourceId": CONFIDENTIAL, "role": "Sender", "idempotentKey": canary.canary_id}
    ]


async def test_409_1034_falls_back_to_senders_reference(channel: AltinnChannel, altinn: FakeAltinn) -> None:
    altinn.send = lambda _: httpx.Response(409, json=CONFLICT)
    altinn.found = {"sendersReference": [CORRESPONDENCE_ID]}
    canary = subject()
    sent = await channel.send(route(confidential=False), canary)
    assert sent.upstream_id == CORRESPONDENCE_ID
    assert altinn.searches == [
        {"resourceId": ORDINARY, "role": "Sender", "idempotentKey": canary.canary_id},
        {"resourceId": ORDINARY, "role": "Sender", "sendersReference": canary.canary_id},
    ]


async def test_409_1034_that_no_search_shows_stays_to_be_looked_up(
    channel: AltinnChannel, altinn: FakeAltinn
) -> None:
    altinn.send = lambda _: httpx.Response(409, json=CONFLICT)
    with pytest.raises(UpstreamError) as raised:
        await channel.send(route(), subject())
    assert raised.value.status_code == 409
    assert raised.value.maybe_processed  # it exists somewhere: look it up later, do not judge it failed
    assert "CORR-01034" in (raised.value.detail or "")
    assert len(altinn.searches) == 2


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(409, json=CONFLICT | {"errorCode": 2015, "code": "CORR-02015"}),
        httpx.Response(409, text="<html>Conflict</html>"),
        httpx.Response(409),
    ],
    ids=["other-code", "gateway-page", "empty"],
)
async def test_a_409_that_is_not_1034_is_a_refusal(
    channel: AltinnChannel, altinn: FakeAltinn, answer: httpx.Response
) -> None:
    altinn.send = lambda _: answer
    with pytest.raises(UpstreamError) as raised:
        await channel.send(route(), subject())
    assert raised.value.status_code == 409
    assert raised.value.reason is Reason.HTTP_4XX
    assert not raised.value.maybe_processed
    assert altinn.searches == []


async def test_a_validation_problem_is_a_refusal_with_altinns_words(
    channel: AltinnChannel, altinn: FakeAltinn
) -> None:
    altinn.send = lambda _: httpx.Response(400, json=VALIDATION)
    with pytest.raises(UpstreamError) as raised:
        await channel.send(route(), subject())
    error = raised.value
    assert (error.status_code, error.reason, error.maybe_processed) == (400, Reason.HTTP_4XX, False)
    assert error_code(error) is None
    assert "STD-00000" in (error.detail or "")
    assert "maximum length of 30000" in (error.detail or "")
    assert altinn.searches == []


async def test_a_send_answer_without_an_id_is_invalid(channel: AltinnChannel, altinn: FakeAltinn) -> None:
    altinn.send = lambda _: httpx.Response(200, json={"correspondences": [], "attachmentIds": []})
    with pytest.raises(InvalidResponseError):
        await channel.send(route(), subject())
    altinn.send = lambda _: httpx.Response(200, json={"correspondences": [{"status": "ReadyForPublish"}]})
    with pytest.raises(InvalidResponseError):
        await channel.send(route(), subject())


# --- finding ---------------------------------------------------------------------------------------


async def test_find_asks_by_key_first_and_stops_there(channel: AltinnChannel, altinn: FakeAltinn) -> None:
    altinn.found = {"idempotentKey": [CORRESPONDENCE_ID], "sendersReference": ["someone-else"]}
    assert await channel.find(route(), "4b0c8a0e-5f7e-4c38-9a52-7e0f6b1d2c3a") == CORRESPONDENCE_ID
    assert [list(search) for search in altinn.searches] == [["resourceId", "role", "idempotentKey"]]


async def test_find_answers_none_when_altinn_has_no_such_canary(
    channel: AltinnChannel, altinn: FakeAltinn
) -> None:
    assert await channel.find(route(confidential=False), "4b0c8a0e-5f7e-4c38-9a52-7e0f6b1d2c3a") is None
    assert {search["resourceId"] for search in altinn.searches} == {ORDINARY}
    assert len(altinn.searches) == 2


@pytest.mark.parametrize("answer", [[], {"ids": "x"}, {"ids": [1]}, {"ids": [""]}, {}])
async def test_a_malformed_search_answer_is_invalid(
    channel: AltinnChannel, altinn: FakeAltinn, answer: object
) -> None:
    altinn.search_answer = answer
    with pytest.raises(InvalidResponseError):
        await channel.find(route(), "4b0c8a0e-5f7e-4c38-9a52-7e0f6b1d2c3a")


# --- following -------------------------------------------------------------------------------------


async def test_details_map_onto_hops_with_fetched_only_in_the_history(
    channel: AltinnChannel, altinn: FakeAltinn
) -> None:
    altinn.details = {
        "correspondenceId": CORRESPONDENCE_ID,
        # The top-level status is the highest one recorded and never Fetched.
        "status": "Published",
        "statusText": "Published",
        "statusHistory": [
            history_entry("Initialized", "2026-01-01T00:00:00.000+00:00"),
            history_entry("ReadyForPublish", "2026-01-01T00:00:00.000+00:00"),
            history_entry("Published", "2026-01-01T00:00:05.120+00:00"),
            history_entry("Fetched", "2026-01-01T00:10:00.000+00:00"),
        ],
    }
    observation = await channel.check(route(), CORRESPONDENCE_ID)
    assert observation.reached == {
        Hop.PUBLISHED: parse_rfc3339("2026-01-01T00:00:05.120+00:00"),
        Hop.FETCHED: parse_rfc3339("2026-01-01T00:10:00.000+00:00"),
    }
    assert observation.failed_status is None
    assert observation.last_status == "Published"
    [details] = altinn.of("GET", "/details")
    assert details.url.path.endswith(f"/{CORRESPONDENCE_ID}/details")


async def test_a_failed_publish_keeps_altinns_reason(channel: AltinnChannel, altinn: FakeAltinn) -> None:
    reason = (
        f"Recipient of {CORRESPONDENCE_ID} lacks roles required to read correspondence. Consider sending "
        "physical mail to this recipient instead."
    )
    altinn.details = {
        "status": "Failed",
        "statusText": reason,
        "statusHistory": [
            history_entry("Initialized", "2026-01-01T00:00:00.000+00:00"),
            history_entry("ReadyForPublish", "2026-01-01T00:00:00.000+00:00"),
            history_entry("Failed", "2026-01-01T00:00:04.000+00:00", reason),
        ],
    }
    observation = await channel.check(route(), CORRESPONDENCE_ID)
    assert observation.failed_status == "Failed"
    assert observation.detail == reason
    assert Hop.PUBLISHED not in observation.reached


# --- the content's limits --------------------------------------------------------------------------


def test_the_longest_marker_config_allows_fits_a_property_value() -> None:
    signer = MarkerSigner(Ed25519PrivateKey.generate(), "k" * MAX_KEY_ID_LENGTH)
    canary = subject()
    marker = signer.sign(canary.canary_id, "altinn", "4601", 4_102_444_800)  # year 2100: longest iat
    body = altinn_correspondence(subject(marker=marker), CONFIDENTIAL, ORGNR)
    assert len(body["correspondence"]["propertyList"]["kanariMarker"]) <= 300


def test_a_long_municipality_name_is_clipped_in_title_and_summary_but_not_in_the_body() -> None:
    content = altinn_content(subject(kommunenavn="Æ" * 400))
    assert len(content["messageTitle"]) == len(content["messageSummary"]) == ALTINN_TEXT_LIMIT
    assert content["messageTitle"].endswith("…")
    assert content["messageTitle"].startswith("SYNTETISK TESTMELDING FRA KANARI")


def test_title_clipping_counts_utf16_code_units() -> None:
    content = altinn_content(subject(kommunenavn="🐦" * 200))
    assert len(content["messageTitle"].encode("utf-16-le")) // 2 <= ALTINN_TEXT_LIMIT


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"marker": "KANARI1." + "A" * 293}, "'kanariMarker' has 301 characters"),
        ({"kommunenavn": "Ø" * 31_000}, "messageBody has"),
    ],
)
def test_altinn_correspondence_refuses_what_altinn_would(change: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        altinn_correspondence(subject(**change), CONFIDENTIAL, ORGNR)


@pytest.mark.parametrize("orgnr", ["12345678", "1234567890", "96433853x", ""])
def test_altinn_correspondence_refuses_a_recipient_that_is_no_organisation_number(orgnr: str) -> None:
    with pytest.raises(ValueError, match="nine digits"):
        altinn_correspondence(subject(), CONFIDENTIAL, orgnr)


def test_property_list_limits() -> None:
    assert _property_problems({"k" * 50: "v" * 300}) == []
    assert _property_problems({"k" * 51: "v"}) == ["property key of 51 characters (at most 50)"]
    assert _property_problems({f"k{i}": "v" for i in range(11)}) == ["11 properties (at most 10)"]


@pytest.mark.parametrize(
    ("upstream_code", "code"),
    [
        ("1034", 1034),
        ("CORR-01029", 1029),
        ("CORR-01034", 1034),
        ("STD-00000", None),
        ("invalid_grant", None),
        (None, None),
    ],
)
def test_error_code_is_read_from_the_problem_details(upstream_code: str | None, code: int | None) -> None:
    error = UpstreamError("altinn", Reason.HTTP_4XX, "HTTP 409", 409, error_code=upstream_code)
    assert error_code(error) == code
