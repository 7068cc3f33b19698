"""Channel ``portal``: the KS Fiks bekymringsmelding producer API (DESIGN 3.2).

Sending is what KS's own Java client (``ks-no/fiks-bekymringsmelding-produsent-klient``) does: find the
receiving office (the default receiver unless the route names one) and the report version it supports,
fetch its encryption certificates, encrypt the PDF for KS's print service and a *signed* ASiC-E (JSON +
PDF) for the fagsystem's Fiks IO account, and POST both in that version. The version is negotiated per
office from ``stottetVersjon`` (the newest both Kanari and the office support) unless the route pins one.

The status history maps onto hops: ``SENDT_FAGSYSTEM`` → forwarded, ``LEVERT`` → receipted.
``AVVIST_FAGSYSTEM``, ``SENDT_PRINT`` and ``AVVIST_PRINT`` end the canary as failed, and the ``LEVERT``
KS writes after paper post (the letter was handed to the post) is not a receipt: see
:func:`probe.channels.base.observation_from_events`. Times are local date-times without zone in the
configured time zone (Europe/Oslo).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from probe.canary import cms
from probe.canary.asice import ContainerSigner, build_asice
from probe.canary.content import CanarySubject, portal_report
from probe.canary.pdf import render_pdf
from probe.channels.base import Observation, Sent, StatusEvent, observation_from_events
from probe.channels.ks_directory import (
    Bydel,
    ReceiverKeys,
    newest_shared_version,
    parse_bydeler,
    parse_keys,
    refused_for_keys,
)
from probe.clock import NORWAY, Clock, parse_local_text
from probe.config.models import PortalSettings
from probe.config.routes import Route
from probe.errors import InvalidResponseError, Reason, UpstreamError
from probe.hops import Channel, Hop
from probe.transport.maskinporten import MaskinportenClient
from probe.transport.upstream import Upstream

HOP_OF_STATUS = {"AKSEPTERT": Hop.ACCEPTED, "SENDT_FAGSYSTEM": Hop.FORWARDED, "LEVERT": Hop.RECEIPTED}
FAILURE_STATUSES = frozenset({"AVVIST_FAGSYSTEM", "SENDT_PRINT", "AVVIST_PRINT"})
# The office list is asked in the newest API version: only v2 says which report version each office takes.
DIRECTORY_VERSION = "v2"


class PortalChannel:
    """The KS Fiks bekymringsmelding producer API."""

    channel = Channel.PORTAL
    can_find = False

    def __init__(
        self,
        settings: PortalSettings,
        upstream: Upstream,
        maskinporten: MaskinportenClient,
        clock: Clock,
        signer: ContainerSigner,
    ) -> None:
        self._settings = settings
        self._upstream = upstream
        self._token = maskinporten.source([settings.scope])
        self._clock = clock
        self._signer = signer
        self._base = settings.base_url
        self._bydeler: dict[tuple[str, str], tuple[float, list[Bydel]]] = {}
        self._keys: dict[tuple[str, str, str], ReceiverKeys] = {}

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
        listing = "v1" if route.api_version == "v1" else DIRECTORY_VERSION
        now = self._clock.now()
        key = (route.kommunenummer, listing)
        cached = self._bydeler.get(key)
        if cached is None or cached[0] <= now:
            answer = await self._get_json(
                f"api/{listing}/kommuner/{route.kommunenummer}/bydeler", route.kommunenummer
            )
            cached = (now + self._settings.directory_cache, parse_bydeler(answer))
            self._bydeler[key] = cached
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

    def version_for(self, route: Route, office: Bydel) -> str:
        """The report version to send ``office``: negotiated, or the route's pinned one. A pinned version
        newer than the office supports is refused before sending (it would only go to paper post)."""
        if route.api_version == "auto":
            return newest_shared_version(office)
        pinned = route.api_version
        if office.supported_version is not None and int(pinned[1:]) > office.supported_version:
            raise UpstreamError(
                self.channel.value,
                Reason.HTTP_4XX,
                f"office {route.kommunenummer}/{office.number} supports v{office.supported_version}, "
                f"the route pins {pinned}",
                detail=f"stottetVersjon={office.supported_version} api_version={pinned}",
            )
        return pinned

    async def keys(self, kommunenummer: str, bydelsnummer: str, version: str) -> ReceiverKeys:
        """The receiver's print and Fiks IO certificates (cached, never past their validTo)."""
        now = self._clock.now()
        key = (kommunenummer, bydelsnummer, version)
        cached = self._keys.get(key)
        if cached is not None and cached.use_until > now:
            return cached
        answer = await self._get_json(
            f"api/{version}/mottak/fagsystem/{kommunenummer}/{bydelsnummer}/krypteringsnokler", kommunenummer
        )
        keys = parse_keys(answer, now + self._settings.directory_cache)
        self._keys[key] = keys
        return keys

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        """Encrypt and submit the canary; ``Sent.upstream_id`` is KS's report id."""
        office = await self.bydel(route)
        version = self.version_for(route, office)
        subject = dataclasses.replace(
            subject, bydelsnummer=office.number, bydelsnavn=office.name, time_zone=self._settings.time_zone
        )
        report = json.dumps(portal_report(subject, version), ensure_ascii=False).encode()
        pdf = render_pdf(subject)
        container = build_asice(
            {"bekymringsmelding.json": report, "bekymringsmelding.pdf": pdf}, self._signer
        )
        for attempt in (1, 2):
            keys = await self.keys(route.kommunenummer, office.number, version)
            try:
                answer = await self._submit(route, office, version, keys, pdf=pdf, container=container)
                break
            except UpstreamError as error:
                # A refusal naming the keys after KS changed them: fetch them afresh and try once more
                # (KS had not accepted the report, so nothing is sent twice).
                if attempt == 2 or not refused_for_keys(error):
                    raise
                self.forget_keys(route.kommunenummer, office.number)
        report_id = answer.get("uuid") if isinstance(answer, dict) else None
        if not isinstance(report_id, str) or not report_id:
            raise InvalidResponseError(self.channel.value, "POST answer has no uuid")
        return Sent(report_id, self._clock.now(), api_version=version)

    def forget_keys(self, kommunenummer: str, bydelsnummer: str) -> None:
        """Drop the office's cached certificates (every version), so the next send fetches them."""
        for key in [key for key in self._keys if key[:2] == (kommunenummer, bydelsnummer)]:
            del self._keys[key]

    async def _submit(
        self, route: Route, office: Bydel, version: str, keys: ReceiverKeys, *, pdf: bytes, container: bytes
    ) -> Any:
        """The ``mottak`` POST of one encrypted report: its parsed answer."""
        encrypted_pdf = cms.encrypt(pdf, keys.print_certificate)
        encrypted_asice = cms.encrypt(container, keys.fiks_io_certificate)
        if len(encrypted_pdf) + len(encrypted_asice) > self._settings.max_payload_bytes:
            raise UpstreamError(self.channel.value, Reason.HTTP_4XX, "payload over KS's 5 MB limit")
        return await self._upstream.json(
            "POST",
            f"{self._base}/api/{version}/mottak/fagsystem/{self._settings.fiks_org_id}/"
            f"{route.kommunenummer}/{office.number}/offentlig",
            backoff_key=route.kommunenummer,
            token=self._token,
            headers=self._headers(),
            files={
                "bekymringsmelding": ("bekymringsmelding.pdf", encrypted_pdf, "application/octet-stream"),
                "asice": ("asice.zip", encrypted_asice, "application/octet-stream"),
            },
        )

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        """The report's status history mapped onto hops, asked in the version the report was sent in."""
        version = api_version or DIRECTORY_VERSION
        answer = await self._get_json(
            f"api/{version}/mottak/fagsystem/{self._settings.fiks_org_id}/bekymringsmelding/{upstream_id}/status",
            route.kommunenummer,
        )
        return parse_status_history(answer, self._settings.time_zone)

    async def find(self, route: Route, canary_id: str) -> str | None:
        """KS chooses report ids, and its API cannot search by content: a lost answer cannot be found."""
        return None


