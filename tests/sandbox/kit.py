"""A client of a running sandbox for the tests: tokens, canaries built the way DESIGN 3.2 says (real CMS
encryption to the sandbox's certificates, a real ASiC-E, a JSON valid against KS's schema), and short
calls for every API."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from probe.canary import cms
from probe.canary.asice import ContainerSigner, build_asice
from probe.canary.content import CanarySubject, altinn_correspondence, portal_report
from probe.canary.identity import synthetic_fnr
from probe.canary.marker import MarkerSigner
from probe.canary.pdf import render_pdf
from probe.clock import FakeClock
from probe.hops import Channel
from probe.sandbox.server import RunningSandbox

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SIGNER = MarkerSigner(Ed25519PrivateKey.generate(), "test-key")
_PDF_CACHE: dict[str, bytes] = {}


def load_key(path: Path) -> RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, RSAPrivateKey)
    return key


@dataclasses.dataclass
class Sent:
    """A report the kit sent: the response and the canary it carried."""

    response: httpx.Response
    canary_id: str
    kommunenummer: str

    @property
    def report_id(self) -> str:
        return str(self.response.json()["uuid"])


class Kit:
    """Talks to one running sandbox over real HTTP."""

    def __init__(self, sandbox: RunningSandbox, http: httpx.AsyncClient, clock: FakeClock) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.manifest = sandbox.manifest
        self.http = http
        self.clock = clock
        self.base = sandbox.base_url
        mp = self.manifest.maskinporten
        self.client_key = load_key(mp.key_file)
        self.chain = x509.load_pem_x509_certificates(mp.certificate_chain_file.read_bytes())
        # Kanari signs its containers with the business certificate of its Maskinporten key.
        self.container_signer = ContainerSigner(self.chain, self.client_key)
        recipient = self.manifest.altinn.recipient_client
        self.recipient_key = load_key(recipient.key_file)
        self.passord = self.manifest.portal.integrasjon_passord_file.read_text().strip()
        self._tokens: dict[tuple[str, str | None, bool], tuple[str, float]] = {}

    # --- time ----------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # --- Maskinporten --------------------------------------------------------------------------------

    def assertion(
        self,
        scopes: str,
        *,
        client_id: str | None = None,
        key: RSAPrivateKey | None = None,
        kid: str | None = None,
        x5c: list[x509.Certificate] | None = None,
        **claims: Any,
    ) -> str:
        mp = self.manifest.maskinporten
        now = int(self.clock.now())
        body: dict[str, Any] = {
            "aud": mp.audience,
            "iss": client_id or mp.client_id,
            "scope": scopes,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        headers: dict[str, Any] = {}
        if x5c is not None:
            headers["x5c"] = [
                base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode() for cert in x5c
            ]
        else:
            headers["kid"] = kid or mp.key_id
        return jwt.encode(body, key or self.client_key, algorithm="RS256", headers=headers)

    async def grant(self, assertion: str, grant_type: str = GRANT) -> httpx.Response:
        return await self.http.post(
            self.manifest.maskinporten.token_url, data={"grant_type": grant_type, "assertion": assertion}
        )

    async def token(self, scopes: str, *, consumer_org: str | None = None, recipient: bool = False) -> str:
        cache_key = (scopes, consumer_org, recipient)
        cached = self._tokens.get(cache_key)
        if cached is not None and cached[1] > self.clock.now() + 5:
            return cached[0]
        if recipient:
            client = self.manifest.altinn.recipient_client
            assertion = self.assertion(
                scopes,
                client_id=client.client_id,
                key=self.recipient_key,
                kid=client.key_id,
                consumer_org=consumer_org,
            )
        else:
            assertion = self.assertion(scopes, consumer_org=consumer_org)
        response = await self.grant(assertion)
        assert response.status_code == 200, response.text
        answer = response.json()
        self._tokens[cache_key] = (answer["access_token"], self.clock.now() + answer["expires_in"])
        return str(answer["access_token"])

    async def altinn_token(self, *, recipient_orgnr: str | None = None) -> str:
        if recipient_orgnr is None:
            mp_token = await self.token("altinn:serviceowner altinn:correspondence.write")
        else:
            mp_token = await self.token(
                "altinn:correspondence.read", consumer_org=recipient_orgnr, recipient=True
            )
        response = await self.http.get(
            f"{self.manifest.altinn.base_url}/authentication/api/v1/exchange/maskinporten",
            headers={"Authorization": f"Bearer {mp_token}"},
        )
        assert response.status_code == 200, response.text
        return response.text

    # --- KS ------------------------------------------------------------------------------------------

    async def fiks_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {await self.token('ks:fiks')}",
            "IntegrasjonId": self.manifest.portal.integrasjon_id,
            "IntegrasjonPassord": self.passord,
        }

    def fiks_url(self, path: str, version: str = "v2") -> str:
        return f"{self.manifest.portal.base_url}/api/{version}/{path}"

    async def fiks_get(self, path: str, version: str = "v2") -> httpx.Response:
        return await self.http.get(self.fiks_url(path, version), headers=await self.fiks_headers())

    def subject(
        self, kommunenummer: str, channel: Channel = Channel.PORTAL, bydel: str | None = None
    ) -> CanarySubject:
        info = self.manifest.municipalities[kommunenummer]
        office = next(b for b in info.bydeler if (b.bydelsnummer == bydel if bydel else b.standard_mottaker))
        canary_id = str(uuid.uuid4())
        now = int(self.clock.now())
        return CanarySubject(
            canary_id=canary_id,
            channel=channel,
            kommunenummer=kommunenummer,
            kommunenavn=info.name,
            bydelsnummer=office.bydelsnummer,
            bydelsnavn=office.bydelsnavn,
            marker=SIGNER.sign(canary_id, channel.value, kommunenummer, now),
            created_at=float(now),
            child_fnr=synthetic_fnr(random.Random(canary_id), dt.date(2015, 5, 17)),
        )

    async def keys(
        self, kommunenummer: str, bydel: str, version: str = "v2"
    ) -> tuple[x509.Certificate, x509.Certificate]:
        response = await self.fiks_get(f"mottak/fagsystem/{kommunenummer}/{bydel}/krypteringsnokler", version)
        assert response.status_code == 200, response.text
        body = response.json()
        return (
            x509.load_pem_x509_certificate(body["printOffentligNokkel"]["nokkel"].encode()),
            x509.load_pem_x509_certificate(body["fiksIOOffentligNokkel"]["nokkel"].encode()),
        )

    async def send_report(
        self,
        kommunenummer: str,
        *,
        version: str = "v2",
        bydel: str | None = None,
        document: dict[str, Any] | None = None,
        asice: bytes | None = None,
        pdf_part: bytes | None = None,
        parts: dict[str, tuple[str, bytes, str]] | None = None,
        fiks_org_id: str | None = None,
        keys: tuple[x509.Certificate, x509.Certificate] | None = None,
    ) -> Sent:
        """Send one canary report as KS's Java client does; the keyword arguments replace a piece."""
        subject = self.subject(kommunenummer, bydel=bydel)
        print_cert, fiks_cert = keys or await self.keys(kommunenummer, subject.bydelsnummer, version)
        report = document if document is not None else portal_report(subject, version)
        pdf = _PDF_CACHE.get("pdf")
        if pdf is None:
            pdf = _PDF_CACHE["pdf"] = render_pdf(subject)
        container = (
            asice
            if asice is not None
            else build_asice(
                {
                    "bekymringsmelding.json": json.dumps(report, ensure_ascii=False).encode(),
                    "bekymringsmelding.pdf": pdf,
                },
                self.container_signer,
            )
        )
        files = (
            parts
            if parts is not None
            else {
                "bekymringsmelding": (
                    "bekymringsmelding.pdf",
                    pdf_part if pdf_part is not None else cms.encrypt(pdf, print_cert),
                    "application/octet-stream",
                ),
                "asice": ("asice.zip", cms.encrypt(container, fiks_cert), "application/octet-stream"),
            }
        )
        org = fiks_org_id or self.manifest.portal.fiks_org_id
        response = await self.http.post(
            self.fiks_url(
                f"mottak/fagsystem/{org}/{kommunenummer}/{subject.bydelsnummer}/offentlig", version
            ),
            headers=await self.fiks_headers(),
            files=files,
        )
        return Sent(response, subject.canary_id, kommunenummer)

    async def status(self, report_id: str, version: str = "v2") -> httpx.Response:
        org = self.manifest.portal.fiks_org_id
        return await self.fiks_get(f"mottak/fagsystem/{org}/bekymringsmelding/{report_id}/status", version)

    async def states(self, report_id: str) -> list[str]:
        response = await self.status(report_id)
        assert response.status_code == 200, response.text
        return [entry["tilstand"] for entry in response.json()]

    # --- Altinn --------------------------------------------------------------------------------------

    @property
    def correspondence_url(self) -> str:
        return f"{self.manifest.altinn.base_url}/correspondence/api/v1/correspondence"

    def correspondence_body(self, kommunenummer: str, **changes: Any) -> tuple[dict[str, Any], str]:
        subject = self.subject(kommunenummer, Channel.ALTINN)
        orgnr = self.manifest.municipalities[kommunenummer].orgnr
        body = altinn_correspondence(subject, self.manifest.altinn.resource_id, orgnr)
        body.update(changes)
        return body, subject.canary_id

    async def send_correspondence(self, kommunenummer: str, **changes: Any) -> tuple[httpx.Response, str]:
        body, canary_id = self.correspondence_body(kommunenummer, **changes)
        response = await self.http.post(
            self.correspondence_url,
            json=body,
            headers={"Authorization": f"Bearer {await self.altinn_token()}"},
        )
        return response, canary_id

    async def details(self, correspondence_id: str) -> httpx.Response:
        return await self.http.get(
            f"{self.correspondence_url}/{correspondence_id}/details",
            headers={"Authorization": f"Bearer {await self.altinn_token()}"},
        )

    async def statuses(self, correspondence_id: str) -> list[str]:
        response = await self.details(correspondence_id)
        assert response.status_code == 200, response.text
        return [event["status"] for event in response.json()["statusHistory"]]

    # --- read-back -----------------------------------------------------------------------------------

    async def readback_headers(self, vendor_id: str) -> dict[str, str]:
        vendor = next(v for v in self.manifest.vendors if v.id == vendor_id)
        assert vendor.readback is not None
        auth = vendor.readback.auth
        if auth.type == "static":
            assert auth.token_file is not None
            return {"Authorization": f"Bearer {auth.token_file.read_text().strip()}"}
        assert auth.scope is not None
        return {"Authorization": f"Bearer {await self.token(auth.scope)}"}

    def readback_url(self, kommunenummer: str, suffix: str = "", vendor_id: str | None = None) -> str:
        vendor = vendor_id or self.manifest.municipalities[kommunenummer].vendor
        return f"{self.base}/vendors/{vendor}/kanari/v1/municipalities/{kommunenummer}/canaries{suffix}"

    async def readback(self, kommunenummer: str, since: str = "2000-01-01T00:00:00Z") -> httpx.Response:
        vendor = self.manifest.municipalities[kommunenummer].vendor
        return await self.http.get(
            self.readback_url(kommunenummer),
            params={"since": since},
            headers=await self.readback_headers(vendor),
        )

    async def registered(self, kommunenummer: str) -> list[str]:
        response = await self.readback(kommunenummer)
        assert response.status_code == 200, response.text
        return [entry["canaryId"] for entry in response.json()["canaries"]]

    # --- faults --------------------------------------------------------------------------------------

    async def fault(self, name: str, municipality: str) -> str:
        response = await self.http.post(
            self.manifest.admin_url, json={"fault": name, "municipality": municipality}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def clear(self, fault_id: str | None = None) -> None:
        url = self.manifest.admin_url if fault_id is None else f"{self.manifest.admin_url}/{fault_id}"
        response = await self.http.delete(url)
        assert response.status_code == 204, response.text


def municipality_of(
    kit: Kit,
    vendor: str,
    *,
    imports_altinn: bool | None = None,
    exclude: tuple[str, ...] = (),
    stottet_versjon: int | None = 2,
) -> str:
    """A single-office municipality served by ``vendor``; by default one whose office supports version 2
    (what the kit sends unless told otherwise)."""
    for number, info in kit.manifest.municipalities.items():
        if (
            info.vendor == vendor
            and len(info.bydeler) == 1
            and number not in exclude
            and (imports_altinn is None or info.imports_altinn == imports_altinn)
            and (stottet_versjon is None or info.bydeler[0].stottet_versjon == stottet_versjon)
        ):
            return number
    raise LookupError(vendor)
