"""Assembling a running probe from a configuration: one HTTP client, the upstreams, the adapters, the
marker keys, the ledger, the metrics and the engine.

Everything is built from injected parts (clock, HTTP transport, metrics registry), so tests assemble the
same runtime against the in-process sandbox, a real socket or respx without patching.
"""

from __future__ import annotations

import dataclasses
import random
import ssl
from pathlib import Path
from typing import Any

import certifi
import httpx
from prometheus_client import CollectorRegistry

from probe import __version__
from probe.canary.asice import ContainerSigner
from probe.canary.marker import MarkerSigner, MarkerVerifier, jwks
from probe.channels.altinn import AltinnChannel
from probe.channels.base import ChannelAdapter
from probe.channels.portal import PortalChannel
from probe.checks.readback import ReadbackClient
from probe.clock import Clock
from probe.config.loader import KanariConfig
from probe.config.routes import Route
from probe.engine.core import Engine, PollSettings
from probe.engine.factory import CanaryFactory
from probe.engine.maintenance import Maintenance
from probe.errors import ConfigError
from probe.hops import Channel
from probe.leadership.lease import Leadership
from probe.ledger.postgres import PostgresLease, PostgresLedger, PostgresPruner, PostgresTarget
from probe.ledger.sqlite import Ledger
from probe.ledger.store import LedgerStore
from probe.metrics.metric_set import Metrics, geometric_buckets
from probe.transport.maskinporten import MaskinportenClient
from probe.transport.pool import connection_limits, pooled_transport
from probe.transport.upstream import Upstream

# How long a stopping probe waits for requests under way before cancelling them: the default upstream
# timeout, so a request that would be answered in time is, and a stuck one cannot hold the process
# (Kubernetes' default termination grace is 30 s; the HTTP surface then takes at most 5 s more).
SHUTDOWN_GRACE = 10.0
# What every upstream sees Kanari as (``kanari readback verify`` too).
USER_AGENT = f"kanari/{__version__}"


def ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification always on: the public CAs, plus ``ca_bundle`` (a test or internal CA) if given."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


