"""Channel ``altinn``: Altinn 3 Correspondence (DESIGN 3.3).

A Maskinporten token is exchanged for an Altinn token, the canary is sent as a correspondence to the
route's recipient organisation (``urn:altinn:organization:identifier-no:<orgnr>``; in TT02 possibly a
test organisation named by the municipality file) with the canary id as ``idempotentKey`` and
``sendersReference`` (so a retry after a crash can never create a second one), and
``details.statusHistory`` maps onto hops: ``Published`` → published, ``Fetched`` → fetched, ``Read`` →
read; ``Failed`` ends the canary as failed, its ``statusText`` kept as evidence. Unknown statuses are
tolerated.

Confidential by default: a route with ``confidential`` (the default) is sent with ``isConfidential:
true`` on ``resource_id``, a resource for confidential mail; one with ``confidential: false`` on
``ordinary_resource_id``. Altinn refuses any other pairing (1060/1061), and the search that finds a
canary again asks the same resource.

Kanari's token carries ``altinn:correspondence.write``, so its own ``details`` calls never add
``Fetched`` (Altinn adds it only for a recipient calling without that scope): the fetched hop is the
municipality's doing, never the probe's.

A send answered 409 with Altinn's error 1034 ("A correspondence with the same idempotent key already
exists", sent without the id) was sent before: it is found with the sender-side search, by
``idempotentKey`` first and by ``sendersReference`` if that finds nothing. :meth:`AltinnChannel.find`
(after a crash) asks the same way.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import jwt

from probe import diagnostics
from probe.canary.content import CanarySubject, altinn_correspondence
from probe.channels.base import Observation, Sent, StatusEvent, observation_from_events
from probe.clock import Clock, parse_rfc3339
from probe.config.models import AltinnSettings
from probe.config.routes import Route
from probe.errors import InvalidResponseError, Reason, UpstreamError
from probe.hops import Channel, Hop
from probe.transport.maskinporten import MaskinportenClient
from probe.transport.upstream import Upstream

# Altinn 3 Correspondence has one API version, in every path.
API_VERSION = "v1"
CORRESPONDENCE = f"/correspondence/api/{API_VERSION}/correspondence"
HOP_OF_STATUS = {"Published": Hop.PUBLISHED, "Fetched": Hop.FETCHED, "Read": Hop.READ}
FAILURE_STATUSES = frozenset({"Failed"})
# Altinn tokens live 30 minutes; without a readable ``exp``, assume less.
FALLBACK_TOKEN_LIFETIME = 600.0
TOKEN_REFRESH_MARGIN = 60.0
# Altinn's "A correspondence with the same idempotent key already exists" (Errors.cs), answered 409.
ALREADY_SENT = 1034
# Its problem details say ``"errorCode": 1034`` (a number; Altinn's own Swagger says a string such as
# ``CORR-01034``, and every coded problem also carries ``"code": "CORR-01034"``).
_ERROR_CODE = re.compile(r"^(?:CORR-)?0*(\d{1,9})$")


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

    def resource(self, route: Route) -> str:
        """The resource ``route`` sends on (and is searched on): the one for confidential mail unless the
        route sends ordinary mail."""
        if route.confidential:
            return self._settings.resource_id
        if self._settings.ordinary_resource_id is None:
            # ``config check`` refuses such a route; this guards a Route built some other way.
            raise UpstreamError(
                self.channel.value,
                Reason.HTTP_4XX,
                f"{route.name} sends ordinary mail, but no ordinary_resource_id is configured",
            )
        return self._settings.ordinary_resource_id

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Send the correspondence. A 409 with error 1034 (same idempotentKey) means it was sent before:
        find it and answer its id."""
        resource = self.resource(route)
        try:
            body = altinn_correspondence(subject, resource, route.orgnr, confidential=route.confidential)
        except ValueError as error:
            # Altinn would refuse it with a 400; it is Kanari's own request that is wrong (reason
            # http_4xx, blamed on ops), and nothing left Kanari.
            raise UpstreamError(
                self.channel.value, Reason.HTTP_4XX, "canary not sent", detail=diagnostics.clean(str(error))
            ) from None
        try:
            answer = await self._upstream.json(
                "POST",
                f"{self._base}{CORRESPONDENCE}",
                backoff_key=route.kommunenummer,
                token=self._token,
                json=body,
                # The idempotentKey makes a repeat safe: Altinn answers 1034 instead of sending twice.
                idempotent=True,
            )
        except UpstreamError as error:
            if error.status_code != 409 or error_code(error) != ALREADY_SENT:
                raise
            return await self._sent_before(route, subject.canary_id, error)
        correspondences = answer.get("correspondences") if isinstance(answer, dict) else None
        if not isinstance(correspondences, list) or not correspondences:
            raise InvalidResponseError(self.channel.value, "send answer has no correspondences")
        first = correspondences[0]
        correspondence_id = first.get("correspondenceId") if isinstance(first, dict) else None
        if not isinstance(correspondence_id, str) or not correspondence_id:
            raise InvalidResponseError(self.channel.value, "send answer has no correspondenceId")
        return Sent(correspondence_id, self._clock.now(), api_version=API_VERSION)

    async def _sent_before(self, route: Route, canary_id: str, conflict: UpstreamError) -> Sent:
        """The earlier send of a canary Altinn refused as a repeat (1034)."""
        found = await self.find(route, canary_id)
        if found is not None:
            return Sent(found, self._clock.now(), api_version=API_VERSION)
        # Altinn holds the key but neither search shows the correspondence: it exists somewhere, so the
        # canary stays in flight and is looked up again rather than judged failed now.
        raise UpstreamError(
            self.channel.value,
            Reason.HTTP_4XX,
            "409 (idempotent key already used), but the search finds no correspondence",
            409,
            maybe_processed=True,
            detail=conflict.detail,
        )

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        """The correspondence's status history mapped onto hops (``api_version`` is the portal's
        concern; Altinn has one)."""
        answer = await self._upstream.json(
            "GET",
            f"{self._base}{CORRESPONDENCE}/{upstream_id}/details",
            backoff_key=route.kommunenummer,
            token=self._token,
        )
        return parse_details(answer)

    async def find(self, route: Route, canary_id: str) -> str | None:
        """The correspondence of the canary, if Altinn has one: the sender-side search by
        ``idempotentKey`` (a global lookup by key), then by ``sendersReference`` on the route's
        resource."""
        for field in ("idempotentKey", "sendersReference"):
            ids = await self._search(route, {field: canary_id})
            if ids:
                return ids[0]
        return None

    async def _search(self, route: Route, criteria: dict[str, str]) -> list[str]:
        answer = await self._upstream.json(
            "GET",
            f"{self._base}{CORRESPONDENCE}",
            backoff_key=route.kommunenummer,
            token=self._token,
            params={"resourceId": self.resource(route), "role": "Sender", **criteria},
        )
        ids = answer.get("ids") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or not all(isinstance(item, str) and item for item in ids):
            raise InvalidResponseError(self.channel.value, "search answer has no list of ids")
        return ids


