"""Client of a vendor's read-back API (DESIGN 3.4, ``docs/readback-openapi.yaml``).

One ``?since=`` call per municipality and poll answers for every canary of that municipality at once;
matching and marker verification happen in the engine.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from probe.clock import parse_rfc3339, to_rfc3339
from probe.config.vendors import Vendor
from probe.errors import InvalidResponseError, UpstreamError
from probe.transport.maskinporten import MaskinportenClient
from probe.transport.upstream import TokenSource, Upstream

UPSTREAM = "readback"


@dataclasses.dataclass(frozen=True, slots=True)
class Registration:
    """A canary as the vendor's fagsystem registered it."""

    canary_id: str
    marker: str
    registered_at: float


class ReadbackClient:
    """The read-back API of one vendor."""

    def __init__(self, vendor: Vendor, upstream: Upstream, maskinporten: MaskinportenClient | None) -> None:
        if vendor.readback is None:
            raise ValueError(f"vendor {vendor.id} has no read-back API")
        self.vendor = vendor.id
        self._base = vendor.readback.base_url
        auth = vendor.readback.auth
        self._upstream = upstream
        self._token: TokenSource
        if auth.type == "maskinporten":
            if maskinporten is None or auth.scope is None:
                raise ValueError("maskinporten read-back auth needs a Maskinporten client and a scope")
            self._token = maskinporten.source([auth.scope])
        else:
            static = auth.token
            if static is None:
                raise ValueError("static read-back auth needs a token")

            async def static_token(fresh: bool) -> str:
                return static.value()

            self._token = static_token

    def url(self, kommunenummer: str, suffix: str = "") -> str:
        """The municipality's list URL, or with ``suffix`` (``/{canaryId}``) one canary's."""
        return f"{self._base}/kanari/v1/municipalities/{kommunenummer}/canaries{suffix}"

    async def since(self, kommunenummer: str, since: float) -> list[Registration]:
        """Every canary the vendor registered for the municipality since ``since`` (duplicates kept)."""
        answer = await self._upstream.json(
            "GET",
            self.url(kommunenummer),
            backoff_key=kommunenummer,
            token=self._token,
            params={"since": to_rfc3339(since)},
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("canaries"), list):
            raise InvalidResponseError(UPSTREAM, "answer has no canaries list")
        return [parse_registration(entry) for entry in answer["canaries"]]

    async def delete(self, kommunenummer: str, canary_id: str) -> None:
        """Ask the vendor to remove the canary from case workers' view; already gone is fine."""
        try:
            await self._upstream.request(
                "DELETE",
                self.url(kommunenummer, f"/{canary_id}"),
                backoff_key=kommunenummer,
                token=self._token,
            )
        except UpstreamError as error:
            if error.status_code != 404:
                raise


def parse_registration(entry: Any) -> Registration:
    """One ``{canaryId, marker, channel, registeredAt}`` object, or :class:`InvalidResponseError`."""
    if not isinstance(entry, dict):
        raise InvalidResponseError(UPSTREAM, "canary entry is not an object")
    fields = (entry.get("canaryId"), entry.get("marker"), entry.get("channel"), entry.get("registeredAt"))
    if not all(isinstance(field, str) and field for field in fields):
        raise InvalidResponseError(UPSTREAM, "canary entry lacks canaryId/marker/channel/registeredAt")
    canary_id, marker, _, registered_at = (str(field) for field in fields)
    try:
        when = parse_rfc3339(registered_at)
    except ValueError:
        raise InvalidResponseError(UPSTREAM, "registeredAt is not RFC 3339") from None
    return Registration(canary_id, marker, when)
