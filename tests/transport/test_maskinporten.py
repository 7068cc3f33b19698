from __future__ import annotations

import asyncio
import base64
import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from probe.clock import FakeClock
from probe.config.models import MaskinportenSettings
from probe.errors import AuthError, InvalidResponseError, Reason, UpstreamError
from probe.transport.maskinporten import GRANT_TYPE, MaskinportenClient
from probe.transport.upstream import Upstream

TOKEN_URL = "https://test.maskinporten.example/token"
AUDIENCE = "https://test.maskinporten.example/"
pytestmark = pytest.mark.anyio

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def settings(**overrides: Any) -> MaskinportenSettings:
    values: dict[str, Any] = {
        "token_url": TOKEN_URL,
        "audience": AUDIENCE,
        "client_id": "kanari-test",
        "key_file": "unused.pem",
        "key_id": "kanari-key-1",
    } | overrides
    return MaskinportenSettings(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[MaskinportenClient]:
    async with httpx.AsyncClient() as http:
        upstream = Upstream("maskinporten", http, clock, concurrency=4, timeout=5, max_response_bytes=65536)
        yield MaskinportenClient(settings(), KEY, upstream, clock)


def assertion_of(request: httpx.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    form = urllib.parse.parse_qs(request.content.decode())
    assert form["grant_type"] == [GRANT_TYPE]
    token = form["assertion"][0]
    header = jwt.get_unverified_header(token)
    # The fake clock is not today's date: verify the signature and audience, check times by hand.
    claims = jwt.decode(
        token,
        KEY.public_key(),
        algorithms=["RS256"],
        audience=AUDIENCE,
        options={"verify_exp": False, "verify_iat": False},
    )
    return header, claims


def granted(token: str = "at-1", expires_in: int = 120) -> httpx.Response:
    return httpx.Response(
        200,
        json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": "ks:fiks"},
    )


@respx.mock
async def test_grant_assertion_follows_the_contract(client: MaskinportenClient, clock: FakeClock) -> None:
    route = respx.post(TOKEN_URL).mock(return_value=granted())
    assert await client.token(["ks:fiks"]) == "at-1"
    header, claims = assertion_of(route.calls.last.request)
    assert header == {"alg": "RS256", "kid": "kanari-key-1", "typ": "JWT"}
    assert claims["iss"] == "kanari-test"
    assert claims["aud"] == AUDIENCE
    assert claims["scope"] == "ks:fiks"
    assert claims["iat"] == int(clock.now())
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert claims["jti"]


@respx.mock
async def test_each_assertion_has_a_new_jti(client: MaskinportenClient) -> None:
    route = respx.post(TOKEN_URL).mock(side_effect=[granted("a"), granted("b")])
    await client.token(["ks:fiks"])
    await client.token(["ks:fiks"], fresh=True)
    jtis = {assertion_of(call.request)[1]["jti"] for call in route.calls}
    assert len(jtis) == 2


@respx.mock
async def test_cached_until_shortly_before_expiry_then_renewed(
    client: MaskinportenClient, clock: FakeClock
) -> None:
    route = respx.post(TOKEN_URL).mock(side_effect=[granted("first", 120), granted("second", 120)])
    assert await client.token(["ks:fiks"]) == "first"
    clock.advance(120 - 30 - 1)  # refresh margin is 30 s
    assert await client.token(["ks:fiks"]) == "first"
    clock.advance(1)
    assert await client.token(["ks:fiks"]) == "second"
    assert route.call_count == 2


@respx.mock
async def test_one_grant_for_many_concurrent_callers_per_scope_set(client: MaskinportenClient) -> None:
    route = respx.post(TOKEN_URL).mock(return_value=granted())
    tokens = await asyncio.gather(*(client.token(["b", "a"]) for _ in range(20)), client.token(["a", "b"]))
    assert set(tokens) == {"at-1"}
    assert route.call_count == 1
    await client.token(["other"])
    assert route.call_count == 2


@respx.mock
async def test_x5c_mode_sends_the_chain_instead_of_kid(clock: FakeClock) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kanari")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )
    route = respx.post(TOKEN_URL).mock(return_value=granted())
    async with httpx.AsyncClient() as http:
        upstream = Upstream("maskinporten", http, clock, concurrency=1, timeout=5, max_response_bytes=65536)
        x5c_settings = settings(key_id=None, certificate_chain_file="chain.pem")
        client = MaskinportenClient(x5c_settings, KEY, upstream, clock, [certificate])
        await client.token(["ks:fiks"])
    header, _ = assertion_of(route.calls.last.request)
    assert "kid" not in header
    assert base64.b64decode(header["x5c"][0]) == certificate.public_bytes(Encoding.DER)


@respx.mock
async def test_refused_grant_is_an_auth_error_without_the_assertion_in_it(client: MaskinportenClient) -> None:
    respx.post(TOKEN_URL).respond(
        400, json={"error": "invalid_grant", "error_description": "Invalid assertion"}
    )
    with pytest.raises(AuthError) as error:
        await client.token(["ks:fiks"])
    assert error.value.reason is Reason.AUTH
    assert "eyJ" not in str(error.value)


@respx.mock
async def test_maskinporten_down_is_an_upstream_error(client: MaskinportenClient) -> None:
    respx.post(TOKEN_URL).respond(503)
    with pytest.raises(UpstreamError) as error:
        await client.token(["ks:fiks"])
    assert error.value.reason is Reason.HTTP_5XX


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer"},
        {"access_token": "x"},
        {"access_token": "x", "expires_in": -5},
        ["x"],
        {"access_token": "", "expires_in": 10},
        {"access_token": "x", "expires_in": True},
    ],
)
@respx.mock
async def test_malformed_token_answers(client: MaskinportenClient, body: object) -> None:
    respx.post(TOKEN_URL).respond(200, json=body)
    with pytest.raises(InvalidResponseError):
        await client.token(["ks:fiks"])


def test_settings_refuse_both_or_neither_key_kind_and_long_assertions() -> None:
    with pytest.raises(ValueError, match="exactly one of key_id"):
        settings(certificate_chain_file="chain.pem")
    with pytest.raises(ValueError, match="exactly one of key_id"):
        settings(key_id=None)
    with pytest.raises(ValueError, match="at most 120"):
        settings(assertion_lifetime=121)
