"""Channel ``portal``: the KS Fiks bekymringsmelding producer API (DESIGN 3.2).

Sending is what KS's own Java client does: find the receiving bydel (the default receiver unless the
route names one), fetch the receiver's encryption certificates, encrypt the PDF for KS's print service
and an ASiC-E (JSON + PDF) for the fagsystem's Fiks IO account, and POST both. The status history maps
onto hops: ``SENDT_FAGSYSTEM`` → forwarded, ``LEVERT`` → receipted; ``AVVIST_FAGSYSTEM``,
``SENDT_PRINT`` and ``AVVIST_PRINT`` end the canary as failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from typing import Any

from cryptography import x509

from probe.canary import cms
from probe.canary.asice import build_asice
from probe.canary.content import CanarySubject, portal_report
from probe.canary.pdf import render_pdf
from probe.channels.base import Observation, Sent, observation_from_events
from probe.clock import Clock
from probe.config.models import PortalSettings
from probe.config.routes import Route
from probe.errors import InvalidResponseError, Reason, UpstreamError
from probe.hops import Channel, Hop
from probe.maskinporten import MaskinportenClient
from probe.upstream import Upstream

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
HOP_OF_STATUS = {"AKSEPTERT": Hop.ACCEPTED, "SENDT_FAGSYSTEM": Hop.FORWARDED, "LEVERT": Hop.RECEIPTED}
FAILURE_STATUSES = frozenset({"AVVIST_FAGSYSTEM", "SENDT_PRINT", "AVVIST_PRINT"})


def parse_local_time(text: object) -> float:
    """KS times are local date-times without zone (Europe/Oslo); an explicit offset is honoured."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=OSLO)
    return parsed.timestamp()


@dataclasses.dataclass(frozen=True)
class Bydel:
    """A receiving office of a municipality."""

    number: str
    name: str
    default_receiver: bool


@dataclasses.dataclass(frozen=True)
class ReceiverKeys:
    """The certificates a report is encrypted for, and until when they may be cached."""

    print_certificate: x509.Certificate
    fiks_io_certificate: x509.Certificate
    use_until: float


class PortalChannel:
    """The KS Fiks bekymringsmelding producer API."""

    channel = Channel.PORTAL
    can_find = False

    def __init__(
        self, settings: PortalSettings, upstream: Upstream, maskinporten: MaskinportenClient, clock: Clock
    ) -> None:
        self._settings = settings
        self._upstream = upstream
        self._token = maskinporten.source([settings.scope])
        self._clock = clock
        self._base = settings.base_url
        self._bydeler: dict[str, tuple[float, list[Bydel]]] = {}
        self._keys: dict[tuple[str, str], ReceiverKeys] = {}

    def _headers(self) -> dict[str, str]:
        return {
            "IntegrasjonId": self._settings.integrasjon_id,
            "IntegrasjonPassord": self._settings.integrasjon_passord.value(),
            "Accept": "application/json",
        }

    async def _get_json(self, path: str, kommunenummer: str) -> Any:
        return await self._upstream.json(
            "GET",
            f"{self._base}/{path}",
            backoff_key=kommunenummer,
            token=self._token,
            headers=self._headers(),
        )

    async def bydel(self, route: Route) -> Bydel:
        """The office to address: the route's bydel if it names one, else the default receiver."""
        now = self._clock.now()
        cached = self._bydeler.get(route.kommunenummer)
        if cached is None or cached[0] <= now:
            answer = await self._get_json(
                f"api/v1/kommuner/{route.kommunenummer}/bydeler", route.kommunenummer
            )
            cached = (now + self._settings.directory_cache, _parse_bydeler(answer))
            self._bydeler[route.kommunenummer] = cached
        bydeler = cached[1]
        if not bydeler:
            raise UpstreamError(
                self.channel.value,
                Reason.HTTP_4XX,
                f"municipality {route.kommunenummer} does not receive through Fiks",
            )
        for bydel in bydeler:
            if (route.bydel is not None and bydel.number == route.bydel) or (
                route.bydel is None and bydel.default_receiver
            ):
                return bydel
        wanted = route.bydel or "a default receiver"
        raise UpstreamError(
            self.channel.value, Reason.HTTP_4XX, f"municipality {route.kommunenummer} has no {wanted}"
        )

    async def keys(self, kommunenummer: str, bydelsnummer: str) -> ReceiverKeys:
        """The receiver's print and Fiks IO certificates (cached, never past their validTo)."""
        now = self._clock.now()
        cached = self._keys.get((kommunenummer, bydelsnummer))
        if cached is not None and cached.use_until > now:
            return cached
        version = self._settings.api_version
        answer = await self._get_json(
            f"api/{version}/mottak/fagsystem/{kommunenummer}/{bydelsnummer}/krypteringsnokler", kommunenummer
        )
        keys = _parse_keys(answer, now + self._settings.directory_cache)
        self._keys[(kommunenummer, bydelsnummer)] = keys
        return keys

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Encrypt and submit the canary; ``Sent.upstream_id`` is KS's report id."""
        bydel = await self.bydel(route)
        subject = dataclasses.replace(subject, bydelsnummer=bydel.number, bydelsnavn=bydel.name)
        keys = await self.keys(route.kommunenummer, bydel.number)
        report = json.dumps(portal_report(subject, self._settings.api_version), ensure_ascii=False).encode()
        pdf = render_pdf(subject)
        encrypted_pdf = cms.encrypt(pdf, keys.print_certificate)
        container = build_asice({"bekymringsmelding.json": report, "bekymringsmelding.pdf": pdf})
        encrypted_asice = cms.encrypt(container, keys.fiks_io_certificate)
        if len(encrypted_pdf) + len(encrypted_asice) > self._settings.max_payload_bytes:
            raise UpstreamError(self.channel.value, Reason.HTTP_4XX, "payload over KS's 5 MB limit")
        version = self._settings.api_version
        answer = await self._upstream.json(
            "POST",
            f"{self._base}/api/{version}/mottak/fagsystem/{self._settings.fiks_org_id}/"
            f"{route.kommunenummer}/{bydel.number}/offentlig",
            backoff_key=route.kommunenummer,
            token=self._token,
            headers=self._headers(),
            files={
                "bekymringsmelding": ("bekymringsmelding.pdf", encrypted_pdf, "application/octet-stream"),
                "asice": ("asice.zip", encrypted_asice, "application/octet-stream"),
            },
        )
        report_id = answer.get("uuid") if isinstance(answer, dict) else None
        if not isinstance(report_id, str) or not report_id:
            raise InvalidResponseError(self.channel.value, "POST answer has no uuid")
        return Sent(report_id, self._clock.now())

    async def check(self, route: Route, upstream_id: str) -> Observation:
        """The report's status history mapped onto hops."""
        answer = await self._get_json(
            f"api/{self._settings.api_version}/mottak/fagsystem/{self._settings.fiks_org_id}/"
            f"bekymringsmelding/{upstream_id}/status",
            route.kommunenummer,
        )
        return parse_status_history(answer)

    async def find(self, route: Route, canary_id: str) -> str | None:
        """KS chooses report ids, and its API cannot search by content: a lost answer cannot be found."""
        return None


