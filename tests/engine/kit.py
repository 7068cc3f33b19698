"""Parts for unit tests of the engine: routes, records, a scripted channel adapter, and read-back clients
over ``httpx.MockTransport`` answering in the read-back API's own shape (``docs/readback-openapi.yaml``).

The adapter is a fake on purpose: the engine's parts are tested here for what they decide and when,
while each real adapter is tested against real-shaped upstream answers in ``tests/channels``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from probe.canary.content import CanarySubject
from probe.canary.marker import MarkerSigner, MarkerVerifier
from probe.channels.base import Observation, Sent
from probe.checks.readback import ReadbackClient
from probe.clock import FakeClock, to_rfc3339
from probe.config.routes import Route
from probe.config.types import SecretRef
from probe.config.vendors import ReadbackAuth, Vendor, VendorReadback
from probe.engine.core import Engine, PollSettings
from probe.engine.factory import CanaryFactory
from probe.errors import UpstreamError
from probe.hops import Channel, Hop
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from probe.metrics.metric_set import Metrics, geometric_buckets
from probe.transport.upstream import Upstream

VENDOR = "nordlys"
READBACK_URL = "https://readback.nordlys.test"
READBACK_TOKEN = "readback-token-for-tests"
KEY_ID = "kanari-unit"
SIGNING_KEY = Ed25519PrivateKey.generate()
SIGNER = MarkerSigner(SIGNING_KEY, KEY_ID)
VERIFIER = MarkerVerifier({KEY_ID: SIGNING_KEY.public_key()}, max_age_seconds=7 * 86400)
START = 1_767_225_600.0  # FakeClock's default start, 2026-01-01T00:00:00Z


def route(
    channel: Channel = Channel.PORTAL,
    kommunenummer: str = "4601",
    *,
    final_hop: Hop = Hop.REGISTERED,
    deadline: float = 300.0,
) -> Route:
    """A route of ``channel`` to Bergen on nordlys: every 10 min, deadline 5 min, polled every 15 s."""
    return Route(
        channel=channel,
        kommunenummer=kommunenummer,
        municipality_name="Bergen",
        county="Vestland",
        orgnr="964338531",
        vendor=VENDOR,
        bydel=None,
        interval=600.0,
        deadline=deadline,
        poll_interval=15.0,
        final_hop=final_hop,
    )


def uuid_of(number: int) -> str:
    """A fixed canary id (markers sign UUIDs only)."""
    return f"00000000-0000-4000-8000-{number:012d}"


def record(
    on: Route | None = None,
    *,
    created_at: float = START,
    state: State = State.IN_FLIGHT,
    upstream_id: str | None = "upstream-1",
    hops: dict[Hop, float] | None = None,
    canary_id: str | None = None,
    number: int = 1,
) -> CanaryRecord:
    """An open canary on ``on`` (the portal route by default), in flight and accepted unless told; its
    id is :func:`uuid_of` ``number``."""
    on = on or route()
    canary_id = canary_id or uuid_of(number)
    marker = SIGNER.sign(canary_id, on.channel, on.kommunenummer, int(created_at))
    made = CanaryRecord.for_route(on, canary_id, marker, created_at)
    made.state, made.upstream_id = state, upstream_id
    if hops is not None:
        made.hops = dict(hops)
    elif state is not State.INTENT and upstream_id is not None:
        made.hops = {Hop.ACCEPTED: created_at + 1}
    return made


def metrics() -> tuple[Metrics, CollectorRegistry]:
    """A fresh metric set on its own registry."""
    registry = CollectorRegistry()
    return Metrics(registry, geometric_buckets(15.0, 3600.0)), registry


def factory(seed: int = 3) -> CanaryFactory:
    """A canary factory signing with the test key."""
    return CanaryFactory(SIGNER, random.Random(seed))


@contextmanager
def ledger(path: Path) -> Iterator[Ledger]:
    """A real SQLite ledger under ``path``, closed afterwards."""
    opened = Ledger(path / "ledger.sqlite3")
    try:
        yield opened
    finally:
        opened.close()


@dataclasses.dataclass
class ScriptedAdapter:
    """A channel adapter whose answers the test sets; it records every call."""

    channel: Channel
    can_find: bool = False
    send_answer: Sent | UpstreamError = dataclasses.field(
        default_factory=lambda: Sent("upstream-1", START + 1)
    )
    check_answer: Observation | UpstreamError = dataclasses.field(
        default_factory=lambda: Observation({}, None, "")
    )
    find_answer: str | UpstreamError | None = None
    # While a gate is set and not open, the call waits for it: an upstream that answers late, or never.
    send_gate: asyncio.Event | None = None
    check_gate: asyncio.Event | None = None
    sent: list[CanarySubject] = dataclasses.field(default_factory=list)
    checked: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)
    found: list[str] = dataclasses.field(default_factory=list)

    async def send(self, route: Route, subject: CanarySubject) -> Sent:
        self.sent.append(subject)
        if self.send_gate is not None:
            await self.send_gate.wait()
        if isinstance(self.send_answer, UpstreamError):
            raise self.send_answer
        return self.send_answer

    async def check(self, route: Route, upstream_id: str, api_version: str | None = None) -> Observation:
        self.checked.append((upstream_id, api_version))
        if self.check_gate is not None:
            await self.check_gate.wait()
        if isinstance(self.check_answer, UpstreamError):
            raise self.check_answer
        return self.check_answer

    async def find(self, route: Route, canary_id: str) -> str | None:
        self.found.append(canary_id)
        if isinstance(self.find_answer, UpstreamError):
            raise self.find_answer
        return self.find_answer


class FakeReadback:
    """A vendor's read-back API: the registrations it holds, and every request it got."""

    def __init__(self) -> None:
        self.registered: list[CanaryRecord] = []
        self.registered_at: dict[str, float] = {}
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.delete_status = 204  # what a DELETE of a registered canary answers
        self.deleted: list[str] = []

    def register(self, canary: CanaryRecord, at: float) -> None:
        """The fagsystem stores ``canary`` (again, if it already has it: a duplicate)."""
        self.registered.append(canary)
        self.registered_at[canary.id] = at

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {READBACK_TOKEN}":
            return httpx.Response(401, json={"title": "Unauthorized"})
        if self.status != 200:
            return httpx.Response(self.status, json={"title": "unavailable"})
        parts = request.url.path.strip("/").split("/")
        if request.method == "DELETE":
            canary_id = parts[-1]
            if canary_id not in {canary.id for canary in self.registered}:
                return httpx.Response(404, json={"title": "Not Found"})
            if self.delete_status != 204:
                return httpx.Response(self.delete_status, json={"title": "Method Not Allowed"})
            self.deleted.append(canary_id)
            return httpx.Response(204)
        municipality = parts[-2]
        return httpx.Response(
            200,
            json={
                "canaries": [
                    {
                        "canaryId": canary.id,
                        "marker": canary.marker,
                        "channel": canary.channel.value,
                        "registeredAt": to_rfc3339(self.registered_at[canary.id]),
                    }
                    for canary in self.registered
                    if canary.municipality == municipality
                ]
            },
        )