def http_client(
    config: KanariConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    connections: int = 64,
    context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """A connection-pooling client (keep-alive saves a TLS handshake per call) of at most
    ``connections`` connections.

    Each upstream gets its own client sized to its concurrency rather than all sharing one large pool:
    httpcore looks at every pooled connection (a readability check with system calls, and a quadratic
    count of idle ones) each time a request is queued or finished, so one pool of 64 connections cost
    about a millisecond per request. Connections to different services are never shared anyway.
    """
    if context is None:
        ca_bundle = config.path(config.settings.http.ca_bundle) if config.settings.http.ca_bundle else None
        context = ssl_context(ca_bundle)
    limits = connection_limits(connections)
    return httpx.AsyncClient(
        transport=transport if transport is not None else pooled_transport(context, limits),
        verify=context,
        headers={"User-Agent": USER_AGENT},
        limits=limits,
        follow_redirects=False,
    )


@dataclasses.dataclass
class Runtime:
    """A probe assembled from a configuration."""

    config: KanariConfig
    clients: list[httpx.AsyncClient]
    registry: CollectorRegistry
    metrics: Metrics
    ledger: LedgerStore
    engine: Engine
    upstreams: dict[str, Upstream]
    maskinporten: MaskinportenClient
    jwks: dict[str, Any]
    maintenance: Maintenance
    # The lease of a replica on the PostgreSQL ledger; None on SQLite (the only probe on its ledger).
    leadership: Leadership | None = None

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Finish network work (at most ``grace`` seconds), close the HTTP clients and the ledger."""
        await self.maintenance.close()
        await self.engine.shutdown(grace)
        for client in self.clients:
            await client.aclose()
        self.ledger.close()


def build_runtime(
    config: KanariConfig,
    clock: Clock,
    *,
    routes: tuple[Route, ...] | None = None,
    registry: CollectorRegistry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    ledger_path: Path | None = None,
    seed: int | None = None,
) -> Runtime:
    """Build the probe for ``config`` (all its routes unless ``routes`` is given). ``config`` must have
    been loaded with its secrets: the probe signs and authenticates with its keys."""
    settings = config.settings
    keys = config.keys
    if keys is None:
        raise ConfigError(
            "kanari.yaml", "signing.key_file", None, "the configuration was loaded without its key files"
        )
    routes = config.routes if routes is None else routes
    registry = registry or CollectorRegistry()
    ca_bundle = config.path(settings.http.ca_bundle) if settings.http.ca_bundle else None
    context = ssl_context(ca_bundle)
    clients: list[httpx.AsyncClient] = []
    response_limit = settings.http.max_response_bytes

    def upstream(name: str, concurrency: int, timeout: float) -> Upstream:
        # The upstream never has more than ``concurrency`` requests under way, so a larger pool would
        # only hold idle connections that every request then has to look at.
        client = http_client(config, transport, connections=concurrency, context=context)
        clients.append(client)
        return Upstream(
            name, client, clock, concurrency=concurrency, timeout=timeout, max_response_bytes=response_limit
        )

    upstreams = {"maskinporten": upstream("maskinporten", 4, 10.0)}
    maskinporten = MaskinportenClient(
        settings.maskinporten,
        keys.maskinporten_key,
        upstreams["maskinporten"],
        clock,
        keys.maskinporten_chain,
    )
    adapters: dict[Channel, ChannelAdapter] = {}
    portal = settings.channels.get(Channel.PORTAL)
    if portal is not None and settings.channels.portal is not None:
        if keys.business_chain is None or keys.business_key is None:
            raise ConfigError("kanari.yaml", "business_certificate", None, "the portal channel needs it")
        upstreams["portal"] = upstream("portal", portal.concurrency, portal.timeout)
        signer = ContainerSigner(keys.business_chain, keys.business_key)
        adapters[Channel.PORTAL] = PortalChannel(
            settings.channels.portal, upstreams["portal"], maskinporten, clock, signer
        )
    altinn = settings.channels.get(Channel.ALTINN)
    if altinn is not None and settings.channels.altinn is not None:
        upstreams["altinn"] = upstream("altinn", altinn.concurrency, altinn.timeout)
        adapters[Channel.ALTINN] = AltinnChannel(
            settings.channels.altinn, upstreams["altinn"], maskinporten, clock
        )
    readback: dict[str, ReadbackClient] = {}
    for vendor in config.vendors.values():
        if vendor.readback is not None:
            name = f"readback:{vendor.id}"
            upstreams[name] = upstream("readback", settings.readback.concurrency, settings.readback.timeout)
            readback[vendor.id] = ReadbackClient(vendor, upstreams[name], maskinporten)

    buckets = geometric_buckets(
        min(route.poll_interval for route in routes) if routes else 15.0,
        max(route.deadline for route in routes) if routes else 3600.0,
    )
    metrics = Metrics(registry, buckets)
    metrics.set_key_expiries(keys.expiries())
    path = ledger_path or config.path(settings.ledger)
    ledger: LedgerStore
    leadership: Leadership | None = None
    opener = None
    postgres = settings.ledger_postgres
    if postgres is not None and ledger_path is None:
        target = PostgresTarget(
            postgres.dsn, postgres.password.value() if postgres.password else None, postgres.lease
        )
        lease = Leadership(PostgresLease(target), postgres.lease)
        pg_ledger = PostgresLedger(target, holder=lease.holder, epoch=lambda: lease.epoch)
        ledger, leadership = pg_ledger, lease

        def opener() -> PostgresPruner:
            return PostgresPruner(pg_ledger)
    else:
        ledger = Ledger(path)
    engine = Engine(
        routes=routes,
        clock=clock,
        ledger=ledger,
        metrics=metrics,
        adapters=adapters,
        readback=readback,
        factory=CanaryFactory(MarkerSigner(keys.marker_key, keys.marker_key_id), random.Random(seed)),
        verifier=MarkerVerifier(keys.marker_public_keys, settings.signing.max_age),
        poll_settings=PollSettings.of(settings),
        seed=seed or 0,
    )
    return Runtime(
        config,
        clients,
        registry,
        metrics,
        ledger,
        engine,
        upstreams,
        maskinporten,
        jwks(keys.marker_public_keys),
        Maintenance(path, clock, settings.retention, opener=opener),
        leadership,
    )
