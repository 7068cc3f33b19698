"""One upstream HTTP service: bounded concurrency, ``Retry-After`` back-off, bounded bodies, a retry on a
fresh connection where that is safe, and every failure turned into an :class:`~probe.errors.UpstreamError`
with a bounded ``reason``. The connections themselves come from :mod:`probe.transport.pool`.

Each adapter (portal, Altinn, read-back, Maskinporten) owns one :class:`Upstream` built on an injected
``httpx.AsyncClient``, so tests hand it respx's router, the in-process sandbox or a real socket without
patching anything.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from probe import diagnostics
from probe.clock import Clock
from probe.errors import (
    AuthError,
    InvalidResponseError,
    RateLimitedError,
    Reason,
    ResponseTooLargeError,
    UpstreamError,
)

TokenSource = Callable[[bool], Awaitable[str]]
"""Returns a bearer token; called with ``True`` after a 401 to force a fresh one."""

# A Retry-After longer than this is capped: an upstream asking for an hour's silence must not make a
# route invisible for an hour without anyone noticing the failures meanwhile.
MAX_RETRY_AFTER = 300.0
DEFAULT_RETRY_AFTER = 30.0
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _ClosedBeforeAnswerError(Exception):
    """The connection closed or reset before any part of the answer arrived."""


def parse_retry_after(value: str | None, now: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), bounded."""
    if not value:
        return DEFAULT_RETRY_AFTER
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)


class Backoff:
    """Per-key "not before" instants set by 429 answers, so one rate-limited municipality does not
    slow down the others and Kanari stops calling until the upstream said it may."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def hold(self, key: str, seconds: float) -> None:
        """Stop calls for ``key`` for ``seconds``."""
        self._until[key] = max(self._until.get(key, 0.0), self._clock.now() + seconds)

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` may be called again (0 when it may now)."""
        until = self._until.get(key)
        if until is None:
            return 0.0
        left = until - self._clock.now()
        if left <= 0:
            del self._until[key]
            return 0.0
        return left


