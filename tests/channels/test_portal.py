"""The portal channel against real-shaped KS answers through ``httpx.MockTransport``: the report version
negotiated per office from ``stottetVersjon``, a pinned version refused where the office cannot take it,
and the body in that version (decrypted by OpenSSL, validated against KS's own schema)."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import io
import json
import random
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from probe.canary.asice import ContainerSigner
from probe.canary.content import CanarySubject
from probe.canary.identity import synthetic_fnr
from probe.channels.ks_directory import Bydel, newest_shared_version, supported_version
from probe.channels.portal import PortalChannel
from probe.clock import FakeClock
from probe.config.models import MaskinportenSettings, PortalSettings
from probe.config.routes import Route
from probe.config.types import SecretRef
from probe.errors import Reason, UpstreamError
from probe.hops import Channel, Hop
from probe.sandbox.schemas import KsSchemas
from probe.transport.maskinporten import MaskinportenClient
from probe.transport.upstream import Upstream
from tests.conftest import REFERENCE

pytestmark = pytest.mark.anyio
BASE = "https://api.fiks.test.example/bekymringsmelding"
FIKS_ORG = "5e0b4a35-1f5c-4b7a-9a57-6b616e617269"
OPENSSL = shutil.which("openssl")
SCHEMAS = KsSchemas.load(REFERENCE / "ks-bekymringsmelding")


def _certificate(common_name: str, key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FIKS_IO_CERTIFICATE = _certificate("Fiktiv fagsystem", KEY)
SIGNER = ContainerSigner([_certificate("Kanari", KEY)], KEY)


class FakeKs:
    """KS's producer API for three offices of Bergen: 01 on v1, 02 on v2, 03 saying nothing."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        self.paths: list[str] = []
        self.refusals: list[tuple[int, str]] = []  # answers to the next POSTs, before accepting

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/bekymringsmelding/")
        self.paths.append(f"{request.method} {path}")
        if path == "token":
            return httpx.Response(200, json={"access_token": "mp-token", "expires_in": 120})
        if path.endswith("/kommuner/4601/bydeler"):
            offices: list[dict[str, Any]] = [
                {"bydelsnummer": "01", "bydelsnavn": "Arna", "standardMottaker": True, "stottetVersjon": 1},
                {
                    "bydelsnummer": "02",
                    "bydelsnavn": "Bergenhus",
                    "standardMottaker": False,
                    "stottetVersjon": 2,
                },
                {"bydelsnummer": "03", "bydelsnavn": "Fana", "standardMottaker": False},
            ]
            if path.startswith("api/v1/"):
                offices = [{k: v for k, v in office.items() if k != "stottetVersjon"} for office in offices]
            return httpx.Response(200, json=offices)
        if path.endswith("/krypteringsnokler"):
            pem = FIKS_IO_CERTIFICATE.public_bytes(serialization.Encoding.PEM).decode()
            key = {"nokkel": pem, "validFrom": "2025-01-01T00:00:00", "validTo": "2034-12-30T00:00:00"}
            return httpx.Response(200, json={"printOffentligNokkel": key, "fiksIOOffentligNokkel": key})
        if path.endswith("/offentlig"):
            self.posts.append((path, request.content))
            if self.refusals:
                status, message = self.refusals.pop(0)
                return httpx.Response(
                    status,
                    json={"status": status, "error": "Bad Request", "errorId": "e-1", "message": message},
                )
            return httpx.Response(200, json={"uuid": "3f2c7a9e-0000-4000-8000-000000000001"})
        if path.endswith("/status"):
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"message": "No handler found"})


@pytest.fixture
def ks() -> FakeKs:
    return FakeKs()


@pytest.fixture
async def channel(ks: FakeKs) -> AsyncIterator[PortalChannel]:
    clock = FakeClock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(ks)) as client:
        upstream = Upstream("portal", client, clock, concurrency=4, timeout=5, max_response_bytes=1 << 20)
        maskinporten = MaskinportenClient(
            MaskinportenSettings(
                token_url=f"{BASE}/token",
                audience="https://test.maskinporten.example/",
                client_id="kanari-test",
                key_file=Path("unused.pem"),
                key_id="kanari-key-1",
            ),
            KEY,
            upstream,
            clock,
        )
        settings = PortalSettings(
            base_url=BASE,
            fiks_org_id=FIKS_ORG,
            integrasjon_id="0c6f1f3e-8d4a-4f43-a2f2-6b616e617269",
            integrasjon_passord=SecretRef(env="UNUSED"),
        )
        settings.integrasjon_passord.resolve(Path("."), {"UNUSED": "passord"})
        yield PortalChannel(settings, upstream, maskinporten, clock, SIGNER)


def route(bydel: str | None, api_version: str = "auto") -> Route:
    return Route(
        channel=Channel.PORTAL,
        kommunenummer="4601",
        municipality_name="Bergen",
        county="Vestland",
        orgnr="964338531",
        vendor="example-vendor",
        bydel=bydel,
        interval=900,
        deadline=1800,
        poll_interval=30,
        final_hop=Hop.RECEIPTED,
        api_version=api_version,
    )


def subject() -> CanarySubject:
    return CanarySubject(
        canary_id="0b6f3c1e-8f1d-4c56-9a3e-5f2d7c9b1a42",
        channel=Channel.PORTAL,
        kommunenummer="4601",
        kommunenavn="Bergen",
        bydelsnummer="00",
        bydelsnavn="Bergen",
        marker="KANARI1.e30.c2ln",
        created_at=1_767_225_600.0,
        child_fnr=synthetic_fnr(random.Random(7), dt.date(2016, 5, 17)),
    )