def parse_status_history(answer: Any, time_zone: str = NORWAY) -> Observation:
    """Map ``[{bekymringsmeldingId, tidspunkt, tilstand, beskrivelse}]`` onto hops.

    ``tidspunkt`` is a local date-time without zone in ``time_zone`` (an explicit offset is honoured).
    Unknown ``tilstand`` values are tolerated (KS may add states) and kept as the last status; a later
    hop implies the earlier ones (a ``LEVERT`` report was forwarded, even if that entry is missing); the
    ``beskrivelse`` of the first failure (the fagsystem's reason, as KS passes it on) is kept as detail.
    """
    if not isinstance(answer, list):
        raise InvalidResponseError(Channel.PORTAL.value, "status answer is not a list")
    events: list[StatusEvent] = []
    for entry in answer:
        if not isinstance(entry, dict) or not isinstance(entry.get("tilstand"), str):
            raise InvalidResponseError(Channel.PORTAL.value, "status entry without tilstand")
        when = entry.get("tidspunkt")
        description = entry.get("beskrivelse")
        try:
            at = parse_local_text(when, time_zone) if isinstance(when, str) else None
        except ValueError:
            at = None
        if at is None:
            raise InvalidResponseError(Channel.PORTAL.value, "status entry with a malformed tidspunkt")
        events.append(StatusEvent(at, entry["tilstand"], description if isinstance(description, str) else ""))
    return observation_from_events(events, Channel.PORTAL, HOP_OF_STATUS, FAILURE_STATUSES)
