"""The floor: ``python -m bench.baseline``, a bare httpx script making Kanari's HTTP calls.

For the overhead ratio this process does, for the same routes on the same schedule against the same
sandbox, what any client of these protocols must do, and nothing else: get tokens (cached for their
lifetime), look up each municipality's office and certificates once, build each canary's bodies with
Kanari's own content functions (the protocol needs the same encrypted PDF and ASiC-E, so the same bytes
go on the wire), POST it, read its status history after one poll interval (again each interval until the
final status is there), read the vendor's read-back list once the status says the report arrived, and
delete the registered canary. No ledger, no metrics, no scheduler ticks, no verdicts, no retries: one
``httpx.AsyncClient`` with its default pool and one coroutine per canary, started at its planned instant
(smooth, not in per-second bursts), which is the cheapest way to make these calls with httpx.

It measures its own CPU over the same window as Kanari's run, and separately the CPU it spent building
bodies, so the benchmark can also quote the bare-HTTP figure with content excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import time
import uuid
from typing import Any

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bench.kanari import bench_config
from bench.procstat import cpu_seconds, pin_to
from bench.workload import Timing, add_run_arguments, bench_routes, kind_of
from probe.canary import cms
from probe.canary.asice import ContainerSigner, build_asice
from probe.canary.content import CanarySubject, altinn_correspondence, portal_report
from probe.canary.marker import MarkerSigner
from probe.canary.pdf import render_pdf
from probe.clock import to_rfc3339
from probe.config.registry import Registry
from probe.config.routes import Route
from probe.engine.factory import CanaryFactory
from probe.hops import Channel, Hop
from probe.sandbox.manifest import Manifest, load_manifest
from probe.scheduling.route_schedule import RouteSchedule

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PORTAL_DONE = {"LEVERT", "AVVIST_FAGSYSTEM", "SENDT_PRINT", "AVVIST_PRINT"}
ALTINN_DONE = {"Fetched", "Read", "Confirmed", "Failed"}
TOKEN_MARGIN = 30.0


@dataclasses.dataclass
class Counters:
    """What the floor did."""

    requests: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    content_cpu: float = 0.0
    started: int = 0
    finished: int = 0
    failed: int = 0


class Floor:
    """The bare client."""

    def __init__(
        self, manifest: Manifest, client: httpx.AsyncClient, readback_tokens: dict[str, str]
    ) -> None:
        self.manifest = manifest
        self.client = client
        self.counters = Counters()
        self._readback_tokens = readback_tokens
        self._key = load_pem_private_key(manifest.maskinporten.key_file.read_bytes(), None)
        assert isinstance(self._key, RSAPrivateKey)
        # The same business certificate Kanari signs its containers with (the sandbox issues it for the key).
        chain = x509.load_pem_x509_certificates(manifest.maskinporten.certificate_chain_file.read_bytes())
        self._signer = ContainerSigner(chain, self._key)
        self._password = manifest.portal.integrasjon_passord_file.read_text().strip()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._offices: dict[str, tuple[str, str, str, x509.Certificate, x509.Certificate]] = {}
        self._factory = CanaryFactory(MarkerSigner(Ed25519PrivateKey.generate(), "kanari-floor"))
        self._readback_urls = {
            vendor.id: vendor.readback.base_url for vendor in manifest.vendors if vendor.readback
        }
        self._readback_scopes = {
            vendor.id: vendor.readback.auth.scope
            for vendor in manifest.vendors
            if vendor.readback and vendor.readback.auth.scope
        }

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    async def _maskinporten(self, scopes: tuple[str, ...]) -> str:
        key = " ".join(scopes)
        async with self._locks[key]:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > time.time():
                return cached[0]
            now = int(time.time())
            info = self.manifest.maskinporten
            claims = {
                "aud": info.audience,
                "iss": info.client_id,
                "scope": key,
                "iat": now,
                "exp": now + 100,
                "jti": str(uuid.uuid4()),
            }
            assertion = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": info.key_id})  # type: ignore[arg-type]
            answer = await self._json(
                "POST", info.token_url, data={"grant_type": GRANT_TYPE, "assertion": assertion}
            )
            self._tokens[key] = (answer["access_token"], now + answer["expires_in"] - TOKEN_MARGIN)
            return str(answer["access_token"])

    async def _altinn_token(self) -> str:
        async with self._locks["altinn-exchange"]:
            cached = self._tokens.get("altinn-exchange")
            if cached is not None and cached[1] > time.time():
                return cached[0]
            token = await self._maskinporten(("altinn:serviceowner", "altinn:correspondence.write"))
            response = await self.client.get(
                f"{self.manifest.altinn.base_url}/authentication/api/v1/exchange/maskinporten",
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            altinn = response.text.strip().strip('"')
            # Altinn tokens live 30 minutes; the run is shorter.
            self._tokens["altinn-exchange"] = (altinn, time.time() + 1500)
            return altinn

    async def _portal_headers(self) -> dict[str, str]:
        token = await self._maskinporten(("ks:fiks",))
        return {
            "Authorization": f"Bearer {token}",
            "IntegrasjonId": self.manifest.portal.integrasjon_id,
            "IntegrasjonPassord": self._password,
        }

    async def _readback_headers(self, vendor: str) -> dict[str, str]:
        scope = self._readback_scopes.get(vendor)
        token = await self._maskinporten((scope,)) if scope else self._readback_tokens[vendor]
        return {"Authorization": f"Bearer {token}"}

    async def _office(self, route: Route) -> tuple[str, str, str, x509.Certificate, x509.Certificate]:
        cached = self._offices.get(route.kommunenummer)
        if cached is not None:
            return cached
        base = self.manifest.portal.base_url
        headers = await self._portal_headers()
        offices = await self._json(
            "GET", f"{base}/api/v2/kommuner/{route.kommunenummer}/bydeler", headers=headers
        )
        office = next(
            o for o in offices if (o["bydelsnummer"] == route.bydel if route.bydel else o["standardMottaker"])
        )
        version = "v2" if int(office.get("stottetVersjon") or 1) >= 2 else "v1"
        keys = await self._json(
            "GET",
            f"{base}/api/{version}/mottak/fagsystem/{route.kommunenummer}/{office['bydelsnummer']}"
            "/krypteringsnokler",
            headers=headers,
        )
        certificates = [
            x509.load_pem_x509_certificate(keys[field]["nokkel"].encode())
            for field in ("printOffentligNokkel", "fiksIOOffentligNokkel")
        ]
        cached = (office["bydelsnummer"], office["bydelsnavn"], version, certificates[0], certificates[1])
        self._offices[route.kommunenummer] = cached
        return cached

    def _subject(self, route: Route) -> CanarySubject:
        return self._factory.create(route, time.time())[1]

    async def _send_portal(self, route: Route) -> tuple[str, CanarySubject]:
        number, name, version, print_certificate, fiks_io_certificate = await self._office(route)
        started = time.thread_time()
        subject = dataclasses.replace(self._subject(route), bydelsnummer=number, bydelsnavn=name)
        report = json.dumps(portal_report(subject, version), ensure_ascii=False).encode()
        pdf = render_pdf(subject)
        files = {
            "bekymringsmelding": (
                "bekymringsmelding.pdf",
                cms.encrypt(pdf, print_certificate),
                "application/octet-stream",
            ),
            "asice": (
                "asice.zip",
                cms.encrypt(
                    build_asice(
                        {"bekymringsmelding.json": report, "bekymringsmelding.pdf": pdf}, self._signer
                    ),
                    fiks_io_certificate,
                ),
                "application/octet-stream",
            ),
        }
        self.counters.content_cpu += time.thread_time() - started
        portal = self.manifest.portal
        answer = await self._json(
            "POST",
            f"{portal.base_url}/api/{version}/mottak/fagsystem/{portal.fiks_org_id}/{route.kommunenummer}/"
            f"{number}/offentlig",
            headers=await self._portal_headers(),
            files=files,
        )
        return str(answer["uuid"]), subject

    async def _send_altinn(self, route: Route) -> tuple[str, CanarySubject]:
        started = time.thread_time()
        subject = self._subject(route)
        body = altinn_correspondence(subject, self.manifest.altinn.resource_id, route.orgnr)
        self.counters.content_cpu += time.thread_time() - started
        answer = await self._json(
            "POST",
            f"{self.manifest.altinn.base_url}/correspondence/api/v1/correspondence",
            headers={"Authorization": f"Bearer {await self._altinn_token()}"},
            json=body,
        )
        return str(answer["correspondences"][0]["correspondenceId"]), subject

    async def _statuses(self, route: Route, upstream_id: str) -> set[str]:
        if route.channel is Channel.PORTAL:
            portal = self.manifest.portal
            answer = await self._json(
                "GET",
                f"{portal.base_url}/api/v2/mottak/fagsystem/{portal.fiks_org_id}/bekymringsmelding/"
                f"{upstream_id}/status",
                headers=await self._portal_headers(),
            )
            return {entry["tilstand"] for entry in answer}
        answer = await self._json(
            "GET",
            f"{self.manifest.altinn.base_url}/correspondence/api/v1/correspondence/{upstream_id}/details",
            headers={"Authorization": f"Bearer {await self._altinn_token()}"},
        )
        return {entry["status"] for entry in answer["statusHistory"]}

    async def lifecycle(self, route: Route, poll: float, deadline: float) -> None:
        """One canary from POST to cleanup."""
        self.counters.started += 1
        try:
            send = self._send_portal if route.channel is Channel.PORTAL else self._send_altinn
            upstream_id, subject = await send(route)
            done = PORTAL_DONE if route.channel is Channel.PORTAL else ALTINN_DONE
            give_up = time.time() + deadline
            while time.time() < give_up:
                await asyncio.sleep(poll)
                if await self._statuses(route, upstream_id) & done:
                    break
            if route.final_hop is Hop.REGISTERED:
                base = self._readback_urls[route.vendor]
                url = f"{base}/kanari/v1/municipalities/{route.kommunenummer}/canaries"
                headers = await self._readback_headers(route.vendor)
                since = to_rfc3339(subject.created_at - 120)
                while time.time() < give_up:
                    answer = await self._json("GET", url, headers=headers, params={"since": since})
                    if any(entry["canaryId"] == subject.canary_id for entry in answer["canaries"]):
                        await self.client.delete(f"{url}/{subject.canary_id}", headers=headers)
                        break
                    await asyncio.sleep(poll)
            self.counters.finished += 1
        except (httpx.HTTPError, KeyError, StopIteration, ValueError):
            self.counters.failed += 1


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    """The floor over the run's schedule; returns its figures."""
    manifest = load_manifest(arguments.state_dir)
    timing = Timing(arguments.interval, arguments.deadline, arguments.poll, arguments.poll)
    config = bench_config(manifest, arguments.work.resolve(), timing)
    routes = bench_routes(config, manifest, Registry.load(arguments.registry), arguments.routes, timing)
    tokens = {
        vendor.id: vendor.readback.auth.token_file.read_text().strip()
        for vendor in manifest.vendors
        if vendor.readback and vendor.readback.auth.token_file
    }
    limits = httpx.Limits(max_keepalive_connections=arguments.keepalive)
    async with httpx.AsyncClient(limits=limits) as client:
        floor = Floor(manifest, client, tokens)

        async def count(request: httpx.Request) -> None:
            floor.counters.requests[kind_of(request.method, request.url.path)] += 1

        client.event_hooks["request"].append(count)
        start = time.time()
        # The same spread as Kanari's own schedule (the runtime is built with seed 1).
        schedule = RouteSchedule(routes, start, {}, seed=1)
        end = start + arguments.warmup + arguments.window
        tasks: set[asyncio.Task[None]] = set()
        window: dict[str, Any] = {}
        measuring = False
        while True:
            now = time.time()
            if not measuring and now >= start + arguments.warmup:
                measuring = True
                window = {
                    "cpu": cpu_seconds(),
                    "wall": time.perf_counter(),
                    "started": floor.counters.started,
                    "requests": dict(floor.counters.requests),
                    "content": floor.counters.content_cpu,
                }
            if now >= end:
                break
            for route, _planned in schedule.pop_due(now):
                task = asyncio.create_task(floor.lifecycle(route, arguments.poll, arguments.deadline))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            upcoming = schedule.next_due()
            await asyncio.sleep(max(0.0, min((upcoming or end) - time.time(), end - time.time(), 0.5)))
        counters = floor.counters
        result = {
            "routes": len(routes),
            "window": time.perf_counter() - window["wall"],
            "cpu": cpu_seconds() - window["cpu"],
            "started": counters.started - window["started"],
            "content_cpu": counters.content_cpu - window["content"],
            "requests": {
                kind: counters.requests[kind] - window["requests"].get(kind, 0) for kind in counters.requests
            },
        }
        await asyncio.gather(*tasks, return_exceptions=True)
        result["failed"] = counters.failed
        result["finished"] = counters.finished
        return result


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_run_arguments(parser)
    parser.add_argument("--keepalive", type=int, default=4, help="idle connections kept")
    arguments = parser.parse_args()
    pin_to(arguments.cpu)
    result = asyncio.run(run(arguments))
    arguments.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