def _parts(post: bytes) -> dict[str, bytes]:
    head = b"Content-Type: multipart/form-data; boundary=" + post.split(b"\r\n", 1)[0][2:] + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + post)
    parts = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts[str(part.get_param("name", header="content-disposition"))] = payload
    return parts


def _report_of(post: bytes, tmp_path: Path) -> dict[str, Any]:
    """The ``bekymringsmelding.json`` inside the POSTed, encrypted ASiC-E, decrypted by OpenSSL; both
    parts' envelopes printed by OpenSSL show RSAES-OAEP with SHA-256."""
    assert OPENSSL is not None
    parts = _parts(post)
    for name, payload in parts.items():
        (tmp_path / name).write_bytes(payload)
        printed = subprocess.run(
            [OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER", "-in", str(tmp_path / name)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "rsaesOaep" in printed, name
        assert "sha256" in printed, name
    envelope = tmp_path / "asice.der"
    envelope.write_bytes(parts["asice"])
    (tmp_path / "key.pem").write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "cert.pem").write_bytes(FIKS_IO_CERTIFICATE.public_bytes(serialization.Encoding.PEM))
    container = subprocess.run(
        [OPENSSL, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(envelope),
         "-inkey", str(tmp_path / "key.pem"), "-recip", str(tmp_path / "cert.pem")],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    with zipfile.ZipFile(io.BytesIO(container)) as archive:
        document: dict[str, Any] = json.loads(archive.read("bekymringsmelding.json"))
    return document


@pytest.mark.parametrize(("bydel", "version"), [(None, "v1"), ("02", "v2"), ("03", "v1")])
async def test_each_office_gets_the_newest_version_both_sides_support(
    channel: PortalChannel, ks: FakeKs, tmp_path: Path, bydel: str | None, version: str
) -> None:
    sent = await channel.send(route(bydel), subject())
    assert sent.api_version == version
    path, body = ks.posts[-1]
    assert path.startswith(f"api/{version}/mottak/fagsystem/{FIKS_ORG}/4601/")
    assert "GET api/v2/kommuner/4601/bydeler" in ks.paths
    document = _report_of(body, tmp_path)
    assert ("andreSynspunkter" in document["melding"]) == (version == "v2")
    assert SCHEMAS is not None
    assert SCHEMAS.errors("v1" if version == "v1" else "v2", document) == []


async def test_a_pinned_version_the_office_cannot_take_is_refused_before_sending(
    channel: PortalChannel, ks: FakeKs
) -> None:
    with pytest.raises(UpstreamError) as error:
        await channel.send(route("01", api_version="v2"), subject())
    assert error.value.reason is Reason.HTTP_4XX
    assert error.value.detail == "stottetVersjon=1 api_version=v2"
    assert ks.posts == []


async def test_a_route_pinned_to_v1_asks_and_sends_in_v1(channel: PortalChannel, ks: FakeKs) -> None:
    sent = await channel.send(route("02", api_version="v1"), subject())
    assert sent.api_version == "v1"
    assert "GET api/v1/kommuner/4601/bydeler" in ks.paths
    assert ks.posts[-1][0].startswith("api/v1/")


async def test_status_is_asked_in_the_version_the_report_was_sent_in(
    channel: PortalChannel, ks: FakeKs
) -> None:
    await channel.check(route("01"), "3f2c7a9e", "v1")
    assert ks.paths[-1] == f"GET api/v1/mottak/fagsystem/{FIKS_ORG}/bekymringsmelding/3f2c7a9e/status"


@pytest.mark.parametrize(("value", "number"), [(2, 2), ("2", 2), ("v2", 2), ("V1", 1), (None, None)])
def test_stottet_versjon_is_read_in_any_of_its_plausible_forms(value: object, number: int | None) -> None:
    assert supported_version(value) == number


@pytest.mark.parametrize("value", [True, 0, "zwei", "v", 2.5, [2]])
def test_an_unreadable_stottet_versjon_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="not a version"):
        supported_version(value)


@pytest.mark.parametrize(("supported", "version"), [(None, "v1"), (1, "v1"), (2, "v2"), (3, "v2")])
def test_kanari_sends_the_newest_version_it_shares_with_the_office(
    supported: int | None, version: str
) -> None:
    assert newest_shared_version(Bydel("01", "Arna", True, supported)) == version


KEY_REFUSAL = "Delen bekymringsmelding kunne ikke dekrypteres med print-sertifikatet til en PDF"


def key_fetches(ks: FakeKs) -> int:
    return sum(path.endswith("/krypteringsnokler") for path in ks.paths)


async def test_a_refusal_naming_the_keys_fetches_them_afresh_and_sends_once_more(
    channel: PortalChannel, ks: FakeKs
) -> None:
    await channel.send(route("01"), subject())  # the keys are cached from here on
    assert key_fetches(ks) == 1
    ks.refusals = [(400, KEY_REFUSAL)]  # KS has changed its keys
    sent = await channel.send(route("01"), subject())
    assert sent.upstream_id == "3f2c7a9e-0000-4000-8000-000000000001"
    assert key_fetches(ks) == 2
    assert len(ks.posts) == 3


async def test_a_second_key_refusal_or_another_refusal_is_not_retried(
    channel: PortalChannel, ks: FakeKs
) -> None:
    ks.refusals = [(400, KEY_REFUSAL), (400, KEY_REFUSAL)]
    with pytest.raises(UpstreamError) as error:
        await channel.send(route("01"), subject())
    assert error.value.reason is Reason.HTTP_4XX
    assert KEY_REFUSAL in (error.value.detail or "")
    assert len(ks.posts) == 2
    ks.refusals = [(400, "Required part 'asice' is not present.")]
    with pytest.raises(UpstreamError):
        await channel.send(route("01"), subject())
    assert len(ks.posts) == 3