def readback_client(
    api: Callable[[httpx.Request], httpx.Response], clock: FakeClock
) -> tuple[ReadbackClient, httpx.AsyncClient]:
    """A read-back client of nordlys with a static token, over ``api`` (a :class:`FakeReadback` or any
    handler); close the returned HTTP client."""
    token = SecretRef(env="KANARI_UNIT_READBACK")
    token.resolve(Path("."), {"KANARI_UNIT_READBACK": READBACK_TOKEN})
    vendor = Vendor(
        id=VENDOR,
        name="Nordlys",
        readback=VendorReadback(base_url=READBACK_URL, auth=ReadbackAuth(type="static", token=token)),
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(api))
    upstream = Upstream("readback", client, clock, concurrency=4, timeout=5, max_response_bytes=1 << 20)
    return ReadbackClient(vendor, upstream, None), client


PORTAL = route()  # every 600 s, deadline 300 s, polled every 15 s, final hop registered
ALTINN = route(Channel.ALTINN, final_hop=Hop.FETCHED)
SETTINGS = PollSettings(readback_interval=60.0, blind_grace=120.0, late_window=3600.0, cleanup=True)


class Probe:
    """An engine and what a test needs to drive and read it."""

    def __init__(
        self,
        engine: Engine,
        clock: FakeClock,
        registry: CollectorRegistry,
        adapters: dict[Channel, ScriptedAdapter],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.registry = registry
        self.adapters = adapters

    async def at(self, instant: float) -> None:
        """Move the clock to ``instant`` and run both ticks, with the network work they start."""
        self.clock.set(instant)
        self.engine.send_tick()
        self.engine.poll_tick()
        await self.engine.settle()

    async def until(self, condition: Callable[[], bool], last: float, step: float = 1.0) -> float:
        """Tick once a second of fake time until ``condition`` holds; the instant it did."""
        while not condition():
            if self.clock.now() >= last:
                raise AssertionError(f"not by {last - START:g}s after the start")
            await self.at(self.clock.now() + step)
        return self.clock.now()

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def only(self) -> CanaryRecord:
        [canary] = self.engine.canaries.records.values()
        return canary


@asynccontextmanager
async def probe(
    tmp_path: Path, api: FakeReadback, routes: tuple[Route, ...] = (PORTAL,), **adapters: ScriptedAdapter
) -> AsyncIterator[Probe]:
    clock = FakeClock(START)
    client, http = readback_client(api, clock)
    by_channel = {Channel(name): adapter for name, adapter in adapters.items()}
    metric_set, registry = metrics()
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    engine = Engine(
        routes=routes,
        clock=clock,
        ledger=ledger,
        metrics=metric_set,
        adapters=by_channel,
        readback={VENDOR: client},
        factory=factory(),
        verifier=VERIFIER,
        poll_settings=SETTINGS,
        seed=1,
    )
    try:
        yield Probe(engine, clock, registry, by_channel)
    finally:
        await engine.shutdown(grace=5.0)
        await http.aclose()
        ledger.close()


def portal_adapter() -> ScriptedAdapter:
    return ScriptedAdapter(Channel.PORTAL, send_answer=Sent("ks-1", START))


LABELS = {"channel": "portal", "municipality": "4601", "vendor": VENDOR}
