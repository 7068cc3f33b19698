from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import respx

from probe.clock import FakeClock
from probe.errors import (
    AuthError,
    InvalidResponseError,
    RateLimitedError,
    Reason,
    ResponseTooLargeError,
    UpstreamError,
)
from probe.transport.upstream import MAX_RETRY_AFTER, Upstream, parse_retry_after

URL = "https://api.example.test/thing"
pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def upstream(clock: FakeClock) -> AsyncIterator[Upstream]:
    async with httpx.AsyncClient() as client:
        yield Upstream("portal", client, clock, concurrency=4, timeout=5.0, max_response_bytes=2048)


def tokens() -> tuple[Callable[[bool], Awaitable[str]], list[bool]]:
    issued: list[bool] = []

    async def token(fresh: bool) -> str:
        issued.append(fresh)
        return f"token-{len(issued)}"

    return token, issued


@respx.mock
async def test_json_answer_and_bearer_token(upstream: Upstream) -> None:
    route = respx.get(URL).respond(json={"ok": True})
    token, _ = tokens()
    assert await upstream.json("GET", URL, backoff_key="4601", token=token) == {"ok": True}
    assert route.calls.last.request.headers["Authorization"] == "Bearer token-1"
    assert upstream.requests == 1


@respx.mock
async def test_401_is_retried_once_with_a_fresh_token(upstream: Upstream) -> None:
    route = respx.get(URL).mock(side_effect=[httpx.Response(401), httpx.Response(200, json=[])])
    token, issued = tokens()
    assert await upstream.json("GET", URL, backoff_key="k", token=token) == []
    assert issued == [False, True]
    assert route.calls[1].request.headers["Authorization"] == "Bearer token-2"


@respx.mock
async def test_second_401_and_403_are_auth_errors(upstream: Upstream) -> None:
    respx.get(URL).respond(401)
    token, issued = tokens()
    with pytest.raises(AuthError) as error:
        await upstream.json("GET", URL, backoff_key="k", token=token)
    assert error.value.reason is Reason.AUTH
    assert len(issued) == 2
    respx.get(URL).respond(403)
    with pytest.raises(AuthError):
        await upstream.json("GET", URL, backoff_key="k", token=token)


@respx.mock
async def test_429_holds_back_that_key_only(upstream: Upstream, clock: FakeClock) -> None:
    route = respx.get(URL).respond(429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimitedError) as error:
        await upstream.json("GET", URL, backoff_key="4601")
    assert error.value.retry_after == 30
    with pytest.raises(RateLimitedError):
        await upstream.json("GET", URL, backoff_key="4601")
    assert route.call_count == 1  # held back without calling
    respx.get(URL).respond(json={})
    assert await upstream.json("GET", URL, backoff_key="0301") == {}
    clock.advance(30)
    assert await upstream.json("GET", URL, backoff_key="4601") == {}


def test_retry_after_forms_and_bounds() -> None:
    now = 1_000_000.0
    assert parse_retry_after("12", now) == 12
    date = email.utils.formatdate(now + 40, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(40, abs=1)
    assert parse_retry_after("99999", now) == MAX_RETRY_AFTER
    assert parse_retry_after("soon", now) == 30
    assert parse_retry_after(None, now) == 30


@pytest.mark.parametrize(
    ("status", "reason"), [(400, Reason.HTTP_4XX), (404, Reason.HTTP_4XX), (503, Reason.HTTP_5XX)]
)
@respx.mock
async def test_http_errors_have_bounded_reasons(upstream: Upstream, status: int, reason: Reason) -> None:
    respx.get(URL).respond(status, text="<html>secret internals</html>")
    with pytest.raises(UpstreamError) as error:
        await upstream.json("GET", URL, backoff_key="k")
    assert error.value.reason is reason
    assert error.value.status_code == status
    assert not error.value.maybe_processed
    assert "secret internals" not in str(error.value)


@pytest.mark.parametrize(
    ("exception", "reason", "maybe_processed"),
    [
        (httpx.ConnectError("refused"), Reason.CONNECT, False),
        (httpx.ConnectTimeout("slow connect"), Reason.TIMEOUT, False),
        (httpx.ReadTimeout("slow answer"), Reason.TIMEOUT, True),
        (httpx.RemoteProtocolError("closed before any answer"), Reason.RESET, True),
        (httpx.ReadError("reset before any answer"), Reason.RESET, True),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), Reason.TLS, False),
    ],
)
@respx.mock
async def test_transport_failures(
    upstream: Upstream, exception: Exception, reason: Reason, maybe_processed: bool
) -> None:
    respx.post(URL).mock(side_effect=exception)
    with pytest.raises(UpstreamError) as error:
        await upstream.json("POST", URL, backoff_key="k")
    assert error.value.reason is reason
    assert error.value.maybe_processed is maybe_processed


@respx.mock
async def test_huge_and_malformed_answers_are_invalid_responses(upstream: Upstream) -> None:
    respx.get(URL).respond(200, content=b"[" + b"1," * 5000 + b"1]")
    with pytest.raises(ResponseTooLargeError, match="larger than 2048 bytes") as huge:
        await upstream.json("GET", URL, backoff_key="k")
    assert huge.value.reason is Reason.INVALID_RESPONSE  # still an invalid response for the metrics
    respx.get(URL).respond(200, content=b'{"broken": ')
    with pytest.raises(InvalidResponseError, match="not JSON") as error:
        await upstream.json("GET", URL, backoff_key="k")
    assert not isinstance(error.value, ResponseTooLargeError)
    assert error.value.maybe_processed  # a 2xx that does not parse may have been acted on


