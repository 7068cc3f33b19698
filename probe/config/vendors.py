"""``vendors.yaml``: the makers of receiving systems, their read-back APIs and where their alerts go."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from probe.config.fields import VENDOR_ID_PATTERN, Receiver, Strict, UpstreamUrl
from probe.config.types import SecretSource


class ReadbackAuth(Strict):
    """How Kanari authenticates to a vendor's read-back API: a static bearer key, or a Maskinporten
    token with a scope the vendor chose."""

    type: Literal["static", "maskinporten"]
    token: SecretSource | None = None
    scope: str | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> ReadbackAuth:
        if self.type == "static" and (self.token is None or self.scope is not None):
            raise ValueError("type static needs 'token' (a secret reference) and no 'scope'")
        if self.type == "maskinporten" and (self.scope is None or self.token is not None):
            raise ValueError("type maskinporten needs 'scope' and no 'token'")
        return self


class VendorReadback(Strict):
    """A vendor's read-back API (DESIGN 3.4)."""

    base_url: UpstreamUrl
    auth: ReadbackAuth


class Vendor(Strict):
    """A maker of a receiving system (fagsystem)."""

    id: str = Field(pattern=VENDOR_ID_PATTERN)
    name: str = Field(min_length=1)
    readback: VendorReadback | None = None
    # Paged with the vendor's critical alerts.
    alert_receiver: Receiver | None = None
    # Gets the vendor's warnings (tickets); without it they reach the operations centre only.
    ticket_receiver: Receiver | None = None


class VendorsFile(Strict):
    """``vendors.yaml``."""

    vendors: list[Vendor]
