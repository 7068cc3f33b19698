"""The read-back client against the read-back API's own shapes through ``httpx.MockTransport``: the
``?since=`` query, the bearer token, registrations parsed, and every malformed answer refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from probe.checks.readback import ReadbackClient, parse_registration
from probe.clock import FakeClock, to_rfc3339
from probe.config.vendors import ReadbackAuth, Vendor, VendorReadback
from probe.errors import AuthError, InvalidResponseError, UpstreamError
from probe.transport.upstream import Upstream
from tests.engine.kit import READBACK_TOKEN, START, FakeReadback, readback_client, record

pytestmark = pytest.mark.anyio


async def test_since_asks_for_the_municipality_from_an_instant_with_the_token() -> None:
    api = FakeReadback()
    canary = record()
    api.register(canary, START + 20)
    api.register(canary, START + 25)  # registered twice: both are returned, the engine decides
    client, http = readback_client(api, FakeClock(START))
    async with http:
        registrations = await client.since("4601", START - 120)
    [request] = api.requests
    assert request.method == "GET"
    assert request.url.path == "/kanari/v1/municipalities/4601/canaries"
    assert request.url.params["since"] == to_rfc3339(START - 120)
    assert request.headers["Authorization"] == f"Bearer {READBACK_TOKEN}"
    assert [(r.canary_id, r.marker) for r in registrations] == [(canary.id, canary.marker)] * 2
    assert registrations[0].registered_at == START + 25  # the fake keeps the latest time per id


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"items": []},
        {"canaries": {}},
        {"canaries": ["not an object"]},
        {"canaries": [{"canaryId": "x", "marker": "m", "channel": "portal"}]},
        {"canaries": [{"canaryId": "x", "marker": "m", "channel": "portal", "registeredAt": "yesterday"}]},
        {
            "canaries": [
                {"canaryId": "", "marker": "m", "channel": "portal", "registeredAt": "2026-01-01T00:00:00Z"}
            ]
        },
    ],
)
async def test_a_malformed_answer_is_an_invalid_response(body: Any) -> None:
    client, http = _client(lambda request: httpx.Response(200, json=body))
    async with http:
        with pytest.raises(InvalidResponseError):
            await client.since("4601", START)


async def test_a_wrong_token_is_an_auth_error() -> None:
    client, http = _client(lambda request: httpx.Response(401, json={"title": "Unauthorized"}))
    async with http:
        with pytest.raises(AuthError):
            await client.since("4601", START)


async def test_delete_treats_gone_as_done_and_anything_else_as_a_failure() -> None:
    answers = iter([httpx.Response(204), httpx.Response(404), httpx.Response(500)])
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    client, http = _client(api)
    async with http:
        await client.delete("4601", "c-1")
        await client.delete("4601", "c-1")
        with pytest.raises(UpstreamError) as failure:
            await client.delete("4601", "c-1")
    assert failure.value.status_code == 500
    assert [(r.method, r.url.path) for r in seen] == [
        ("DELETE", "/kanari/v1/municipalities/4601/canaries/c-1")
    ] * 3


def test_a_client_needs_a_read_back_api_and_the_means_to_authenticate() -> None:
    upstream = Upstream(
        "readback", httpx.AsyncClient(), FakeClock(), concurrency=1, timeout=1, max_response_bytes=1
    )
    with pytest.raises(ValueError, match="has no read-back API"):
        ReadbackClient(Vendor(id="bare", name="Bare"), upstream, None)
    scoped = Vendor(
        id="scoped",
        name="Scoped",
        readback=VendorReadback(
            base_url="https://rb.test", auth=ReadbackAuth(type="maskinporten", scope="vendor:kanari")
        ),
    )
    with pytest.raises(ValueError, match="needs a Maskinporten client"):
        ReadbackClient(scoped, upstream, None)


def test_a_registration_is_read_from_its_four_fields() -> None:
    parsed = parse_registration(
        {
            "canaryId": "c-1",
            "marker": "KANARI1.a.b",
            "channel": "altinn",
            "registeredAt": "2026-01-01T00:00:10Z",
        }
    )
    assert (parsed.canary_id, parsed.marker, parsed.registered_at) == ("c-1", "KANARI1.a.b", START + 10)


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[ReadbackClient, httpx.AsyncClient]:
    return readback_client(handler, FakeClock(START))