class Upstream:
    """Calls to one upstream service."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        concurrency: int,
        timeout: float,
        max_response_bytes: int,
    ) -> None:
        self.name = name
        self.client = client
        self.clock = clock
        self.backoff = Backoff(clock)
        self.requests = 0
        self._slots = asyncio.Semaphore(concurrency)
        # ``timeout`` bounds the whole exchange, connect to last byte: httpx's own timeouts are per
        # phase and per read, so an answer dripping a byte every few seconds would never trip them.
        self._deadline = timeout
        self._timeout = httpx.Timeout(timeout)
        self._max_response_bytes = max_response_bytes

    async def request(
        self,
        method: str,
        url: str,
        *,
        backoff_key: str,
        token: TokenSource | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request and return a 2xx response whose body has been read (bounded).

        ``backoff_key`` groups calls that a 429 should pause together (one municipality). A 401 is
        retried once with a fresh token. A request that may be repeated (``idempotent``; by default the
        methods RFC 9110 calls idempotent) is retried once on a fresh connection when the connection closes
        before any answer. Raises :class:`UpstreamError` (or a subclass) otherwise.
        """
        repeatable = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        waiting = self.backoff.remaining(backoff_key)
        if waiting > 0:
            raise RateLimitedError(self.name, waiting, f"holding back for {waiting:.0f} s after a 429")
        for attempt in (1, 2):
            request_headers = dict(headers or {})
            if token is not None:
                request_headers["Authorization"] = f"Bearer {await self._token(token, fresh=attempt == 2)}"
            response = await self._send(method, url, request_headers, kwargs, idempotent=repeatable)
            if response.status_code == 401 and token is not None and attempt == 1:
                continue
            return self._check(response, backoff_key)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _token(self, token: TokenSource, *, fresh: bool) -> str:
        # Whatever stops Kanari from getting a token (Maskinporten down, grant refused) is a failure of
        # Kanari's own credentials as far as this upstream is concerned: reason ``auth``.
        try:
            return await token(fresh)
        except AuthError as error:
            raise AuthError(self.name, f"no token: {error}", detail=error.detail) from None
        except UpstreamError as error:
            raise AuthError(
                self.name, f"no token: {error.reason.value} from {error.upstream}", detail=error.detail
            ) from None

    async def json(self, method: str, url: str, *, backoff_key: str, **kwargs: Any) -> Any:
        """:meth:`request`, then the body parsed as JSON (``invalid_response`` if it is not)."""
        response = await self.request(method, url, backoff_key=backoff_key, **kwargs)
        return self.parse_json(response)

    def parse_json(self, response: httpx.Response) -> Any:
        """The response body as JSON, or :class:`InvalidResponseError` (a body nested too deep for the
        parser is one too: it is the upstream's answer that is wrong, not the check)."""
        try:
            return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            raise InvalidResponseError(
                self.name, f"answer is not JSON ({error.__class__.__name__})", response.status_code
            ) from None

    async def _send(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any], *, idempotent: bool
    ) -> httpx.Response:
        async with self._slots:
            for attempt in (1, 2):
                self.requests += 1
                try:
                    async with asyncio.timeout(self._deadline):
                        return await self._exchange(method, url, headers, kwargs)
                except TimeoutError:
                    raise UpstreamError(
                        self.name,
                        Reason.TIMEOUT,
                        f"{method} not answered in full within {self._deadline:g} s",
                        maybe_processed=True,
                    ) from None
                except _ClosedBeforeAnswerError:
                    # httpcore has dropped the dead connection, so a retry goes out on a fresh one. Only a
                    # request that may be repeated is retried; a portal POST may have been acted on and
                    # takes the unconfirmed path instead (``maybe_processed``).
                    if attempt == 1 and idempotent:
                        continue
                    raise UpstreamError(
                        self.name,
                        Reason.RESET,
                        f"{method} failed: the connection was closed before any answer",
                        maybe_processed=True,
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        """One request and its whole (bounded) answer."""
        try:
            request = self.client.build_request(method, url, headers=headers, timeout=self._timeout, **kwargs)
            try:
                response = await self.client.send(request, stream=True)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
                # The connection was there but closed (or reset) before any answer: on a reused
                # connection, the server's idle timeout raced the request.
                if _transport_reason(error) is Reason.TLS:
                    raise
                raise _ClosedBeforeAnswerError from None
            try:
                body = bytearray()
                # Read decoded chunks and stop at the bound: a huge (or decompression-bomb) answer
                # is refused before it is held in memory.
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self._max_response_bytes:
                        raise ResponseTooLargeError(
                            self.name,
                            f"answer larger than {self._max_response_bytes} bytes",
                            response.status_code,
                        )
            finally:
                await response.aclose()
        except httpx.TimeoutException as error:
            raise UpstreamError(
                self.name,
                Reason.TIMEOUT,
                f"{method} timed out ({type(error).__name__})",
                maybe_processed=not isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout),
            ) from None
        except httpx.DecodingError:
            raise InvalidResponseError(self.name, "answer could not be decoded") from None
        except httpx.HTTPError as error:
            # A refused or failed connection never carried the request; anything later might have.
            raise UpstreamError(
                self.name,
                _transport_reason(error),
                f"{method} failed: {type(error).__name__}",
                maybe_processed=not isinstance(error, httpx.ConnectError),
            ) from None
        headers_out = [
            (key, value)
            for key, value in response.headers.multi_items()
            if key.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers_out, content=bytes(body), request=request)

    def _check(self, response: httpx.Response, backoff_key: str) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 429:
            delay = parse_retry_after(response.headers.get("Retry-After"), self.clock.now())
            self.backoff.hold(backoff_key, delay)
            raise RateLimitedError(self.name, delay)
        detail = diagnostics.from_body(response.content)
        if status in (401, 403):
            raise AuthError(self.name, f"refused with HTTP {status}", status, detail=detail)
        reason = Reason.HTTP_5XX if status >= 500 else Reason.HTTP_4XX
        code = diagnostics.error_code(response.content)
        raise UpstreamError(self.name, reason, f"HTTP {status}", status, detail=detail, error_code=code)


def _transport_reason(error: httpx.HTTPError) -> Reason:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return Reason.TLS
        cause = cause.__cause__ or cause.__context__
    if "SSL" in str(error) or "CERTIFICATE" in str(error).upper():
        return Reason.TLS
    return Reason.CONNECT
