"""Serving: start-up, TLS with verification on, ``serve`` until cancelled, the manifest, a world without
KS's schemas, and the load of all 714 routes at once."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

from probe.canary import cms
from probe.canary.asice import build_asice
from probe.canary.content import portal_report
from probe.clock import FakeClock
from probe.config.registry import packaged_registry
from probe.hops import Channel, Hop
from probe.sandbox.app import create_app
from probe.sandbox.delays import worst_case_latencies
from probe.sandbox.manifest import load_manifest
from probe.sandbox.server import running, serve
from probe.sandbox.settings import SandboxSettings
from probe.sandbox.world import World
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio


def test_building_the_world_is_cheap_and_lazy(state_dir: Path) -> None:
    started = time.perf_counter()
    world = World.build(SandboxSettings(state_dir=state_dir), "http://127.0.0.1:8700", FakeClock())
    app = create_app(world)
    elapsed = time.perf_counter() - started
    print(f"world + app for {len(world.assignments)} municipalities: {elapsed * 1000:.1f} ms")
    assert len(world.assignments) == len(packaged_registry()) == 357
    assert app.state.world is world
    assert world.pki._fiks_io == {}  # Fiks IO certificates are issued on first request


async def test_tls_with_verification_on(state_dir: Path, clock: FakeClock) -> None:
    settings = SandboxSettings(listen="127.0.0.1:0", state_dir=state_dir, tls=True)
    async with running(settings, clock) as sandbox:
        assert sandbox.base_url.startswith("https://127.0.0.1:")
        manifest = load_manifest(sandbox.manifest_path)
        assert manifest.ca_file is not None
        trusted = ssl.create_default_context(cafile=str(manifest.ca_file))
        async with httpx.AsyncClient(verify=trusted) as http:
            assert (await http.get(f"{sandbox.base_url}/healthz")).status_code == 200
            localhost = sandbox.base_url.replace("127.0.0.1", "localhost")
            assert (await http.get(f"{localhost}/healthz")).status_code == 200
        async with httpx.AsyncClient() as untrusting:
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(f"{sandbox.base_url}/healthz")


async def test_serve_prints_urls_and_stops_when_cancelled(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SandboxSettings(listen=f"127.0.0.1:{port}", state_dir=state_dir, speed=60)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(settings, FakeClock(), ready))
    await asyncio.wait_for(ready.wait(), 10)
    lines = capsys.readouterr().out.splitlines()
    base = f"http://127.0.0.1:{port}"
    assert lines[0].startswith(f"sandbox        {base}")
    assert f"maskinporten   {base}/maskinporten/token" in lines
    assert f"readback       {base}/vendors/nordlys" in lines
    assert any(line.startswith("state ") and line.endswith("sandbox.json") for line in lines)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/healthz")).status_code == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{base}/healthz")
    manifest = load_manifest(state_dir)
    assert manifest.speed == 60
    assert manifest.latency["altinn"]["fetched"] == pytest.approx(2000 / 60, abs=0.01)


async def test_manifest_describes_the_world(kit: Kit) -> None:
    manifest = kit.manifest
    assert manifest.base_url == kit.base
    assert manifest.maskinporten.audience == manifest.maskinporten.issuer == f"{kit.base}/maskinporten/"
    assert "nordlys:kanari.read" in manifest.maskinporten.scopes
    assert manifest.portal.base_url == f"{kit.base}/fiks/bekymringsmelding"
    assert manifest.altinn.base_url == f"{kit.base}/altinn"
    assert {vendor.id: vendor.readback is not None for vendor in manifest.vendors} == {
        "fjordsys": True,
        "nordlys": True,
        "vidde": True,
        "kystdata": True,
        "papirlos": False,
    }
    assert len(manifest.municipalities) == 357
    haram = manifest.municipalities["1580"]
    assert haram.orgnr_is_placeholder
    assert haram.name == "Haram"
    assert len(manifest.municipalities["0301"].bydeler) == 15
    assert manifest.latency["portal"]["receipted"] == 600  # the caps, four times over on a slow day
    index = (await kit.http.get(f"{kit.base}/")).json()
    assert index["maskinporten"] == manifest.maskinporten.token_url
    assert set(index["readback"]) == {"fjordsys", "nordlys", "vidde", "kystdata"}
    on_disk = json.loads(kit.sandbox.manifest_path.read_text())
    assert on_disk["maskinporten"]["client_id"] == "kanari-sandbox"


async def test_without_ks_schemas_the_fagsystem_checks_the_essentials(
    state_dir: Path, tmp_path: Path, clock: FakeClock
) -> None:
    settings = SandboxSettings(listen="127.0.0.1:0", state_dir=state_dir, ks_schema_dir=tmp_path)
    async with running(settings, clock) as sandbox, httpx.AsyncClient() as http:
        kit = Kit(sandbox, http, clock)
        assert sandbox.world.schemas is None
        kommunenummer = municipality_of(kit, "vidde")
        loose = {"kommunenummer": kommunenummer, "bydelsnummer": "00", "melding": {"melding": "hei"}}
        accepted = await kit.send_report(kommunenummer, document=loose)
        lacking = await kit.send_report(kommunenummer, document={"kommunenummer": kommunenummer})
        full = await kit.send_report(kommunenummer)
        clock.advance(200)
        assert (await kit.states(accepted.report_id))[-1] == "LEVERT"
        assert "AVVIST_FAGSYSTEM" in await kit.states(lacking.report_id)
        assert (await kit.states(full.report_id))[-1] == "LEVERT"
        assert await kit.registered(kommunenummer) == [full.canary_id]


@pytest.mark.slow
async def test_all_714_routes_at_once(kit: Kit, settings: SandboxSettings) -> None:
    """Every municipality on both channels, sent and then checked concurrently over loopback."""
    numbers = sorted(kit.manifest.municipalities)
    limit = asyncio.Semaphore(64)
    headers = await kit.fiks_headers()
    altinn_headers = {"Authorization": f"Bearer {await kit.altinn_token()}"}
    pdf = b"%PDF-1.4 load test\n"

    async def portal(number: str) -> tuple[str, str, str]:
        async with limit:
            subject = kit.subject(number)
            # Each office gets the newest version it supports, as Kanari negotiates it.
            office = next(b for b in kit.manifest.municipalities[number].bydeler if b.standard_mottaker)
            version = f"v{office.stottet_versjon}"
            print_cert, fiks_cert = await kit.keys(number, subject.bydelsnummer, version)
            report = portal_report(subject, version)
            container = build_asice(
                {
                    "bekymringsmelding.json": json.dumps(report, ensure_ascii=False).encode(),
                    "bekymringsmelding.pdf": pdf,
                },
                kit.container_signer,
            )
            response = await kit.http.post(
                kit.fiks_url(
                    f"mottak/fagsystem/{kit.manifest.portal.fiks_org_id}/{number}/{subject.bydelsnummer}/offentlig",
                    version,
                ),
                headers=headers,
                files={
                    "bekymringsmelding": (
                        "bekymringsmelding.pdf",
                        cms.encrypt(pdf, print_cert),
                        "application/pdf",
                    ),
                    "asice": ("asice.zip", cms.encrypt(container, fiks_cert), "application/octet-stream"),
                },
            )
            assert response.status_code == 200, response.text
            return number, str(response.json()["uuid"]), subject.canary_id

    async def altinn(number: str) -> str:
        async with limit:
            body, _ = kit.correspondence_body(number)
            response = await kit.http.post(kit.correspondence_url, json=body, headers=altinn_headers)
            assert response.status_code == 200, response.text
            return str(response.json()["correspondences"][0]["correspondenceId"])

    started = time.perf_counter()
    reports, correspondences = await asyncio.gather(
        asyncio.gather(*(portal(number) for number in numbers)),
        asyncio.gather(*(altinn(number) for number in numbers)),
    )
    sending = time.perf_counter() - started
    # Past the world's worst healthy latency (its long tail and slow days included) to the receipt and
    # the publication.
    worst = worst_case_latencies(settings)
    kit.advance(max(worst[Channel.PORTAL][Hop.RECEIPTED], worst[Channel.ALTINN][Hop.PUBLISHED]) + 1)
    headers = await kit.fiks_headers()
    altinn_headers = {"Authorization": f"Bearer {await kit.altinn_token()}"}

    async def portal_status(report: tuple[str, str, str]) -> list[str]:
        async with limit:
            url = kit.fiks_url(
                f"mottak/fagsystem/{kit.manifest.portal.fiks_org_id}/bekymringsmelding/{report[1]}/status"
            )
            response = await kit.http.get(url, headers=headers)
            assert response.status_code == 200
            return [entry["tilstand"] for entry in response.json()]

    async def altinn_status(identifier: str) -> str:
        async with limit:
            response = await kit.http.get(
                f"{kit.correspondence_url}/{identifier}/details", headers=altinn_headers
            )
            assert response.status_code == 200
            return str(response.json()["status"])

    started = time.perf_counter()
    portal_states, altinn_states = await asyncio.gather(
        asyncio.gather(*(portal_status(report) for report in reports)),
        asyncio.gather(*(altinn_status(identifier) for identifier in correspondences)),
    )
    checking = time.perf_counter() - started
    print(f"714 routes: sending {sending:.2f} s, checking {checking:.2f} s")
    assert all(states[-1] == "LEVERT" for states in portal_states)
    assert all(status in ("Published", "Fetched", "Read") for status in altinn_states)
    assert (await kit.http.get(f"{kit.base}/healthz")).status_code == 200
