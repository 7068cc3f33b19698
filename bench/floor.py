"""The floors: ``python -m bench.floor``, the least any client could spend on Kanari's protocol work.

For the same routes on the same schedule (:class:`~probe.scheduling.route_schedule.RouteSchedule`, seed
1, as Kanari's runtime) against the same sandbox, it does the protocol's minimum and nothing else:

- tokens: one Maskinporten grant per scope set and one Altinn exchange, reused for their lifetime;
- directory: a municipality's offices and encryption certificates once per cache period (Kanari's
  ``directory_cache``);
- one send per canary, with the same content Kanari sends (a fresh id, the signed marker, a synthetic
  identity, the PDF, the signed ASiC-E, fresh CMS keys for each encryption: Kanari's own content
  functions, so the bytes on the wire are alike);
- status reads only when a hop is due: once the hop is expected (one poll period after sending, which
  is what Kanari learns in this sandbox), then halfway to the deadline and at the deadline if needed;
- one read-back call per (vendor, municipality) batch each read-back period, and one DELETE per
  registered canary.

No ledger, metrics, verdicts or retries, unless ``--durable``: then one SQLite WAL commit per second
(``synchronous=FULL`` as Kanari's ledger) of the canaries that changed, the least a probe that must
survive a crash writes. ``--wire h11`` (the honest floor) or ``--wire httpx`` (Kanari's own client:
the same-transport floor), see :mod:`bench.wire`.

It measures its own CPU over the window (``time.process_time``), and separately the CPU spent building
content, so the report can break Kanari's cost down.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import json
import sqlite3
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bench.kanari import bench_config
from bench.procstat import cpu_seconds
from bench.wire import H11Wire, HttpxWire, Wire
from bench.workload import Timing, add_run_arguments, bench_routes, routes_digest, run_and_write
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
from probe.runtime import http_client
from probe.sandbox.manifest import Manifest, load_manifest
from probe.scheduling.route_schedule import RouteSchedule

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PORTAL_DONE = {"LEVERT", "AVVIST_FAGSYSTEM", "SENDT_PRINT", "AVVIST_PRINT"}
ALTINN_DONE = {"Fetched", "Read", "Confirmed", "Failed"}
TOKEN_MARGIN = 30.0
# Altinn's exchanged tokens live 30 minutes.
ALTINN_TOKEN_SECONDS = 1500.0
# Read-back lists canaries created since a little before the oldest one waiting (clock skew).
READBACK_SKEW = 120.0
# Requests under way per upstream on the same-transport floor, as Kanari's channel upstreams.
CONCURRENCY = 16
Office = tuple[str, str, str, x509.Certificate, x509.Certificate]


@dataclasses.dataclass
class Waiting:
    """A delivered canary waiting for read-back to list it."""

    canary_id: str
    created_at: float


class Floor:
    """The minimum client over one :class:`~bench.wire.Wire`."""

    def __init__(
        self, manifest: Manifest, wire: Wire, readback_tokens: dict[str, str], directory_cache: float
    ) -> None:
        self.manifest = manifest
        self.wire = wire
        self.content_cpu = 0.0
        self.started = 0
        self.failed: collections.Counter[str] = collections.Counter()
        self.changed: list[tuple[str, str]] = []
        self._readback_tokens = readback_tokens
        self._directory_cache = directory_cache
        key = load_pem_private_key(manifest.maskinporten.key_file.read_bytes(), None)
        assert isinstance(key, RSAPrivateKey)
        self._key = key
        chain = x509.load_pem_x509_certificates(manifest.maskinporten.certificate_chain_file.read_bytes())
        self._signer = ContainerSigner(chain, key)
        self._password = manifest.portal.integrasjon_passord_file.read_text().strip()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._locks: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._offices: dict[str, tuple[float, Office]] = {}
        self._factory = CanaryFactory(MarkerSigner(Ed25519PrivateKey.generate(), "kanari-floor"))
        self._readback_urls = {v.id: v.readback.base_url for v in manifest.vendors if v.readback}
        self._readback_scopes = {
            v.id: v.readback.auth.scope for v in manifest.vendors if v.readback and v.readback.auth.scope
        }
        self.waiting: dict[tuple[str, str], list[Waiting]] = collections.defaultdict(list)

    async def _json(self, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> Any:
        status, content = await self.wire.call(method, url, headers, body)
        if status >= 400:
            raise RuntimeError(f"{method} {url}: {status}")
        return json.loads(content) if content else None

    async def _maskinporten(self, scopes: tuple[str, ...]) -> str:
        key = " ".join(scopes)
        async with self._locks[key]:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > time.time():
                return cached[0]
            now = int(time.time())
            info = self.manifest.maskinporten
            claims = {"aud": info.audience, "iss": info.client_id, "scope": key, "iat": now,
                      "exp": now + 100, "jti": str(uuid.uuid4())}  # fmt: skip
            assertion = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": info.key_id})
            form = f"grant_type={GRANT_TYPE}&assertion={assertion}".encode()
            answer = await self._json(
                "POST", info.token_url, {"Content-Type": "application/x-www-form-urlencoded"}, form
            )
            self._tokens[key] = (answer["access_token"], now + answer["expires_in"] - TOKEN_MARGIN)
            return str(answer["access_token"])

    async def _altinn_token(self) -> str:
        async with self._locks["altinn-exchange"]:
            cached = self._tokens.get("altinn-exchange")
            if cached is not None and cached[1] > time.time():
                return cached[0]
            token = await self._maskinporten(("altinn:serviceowner", "altinn:correspondence.write"))
            url = f"{self.manifest.altinn.base_url}/authentication/api/v1/exchange/maskinporten"
            status, content = await self.wire.call("GET", url, {"Authorization": f"Bearer {token}"})
            if status != 200:
                raise RuntimeError(f"Altinn exchange: {status}")
            altinn = content.decode().strip().strip('"')
            self._tokens["altinn-exchange"] = (altinn, time.time() + ALTINN_TOKEN_SECONDS)
            return altinn

    async def _portal_headers(self) -> dict[str, str]:
        token = await self._maskinporten(("ks:fiks",))
        return {"Authorization": f"Bearer {token}", "IntegrasjonId": self.manifest.portal.integrasjon_id,
                "IntegrasjonPassord": self._password, "Accept": "application/json"}  # fmt: skip

    async def _readback_headers(self, vendor: str) -> dict[str, str]:
        scope = self._readback_scopes.get(vendor)
        token = await self._maskinporten((scope,)) if scope else self._readback_tokens[vendor]
        return {"Authorization": f"Bearer {token}"}

    async def _office(self, route: Route) -> Office:
        cached = self._offices.get(route.kommunenummer)
        if cached is not None and cached[0] > time.time():
            return cached[1]
        base = self.manifest.portal.base_url
        headers = await self._portal_headers()
        offices = await self._json("GET", f"{base}/api/v2/kommuner/{route.kommunenummer}/bydeler", headers)
        office = next(
            o for o in offices if (o["bydelsnummer"] == route.bydel if route.bydel else o["standardMottaker"])
        )
        version = "v2" if int(office.get("stottetVersjon") or 1) >= 2 else "v1"
        keys = await self._json(
            "GET",
            f"{base}/api/{version}/mottak/fagsystem/{route.kommunenummer}/{office['bydelsnummer']}"
            "/krypteringsnokler",
            headers,
        )
        printing, fiks_io = (
            x509.load_pem_x509_certificate(keys[field]["nokkel"].encode())
            for field in ("printOffentligNokkel", "fiksIOOffentligNokkel")
        )
        found = (office["bydelsnummer"], office["bydelsnavn"], version, printing, fiks_io)
        self._offices[route.kommunenummer] = (time.time() + self._directory_cache, found)
        return found

    async def _send_portal(self, route: Route, subject: CanarySubject) -> tuple[str, str]:
        number, name, version, print_certificate, fiks_io_certificate = await self._office(route)
        started = time.thread_time()
        subject = dataclasses.replace(subject, bydelsnummer=number, bydelsnavn=name)
        report = json.dumps(portal_report(subject, version), ensure_ascii=False).encode()
        pdf = render_pdf(subject)
        files = {"bekymringsmelding.json": report, "bekymringsmelding.pdf": pdf}
        container = build_asice(files, self._signer)
        boundary = uuid.uuid4().hex
        body = (
            b"".join(
                b'--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n%s\r\n"
                % (boundary.encode(), name_.encode(), filename.encode(), data)
                for name_, filename, data in (
                    ("bekymringsmelding", "bekymringsmelding.pdf", cms.encrypt(pdf, print_certificate)),
                    ("asice", "asice.zip", cms.encrypt(container, fiks_io_certificate)),
                )
            )
            + b"--%s--\r\n" % boundary.encode()
        )
        self.content_cpu += time.thread_time() - started
        portal = self.manifest.portal
        headers = await self._portal_headers()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        answer = await self._json(
            "POST",
            f"{portal.base_url}/api/{version}/mottak/fagsystem/{portal.fiks_org_id}/{route.kommunenummer}/"
            f"{number}/offentlig",
            headers,
            body,
        )
        return str(answer["uuid"]), version

    async def _send_altinn(self, route: Route, subject: CanarySubject) -> tuple[str, str]:
        started = time.thread_time()
        resource = self.manifest.altinn.resource_id
        correspondence = altinn_correspondence(
            subject, resource, route.orgnr, confidential=route.confidential
        )
        body = json.dumps(correspondence)
        self.content_cpu += time.thread_time() - started
        token = await self._altinn_token()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        url = f"{self.manifest.altinn.base_url}/correspondence/api/v1/correspondence"
        answer = await self._json("POST", url, headers, body.encode())
        return str(answer["correspondences"][0]["correspondenceId"]), "v1"

    async def _done(self, route: Route, upstream_id: str, version: str) -> bool:
        if route.channel is Channel.PORTAL:
            portal = self.manifest.portal
            url = (f"{portal.base_url}/api/{version}/mottak/fagsystem/{portal.fiks_org_id}/bekymringsmelding/"
                   f"{upstream_id}/status")  # fmt: skip
            answer = await self._json("GET", url, await self._portal_headers())
            return bool({entry["tilstand"] for entry in answer} & PORTAL_DONE)
        url = f"{self.manifest.altinn.base_url}/correspondence/api/v1/correspondence/{upstream_id}/details"
        answer = await self._json("GET", url, {"Authorization": f"Bearer {await self._altinn_token()}"})
        return bool({entry["status"] for entry in answer["statusHistory"]} & ALTINN_DONE)

    async def lifecycle(self, route: Route) -> None:
        """One canary: send, then status reads when due, then the read-back batch if it is registered."""
        self.started += 1
        started = time.thread_time()
        subject = self._factory.create(route, time.time())[1]
        self.content_cpu += time.thread_time() - started
        try:
            send = self._send_portal if route.channel is Channel.PORTAL else self._send_altinn
            upstream_id, version = await send(route, subject)
            self.changed.append((subject.canary_id, "sent"))
            sent = time.time()
            expected = sent + route.poll_interval
            halfway = expected + (sent + route.deadline - expected) / 2
            for due in (expected, halfway, sent + route.deadline):
                await asyncio.sleep(max(0.0, due - time.time()))
                if await self._done(route, upstream_id, version):
                    break
            self.changed.append((subject.canary_id, "resolved"))
            if route.final_hop is Hop.REGISTERED:
                self.waiting[(route.vendor, route.kommunenummer)].append(
                    Waiting(subject.canary_id, subject.created_at)
                )
        except (RuntimeError, KeyError, StopIteration, ValueError, OSError) as error:
            self.failed[type(error).__name__] += 1

    async def readback(self) -> None:
        """One read-back call per (vendor, municipality) with canaries waiting; a DELETE per one listed."""
        batches, self.waiting = self.waiting, collections.defaultdict(list)
        for (vendor, municipality), waiting in batches.items():
            try:
                url = f"{self._readback_urls[vendor]}/kanari/v1/municipalities/{municipality}/canaries"
                headers = await self._readback_headers(vendor)
                since = to_rfc3339(min(w.created_at for w in waiting) - READBACK_SKEW)
                listed = await self._json("GET", f"{url}?since={urllib.parse.quote(since)}", headers)
                found = {entry["canaryId"] for entry in listed["canaries"]}
                for canary in waiting:
                    if canary.canary_id in found:
                        await self.wire.call("DELETE", f"{url}/{canary.canary_id}", headers)
                        self.changed.append((canary.canary_id, "closed"))
                    else:
                        self.waiting[(vendor, municipality)].append(canary)
            except (RuntimeError, KeyError, ValueError, OSError) as error:
                self.failed[type(error).__name__] += 1


class Journal:
    """The durable floor's ledger: one SQLite WAL commit per tick of what changed in it."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS canaries (id TEXT PRIMARY KEY, state TEXT)")

    def commit(self, changed: list[tuple[str, str]]) -> None:
        """Write ``changed`` in one transaction."""
        if changed:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO canaries VALUES (?, ?)", changed)
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        self._db.close()


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    """The floor over the run's schedule; returns its figures."""
    manifest = load_manifest(arguments.state_dir)
    timing = Timing(arguments.interval, arguments.deadline, arguments.poll, arguments.poll)
    work: Path = arguments.work.resolve()
    config = bench_config(manifest, work, timing)
    routes = bench_routes(config, manifest, Registry.load(arguments.registry), arguments.routes, timing)
    tokens = {
        vendor.id: vendor.readback.auth.token_file.read_text().strip()
        for vendor in manifest.vendors
        if vendor.readback and vendor.readback.auth.token_file
    }
    # Kanari sizes each upstream's pool to its concurrency (16 for the channels).
    wire: Wire = (
        H11Wire()
        if arguments.wire == "h11"
        else HttpxWire(lambda: http_client(config, connections=CONCURRENCY), CONCURRENCY)
    )
    portal = config.settings.channels.portal
    directory_cache = float(portal.directory_cache) if portal is not None else 3600.0
    floor = Floor(manifest, wire, tokens, directory_cache)
    journal = Journal(work / f"floor-{uuid.uuid4().hex[:8]}.sqlite3") if arguments.durable else None
    start = time.time()
    schedule = RouteSchedule(routes, start, {}, seed=1)
    end = start + arguments.warmup + arguments.window
    tasks: set[asyncio.Task[None]] = set()
    window: dict[str, Any] = {}
    next_tick = next_readback = start
    while (now := time.time()) < end:
        if not window and now >= start + arguments.warmup:
            window = {"cpu": cpu_seconds(), "wall": time.perf_counter(), "started": floor.started,
                      "requests": dict(wire.requests), "content": floor.content_cpu}  # fmt: skip
        for route, _planned in schedule.pop_due(now):
            task = asyncio.create_task(floor.lifecycle(route))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if now >= next_readback:
            next_readback = now + timing.readback_interval
            await floor.readback()
        if now >= next_tick:
            next_tick = now + 1.0
            if journal is not None:
                changed, floor.changed = floor.changed, []
                journal.commit(changed)
            else:
                floor.changed.clear()
        upcoming = min(schedule.next_due() or end, next_tick, next_readback, end)
        await asyncio.sleep(max(0.0, upcoming - time.time()))
    result = {
        "wire": arguments.wire,
        "durable": bool(arguments.durable),
        "routes": len(routes),
        "routes_digest": routes_digest(routes),
        "window": time.perf_counter() - window["wall"],
        "cpu": cpu_seconds() - window["cpu"],
        "started": floor.started - window["started"],
        "content_cpu": floor.content_cpu - window["content"],
        "requests": {kind: wire.requests[kind] - window["requests"].get(kind, 0) for kind in wire.requests},
    }
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    result["failed"] = dict(floor.failed)
    await wire.close()
    if journal is not None:
        journal.close()
    return result


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_run_arguments(parser)
    parser.add_argument("--wire", choices=("h11", "httpx"), default="h11")
    parser.add_argument("--durable", action="store_true", help="one SQLite WAL commit per tick")
    run_and_write(parser, run)


if __name__ == "__main__":
    main()
