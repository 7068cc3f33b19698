"""The field types every configuration file shares: strict models, URLs (and which may be plain http),
listen addresses, time zones, organisation numbers and report versions, each with the message an
operator can act on."""

from __future__ import annotations

import ipaddress
import zoneinfo
from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from probe.config.listen import parse_listen
from probe.errors import ListenError

VENDOR_ID_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"


def is_loopback_host(host: str) -> bool:
    """True for this machine's own addresses: 127.0.0.0/8, ``::1`` and ``localhost``. Nothing sent to
    them leaves the machine, so plain http is harmless there (the sandbox and the tests use it)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_shape(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError("must be an http(s) URL such as https://api.fiks.test.ks.no/bekymringsmelding")
    return value


def _http_url(value: str) -> str:
    return _url_shape(value).rstrip("/")


def _https_unless_local(problem: str) -> Callable[[str], str]:
    """A validator refusing plain ``http://`` to any host but this machine with ``problem``."""

    def check(value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme == "http" and not is_loopback_host(parsed.hostname or ""):
            raise ValueError(problem)
        return value

    return check


# Every request to an upstream carries a credential: the integration password (KS), a signed grant
# assertion and the token it buys (Maskinporten), a bearer token (KS, Altinn, read-back). Over plain http
# any host on the way reads and replays them.
_encrypted = _https_unless_local(
    "plain http:// to another host: the credentials Kanari sends there (the integration password, "
    "Maskinporten assertions, bearer tokens) would travel unencrypted; use https:// (http:// is "
    "allowed only to this machine: 127.0.0.1, ::1, localhost)"
)
_https_issuer = _https_unless_local(
    "plain http:// to another host: Maskinporten's audience is its issuer, an https:// address "
    "(e.g. https://test.maskinporten.no/); http:// is allowed only for a sandbox on this machine "
    "(127.0.0.1, ::1, localhost)"
)


def _listen_address(value: str) -> str:
    try:
        parse_listen(value)
    except ListenError as error:
        raise ValueError(str(error)) from None
    return value


def listen_host(address: str) -> str:
    """The host of a valid listen address (``[::1]:9464`` → ``::1``)."""
    return parse_listen(address)[0]


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An http(s) URL, trailing slash removed; plain http to any host (alert webhooks)."""
UpstreamUrl = Annotated[str, AfterValidator(_http_url), AfterValidator(_encrypted)]
"""The base of an upstream Kanari sends credentials to: https, or plain http to this machine only."""
Audience = Annotated[str, AfterValidator(_url_shape), AfterValidator(_https_issuer)]
"""Maskinporten's audience (its issuer, e.g. ``https://test.maskinporten.no/``), kept exactly as
written: Maskinporten compares it character for character, trailing slash included."""
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