def error_code(error: UpstreamError) -> int | None:
    """Altinn's numeric error code (``errorCode``, e.g. 1034) of a refusal; ``None`` when the answer named
    none (a validation problem, a gateway's page, an empty body)."""
    match = _ERROR_CODE.match(error.error_code or "")
    return int(match.group(1)) if match else None


def parse_details(answer: Any) -> Observation:
    """Map ``details`` (``status`` and ``statusHistory``) onto hops; a later hop implies earlier ones."""
    if not isinstance(answer, dict):
        raise InvalidResponseError(Channel.ALTINN.value, "details answer is not an object")
    history = answer.get("statusHistory")
    if not isinstance(history, list):
        raise InvalidResponseError(Channel.ALTINN.value, "details answer has no statusHistory list")
    events: list[StatusEvent] = []
    for entry in history:
        if not isinstance(entry, dict) or not isinstance(entry.get("status"), str):
            raise InvalidResponseError(Channel.ALTINN.value, "statusHistory entry without status")
        text = entry.get("statusText")
        try:
            events.append(
                StatusEvent(
                    parse_rfc3339(str(entry.get("statusChanged"))),
                    entry["status"],
                    text if isinstance(text, str) else "",
                )
            )
        except ValueError:
            raise InvalidResponseError(
                Channel.ALTINN.value, "statusHistory entry with a malformed statusChanged"
            ) from None
    current = answer.get("status")
    return observation_from_events(
        events, Channel.ALTINN, HOP_OF_STATUS, FAILURE_STATUSES, current if isinstance(current, str) else None
    )


def _lifetime(token: str, now: float) -> float:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        expires = float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return FALLBACK_TOKEN_LIFETIME
    return max(0.0, expires - now - TOKEN_REFRESH_MARGIN)