@respx.mock
async def test_a_token_that_cannot_be_had_is_an_auth_failure_of_this_upstream(upstream: Upstream) -> None:
    async def broken(fresh: bool) -> str:
        raise UpstreamError("maskinporten", Reason.CONNECT, "down")

    with pytest.raises(AuthError) as error:
        await upstream.json("GET", URL, backoff_key="k", token=broken)
    assert error.value.upstream == "portal"
    assert "maskinporten" in str(error.value)


class _BrokenBody(httpx.AsyncByteStream):
    """An answer whose body breaks after its first chunk: a reset mid-answer."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"partial": '
        raise httpx.ReadError("connection reset mid-answer")


@respx.mock
async def test_a_reset_mid_answer_is_a_connect_failure_and_never_retried(upstream: Upstream) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(200, stream=_BrokenBody()))
    with pytest.raises(UpstreamError) as error:
        await upstream.json("GET", URL, backoff_key="k")
    assert (error.value.reason, error.value.maybe_processed) == (Reason.CONNECT, True)
    assert route.call_count == 1


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@respx.mock
async def test_an_idempotent_request_closed_before_any_answer_is_retried_once(
    upstream: Upstream, method: str
) -> None:
    route = respx.route(method=method, url=URL).mock(
        side_effect=[
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            httpx.Response(200, json=[]),
        ]
    )
    assert await upstream.json(method, URL, backoff_key="k") == []
    assert route.call_count == 2
    assert upstream.requests == 2


@respx.mock
async def test_a_post_closed_before_any_answer_is_not_repeated_unless_the_caller_says_it_may_be(
    upstream: Upstream,
) -> None:
    closed = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    route = respx.post(URL).mock(side_effect=[closed, httpx.Response(200, json={"id": 1})])
    with pytest.raises(UpstreamError) as error:
        await upstream.json("POST", URL, backoff_key="k")
    assert (error.value.reason, error.value.maybe_processed) == (Reason.RESET, True)
    assert route.call_count == 1
    assert await upstream.json("POST", URL, backoff_key="k", idempotent=True) == {"id": 1}


@respx.mock
async def test_a_second_close_before_any_answer_is_a_reset_failure(upstream: Upstream) -> None:
    closed = httpx.ReadError("Connection reset by peer")
    route = respx.get(URL).mock(side_effect=[closed, closed])
    with pytest.raises(UpstreamError) as error:
        await upstream.json("GET", URL, backoff_key="k")
    assert error.value.reason is Reason.RESET
    assert route.call_count == 2


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (
            400,
            {"error": "invalid_grant", "error_description": "MP-110: Invalid JWT claim aud (trace_id: 5d5d)"},
            "error=invalid_grant error_description=MP-110: Invalid JWT claim aud (trace_id: 5d5d)",
        ),
        (
            400,
            {
                "timestamp": 1700000000000,
                "status": 400,
                "error": "Bad Request",
                "errorId": "7f0c",
                "path": "/bekymringsmelding/api/v2/mottak",
                "message": "Delen bekymringsmelding kunne ikke dekrypteres",
                "errorCode": "UGYLDIG_KRYPTERING",
            },
            "error=Bad Request errorCode=UGYLDIG_KRYPTERING message=Delen bekymringsmelding kunne ikke "
            "dekrypteres errorId=7f0c",
        ),
        (
            409,
            {
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.10",
                "title": "Conflict",
                "status": 409,
                "detail": "A correspondence with the same idempotent key already exists",
                "code": "CORR-01034",
                "errorCode": 1034,
            },
            "errorCode=1034 code=CORR-01034 title=Conflict detail=A correspondence with the same "
            "idempotent key "
            "already exists",
        ),
    ],
)
@respx.mock
async def test_an_error_answer_keeps_what_the_upstream_said(
    upstream: Upstream, status: int, body: dict[str, object], detail: str
) -> None:
    respx.post(URL).respond(status, json=body)
    with pytest.raises(UpstreamError) as error:
        await upstream.json("POST", URL, backoff_key="k")
    assert error.value.detail == detail


async def test_the_whole_request_has_a_deadline_however_slowly_it_drips(clock: FakeClock) -> None:
    async def drip() -> AsyncIterator[bytes]:
        for byte in b'{"canaries": []}':
            await asyncio.sleep(0.1)  # each byte well inside the per-read timeout
            yield bytes([byte])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=drip())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        upstream = Upstream("readback", client, clock, concurrency=1, timeout=0.5, max_response_bytes=2048)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(UpstreamError) as error:
            await upstream.json("GET", URL, backoff_key="k")
        assert loop.time() - began < 1.5
    assert error.value.reason is Reason.TIMEOUT
    assert "within 0.5 s" in str(error.value)
    assert error.value.maybe_processed


@respx.mock
async def test_a_body_nested_deeper_than_the_parser_goes_is_an_invalid_response(clock: FakeClock) -> None:
    respx.get(URL).respond(200, content=b"[" * 100_000 + b"]" * 100_000)
    async with httpx.AsyncClient() as client:
        # The bound on size lets it through: the nesting is what is refused.
        upstream = Upstream("readback", client, clock, concurrency=1, timeout=5, max_response_bytes=1 << 20)
        with pytest.raises(InvalidResponseError, match="not JSON"):
            await upstream.json("GET", URL, backoff_key="k")