def parse_status_history(answer: Any) -> Observation:
    """Map ``[{bekymringsmeldingId, tidspunkt, tilstand, beskrivelse}]`` onto hops.

    Unknown ``tilstand`` values are tolerated (KS may add states) and kept as the last status; a later
    hop implies the earlier ones (a ``LEVERT`` report was forwarded, even if that entry is missing).
    """
    if not isinstance(answer, list):
        raise InvalidResponseError(Channel.PORTAL.value, "status answer is not a list")
    events: list[tuple[float, str]] = []
    for entry in answer:
        if not isinstance(entry, dict) or not isinstance(entry.get("tilstand"), str):
            raise InvalidResponseError(Channel.PORTAL.value, "status entry without tilstand")
        try:
            events.append((parse_local_time(entry.get("tidspunkt")), entry["tilstand"]))
        except ValueError:
            raise InvalidResponseError(
                Channel.PORTAL.value, "status entry with a malformed tidspunkt"
            ) from None
    return observation_from_events(
        events, HOP_OF_STATUS, FAILURE_STATUSES, (Hop.ACCEPTED, Hop.FORWARDED, Hop.RECEIPTED)
    )


def _parse_bydeler(answer: Any) -> list[Bydel]:
    if not isinstance(answer, list):
        raise InvalidResponseError(Channel.PORTAL.value, "bydeler answer is not a list")
    bydeler = []
    for entry in answer:
        if not isinstance(entry, dict):
            raise InvalidResponseError(Channel.PORTAL.value, "bydel entry is not an object")
        number, name, default = (
            entry.get("bydelsnummer"),
            entry.get("bydelsnavn"),
            entry.get("standardMottaker"),
        )
        if not isinstance(number, str) or not isinstance(name, str) or not isinstance(default, bool):
            raise InvalidResponseError(
                Channel.PORTAL.value, "bydel entry lacks bydelsnummer/bydelsnavn/standardMottaker"
            )
        bydeler.append(Bydel(number, name, default))
    return bydeler


def _parse_keys(answer: Any, cache_until: float) -> ReceiverKeys:
    if not isinstance(answer, dict):
        raise InvalidResponseError(Channel.PORTAL.value, "krypteringsnokler answer is not an object")
    certificates = []
    use_until = cache_until
    for field in ("printOffentligNokkel", "fiksIOOffentligNokkel"):
        key = answer.get(field)
        if not isinstance(key, dict) or not isinstance(key.get("nokkel"), str):
            raise InvalidResponseError(Channel.PORTAL.value, f"krypteringsnokler lacks {field}.nokkel")
        try:
            certificate = x509.load_pem_x509_certificate(key["nokkel"].encode())
        except ValueError:
            raise InvalidResponseError(
                Channel.PORTAL.value, f"{field}.nokkel is not a PEM certificate"
            ) from None
        # Never cache a certificate past its own expiry (``validTo`` says the same in local time).
        use_until = min(use_until, certificate.not_valid_after_utc.timestamp())
        certificates.append(certificate)
    return ReceiverKeys(certificates[0], certificates[1], use_until)
