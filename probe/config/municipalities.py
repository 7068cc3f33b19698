"""``municipalities/<kommunenummer>-<slug>.yaml``: one onboarded municipality, its vendor, its channels
and the people who receive its alerts."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from probe.config.durations import DeliveryTime, PollInterval, SendInterval
from probe.config.fields import VENDOR_ID_PATTERN, ApiVersionChoice, HttpUrl, Organisasjonsnummer, Strict
from probe.config.office import OfficeHoursOverride
from probe.hops import Channel, Hop


class MunicipalityChannel(Strict):
    """Per-municipality overrides of one channel's settings."""

    enabled: bool = True
    interval: SendInterval | None = None
    deadline: DeliveryTime | None = None
    poll_interval: PollInterval | None = None
    final_hop: Hop | None = None
    bydel: str | None = Field(default=None, pattern=r"^\d{2}$")
    # Portal: pin the report version instead of negotiating it from the office's stottetVersjon.
    api_version: ApiVersionChoice | None = None
    # Altinn: send this route's canary as ordinary (not confidential) mail.
    confidential: bool | None = None
    # Altinn: the organisation that receives the canary, when it is not the municipality's own number.
    # TT02 (Altinn's test environment) holds mainly synthetic organisations, so a municipality's test
    # recipient is often another number than the one in Enhetsregisteret.
    recipient_organisasjonsnummer: Organisasjonsnummer | None = None
    # Hops a person makes by hand on this route (a fagsystem whose registration is manual): their
    # deadlines count in office time, as Altinn's fetched and read always do.
    manual_hops: list[Hop] = []


class Contact(Strict):
    """Someone at the municipality who receives its alerts."""

    name: str = Field(min_length=1)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook_url: HttpUrl | None = None


class MunicipalityFile(Strict):
    """``municipalities/<kommunenummer>-<slug>.yaml``: one onboarded municipality."""

    kommunenummer: str = Field(pattern=r"^\d{4}$")
    name: str = Field(min_length=1)
    organisasjonsnummer: str | None = Field(default=None, pattern=r"^\d{9}$")
    vendor: str = Field(pattern=VENDOR_ID_PATTERN)
    bydel: str | None = Field(default=None, pattern=r"^\d{2}$")
    channels: dict[Channel, MunicipalityChannel]
    # Paged with the municipality's critical alerts.
    contacts: list[Contact] = []
    # Get the municipality's warnings (tickets); without them they reach the operations centre only.
    ticket_contacts: list[Contact] = []
    # The office's own hours and closures (e.g. its summer weeks), laid over kanari.yaml's.
    office_hours: OfficeHoursOverride | None = None

    # Numbers stay text: pydantic refuses a YAML integer for a ``str`` field, and the error names what
    # was written (an unquoted 0301 is the octal number 193), so nobody's 0301 silently becomes 301.

    @field_validator("channels", mode="before")
    @classmethod
    def _bare_channel_means_defaults(cls, value: Any) -> Any:
        # ``portal:`` with nothing after it is YAML for None; the operator means "with the defaults".
        if isinstance(value, dict):
            return {key: {} if overrides is None else overrides for key, overrides in value.items()}
        return value


_SLUG = re.compile(r"^(\d{4})(?:-.+)?\.ya?ml$")


def municipality_file_number(file_name: str) -> str | None:
    """The kommunenummer a municipality file's name promises (``4601-bergen.yaml`` → ``4601``)."""
    match = _SLUG.match(file_name)
    return match.group(1) if match else None
