"""Channel ``altinn``: Altinn 3 Correspondence (DESIGN 3.3).

A Maskinporten token is exchanged for an Altinn token, the canary is sent as a correspondence to the
municipality's organisation number with the canary id as ``idempotentKey`` and ``sendersReference``
(so a retry after a crash can never create a second one), and ``details.statusHistory`` maps onto hops:
``Published`` → published, ``Fetched`` → fetched, ``Read`` → read; ``Failed`` ends the canary as failed.
Unknown statuses are tolerated.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jwt

from probe.canary.content import CanarySubject, altinn_correspondence
from probe.channels.base import Observation, Sent, observation_from_events
from probe.clock import Clock, parse_rfc3339
from probe.config.models import AltinnSettings
from probe.config.routes import Route
from probe.errors import InvalidResponseError, UpstreamError
from probe.hops import Channel, Hop
from probe.maskinporten import MaskinportenClient
from probe.upstream import Upstream

HOP_OF_STATUS = {"Published": Hop.PUBLISHED, "Fetched": Hop.FETCHED, "Read": Hop.READ}
FAILURE_STATUSES = frozenset({"Failed"})
HOP_ORDER = (Hop.PUBLISHED, Hop.FETCHED, Hop.READ)
# Altinn tokens live 30 minutes; without a readable ``exp``, assume less.
FALLBACK_TOKEN_LIFETIME = 600.0
TOKEN_REFRESH_MARGIN = 60.0


class AltinnChannel:
    """Altinn 3 Correspondence, as the service owner sending the canary."""

    channel = Channel.ALTINN
    can_find = True

    def __init__(
        self, settings: AltinnSettings, upstream: Upstream, maskinporten: MaskinportenClient, clock: Clock
    ) -> None:
        self._settings = settings
        self._upstream = upstream
        self._maskinporten = maskinporten
        self._clock = clock
        self._base = settings.base_url
        self._altinn_token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def _token(self, fresh: bool) -> str:
        """An Altinn token from the Maskinporten token exchange, cached until shortly before ``exp``."""
        async with self._lock:
            now = self._clock.now()
            if not fresh and self._altinn_token is not None and self._altinn_token[1] > now:
                return self._altinn_token[0]
            response = await self._upstream.request(
                "GET",
                f"{self._base}/authentication/api/v1/exchange/maskinporten",
                backoff_key="token",
                token=self._maskinporten.source(self._settings.scopes),
            )
            token = response.text.strip().strip('"')
            if not token:
                raise InvalidResponseError(self.channel.value, "token exchange answered an empty token")
            self._altinn_token = (token, now + _lifetime(token, now))
            return token

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Send the correspondence; a 409 (same idempotentKey) means it was sent before: find it."""
        body = altinn_correspondence(subject, self._settings.resource_id, route.orgnr)
        try:
            answer = await self._upstream.json(
                "POST",
                f"{self._base}/correspondence/api/v1/correspondence",
                backoff_key=route.kommunenummer,
                token=self._token,
                json=body,
            )
        except UpstreamError as error:
            if error.status_code == 409:
                found = await self.find(route, subject.canary_id)
                if found is not None:
                    return Sent(found, self._clock.now())
            raise
        correspondences = answer.get("correspondences") if isinstance(answer, dict) else None
        if not isinstance(correspondences, list) or not correspondences:
            raise InvalidResponseError(self.channel.value, "send answer has no correspondences")
        first = correspondences[0]
        correspondence_id = first.get("correspondenceId") if isinstance(first, dict) else None
        if not isinstance(correspondence_id, str) or not correspondence_id:
            raise InvalidResponseError(self.channel.value, "send answer has no correspondenceId")
        return Sent(correspondence_id, self._clock.now())

    async def check(self, route: Route, upstream_id: str) -> Observation:
        """The correspondence's status history mapped onto hops."""
        answer = await self._upstream.json(
            "GET",
            f"{self._base}/correspondence/api/v1/correspondence/{upstream_id}/details",
            backoff_key=route.kommunenummer,
            token=self._token,
        )
        return parse_details(answer)

    async def find(self, route: Route, canary_id: str) -> str | None:
        """The correspondence whose ``sendersReference`` is the canary id, if Altinn has one."""
        answer = await self._upstream.json(
            "GET",
            f"{self._base}/correspondence/api/v1/correspondence",
            backoff_key=route.kommunenummer,
            token=self._token,
            params={
                "resourceId": self._settings.resource_id,
                "role": "Sender",
                "sendersReference": canary_id,
            },
        )
        ids = answer.get("ids") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise InvalidResponseError(self.channel.value, "search answer has no list of ids")
        return ids[0] if ids else None


def parse_details(answer: Any) -> Observation:
    """Map ``details`` (``status`` and ``statusHistory``) onto hops; a later hop implies earlier ones."""
    if not isinstance(answer, dict):
        raise InvalidResponseError(Channel.ALTINN.value, "details answer is not an object")
    history = answer.get("statusHistory")
    if not isinstance(history, list):
        raise InvalidResponseError(Channel.ALTINN.value, "details answer has no statusHistory list")
    events: list[tuple[float, str]] = []
    for entry in history:
        if not isinstance(entry, dict) or not isinstance(entry.get("status"), str):
            raise InvalidResponseError(Channel.ALTINN.value, "statusHistory entry without status")
        try:
            events.append((parse_rfc3339(str(entry.get("statusChanged"))), entry["status"]))
        except ValueError:
            raise InvalidResponseError(
                Channel.ALTINN.value, "statusHistory entry with a malformed statusChanged"
            ) from None
    current = answer.get("status")
    return observation_from_events(
        events, HOP_OF_STATUS, FAILURE_STATUSES, HOP_ORDER, current if isinstance(current, str) else None
    )


def _lifetime(token: str, now: float) -> float:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        expires = float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return FALLBACK_TOKEN_LIFETIME
    return max(0.0, expires - now - TOKEN_REFRESH_MARGIN)
