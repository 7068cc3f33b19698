"""Maskinporten token client (DESIGN 3.1): the JWT-bearer grant, a cache per scope set, single-flight
refresh.

The assertion is signed with RS256 by either a registered key (``kid`` header) or a business
certificate (``x5c`` header with the chain). Tokens are cached until ``refresh_margin`` before they
expire; concurrent callers needing the same token wait for one grant instead of each asking. A caller
that got 401 with a cached token asks again with ``fresh=True`` (once; see
:class:`probe.transport.upstream.Upstream`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding

from probe.clock import Clock
from probe.config.models import MaskinportenSettings
from probe.errors import AuthError, InvalidResponseError, Reason, UpstreamError
from probe.transport.upstream import TokenSource, Upstream

UPSTREAM = "maskinporten"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclasses.dataclass(frozen=True)
class Token:
    """An access token and when Kanari stops using it."""

    value: str = dataclasses.field(repr=False)
    use_until: float


class MaskinportenClient:
    """Gets and caches Maskinporten access tokens for one client."""

    def __init__(
        self,
        settings: MaskinportenSettings,
        key: RSAPrivateKey,
        upstream: Upstream,
        clock: Clock,
        certificate_chain: Sequence[x509.Certificate] = (),
    ) -> None:
        if settings.certificate_chain_file is not None and not certificate_chain:
            raise ValueError("x5c mode needs the certificate chain")
        self._settings = settings
        self._key = key
        self._upstream = upstream
        self._clock = clock
        self._x5c = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode() for cert in certificate_chain]
        self._cache: dict[tuple[str, ...], Token] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self.grants = 0

    def source(self, scopes: Sequence[str]) -> TokenSource:
        """A token source for :meth:`probe.transport.upstream.Upstream.request` with these scopes."""

        async def token(fresh: bool) -> str:
            return await self.token(scopes, fresh=fresh)

        return token

    async def token(self, scopes: Sequence[str], *, fresh: bool = False) -> str:
        """An access token for ``scopes``; ``fresh`` drops the cached one first (after a 401)."""
        key = tuple(sorted(scopes))
        cached = self._cache.get(key)
        if fresh and cached is not None:
            self._cache.pop(key, None)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached is not None and cached.use_until > self._clock.now():
                return cached.value
            token = await self._grant(key)
            self._cache[key] = token
            return token.value

    def assertion(self, scopes: Sequence[str]) -> str:
        """A signed JWT grant assertion for ``scopes`` (a new ``jti`` each time)."""
        now = int(self._clock.now())
        claims = {
            "aud": self._settings.audience,
            "iss": self._settings.client_id,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + int(self._settings.assertion_lifetime),
            "jti": str(uuid.uuid4()),
        }
        headers: dict[str, object] = {"alg": "RS256"}
        if self._x5c:
            headers["x5c"] = self._x5c
        else:
            headers["kid"] = self._settings.key_id
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    async def _grant(self, scopes: tuple[str, ...]) -> Token:
        self.grants += 1
        try:
            answer = await self._ask(scopes)
        except AuthError:
            raise
        except UpstreamError as error:
            # Maskinporten answers a refused grant with 400 and an OAuth error code; that is an
            # authentication failure of Kanari's client, not a broken upstream.
            if error.status_code == 400:
                raise AuthError(UPSTREAM, "grant refused (HTTP 400)", 400, detail=error.detail) from None
            raise
        if not isinstance(answer, dict):
            raise InvalidResponseError(UPSTREAM, "token answer is not a JSON object")
        access_token = answer.get("access_token")
        expires_in = answer.get("expires_in")
        if not isinstance(access_token, str) or not access_token:
            raise InvalidResponseError(UPSTREAM, "token answer has no access_token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise InvalidResponseError(UPSTREAM, "token answer has no positive expires_in")
        lifetime = max(0.0, float(expires_in) - self._settings.refresh_margin)
        return Token(access_token, self._clock.now() + lifetime)

    async def _ask(self, scopes: tuple[str, ...]) -> Any:
        """POST the grant; once more, with a new assertion, when the connection closed before any answer.
        The upstream does not repeat the POST itself: Maskinporten refuses an assertion it has seen
        (``jti``), so a repeat needs a fresh one."""
        for attempt in (1, 2):
            try:
                return await self._upstream.json(
                    "POST",
                    self._settings.token_url,
                    backoff_key="token",
                    data={"grant_type": GRANT_TYPE, "assertion": self.assertion(scopes)},
                    headers={"Accept": "application/json"},
                    idempotent=False,
                )
            except UpstreamError as error:
                if attempt == 2 or error.reason is not Reason.RESET:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover
