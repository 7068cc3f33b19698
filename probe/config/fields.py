"""The field types every configuration file shares: strict models, URLs, listen addresses, time zones,
organisation numbers and report versions, each with the message an operator can act on."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

VENDOR_ID_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError("must be an http(s) URL such as https://api.fiks.test.ks.no/bekymringsmelding")
    return value.rstrip("/")


def _listen_address(value: str) -> str:
    host, separator, port = value.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9464")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
ListenAddress = Annotated[str, AfterValidator(_listen_address)]


class Strict(BaseModel):
    """Base of the configuration models: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid")


class Receiver(Strict):
    """Where an alert receiver is reached: an Alertmanager webhook and/or an e-mail address."""

    webhook_url: HttpUrl | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @model_validator(mode="after")
    def _reachable(self) -> Receiver:
        if self.webhook_url is None and self.email is None:
            raise ValueError("give a webhook_url, an email, or both")
        return self


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Oslo") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


def _organisasjonsnummer(value: str) -> str:
    """Enhetsregisteret's check digit: weights 3 2 7 6 5 4 3 2 over the first eight digits, modulo 11."""
    if len(value) != 9 or not value.isdigit():
        raise ValueError("must be nine digits")
    remainder = (
        sum(int(digit) * weight for digit, weight in zip(value[:8], (3, 2, 7, 6, 5, 4, 3, 2), strict=True))
        % 11
    )
    check = 0 if remainder == 0 else 11 - remainder
    if check == 10 or check != int(value[8]):
        raise ValueError("is not an organisation number (its check digit is wrong)")
    return value


Organisasjonsnummer = Annotated[str, AfterValidator(_organisasjonsnummer)]


ApiVersionChoice = Literal["auto", "v1", "v2"]
"""A portal route's report version: ``auto`` sends each office the newest version both Kanari and the
office (its ``stottetVersjon``) support; ``v1``/``v2`` pins one."""
