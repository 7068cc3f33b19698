"""Assembling a running probe from a configuration: one HTTP client, the upstreams, the adapters, the
marker keys, the ledger, the metrics and the engine.

Everything is built from injected parts (clock, HTTP transport, metrics registry), so tests assemble the
same runtime against the in-process sandbox, a real socket or respx without patching.
"""

from __future__ import annotations

import dataclasses
import random
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import certifi
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from prometheus_client import CollectorRegistry

from probe import __version__
from probe.canary.asice import ContainerSigner
from probe.canary.marker import MarkerSigner, MarkerVerifier, jwks, load_public_key, load_signing_key
from probe.channels.altinn import AltinnChannel
from probe.channels.base import ChannelAdapter
from probe.channels.portal import PortalChannel
from probe.clock import Clock
from probe.config.keyfiles import load_certificate_chain, load_private_key
from probe.config.loader import KanariConfig
from probe.config.routes import Route
from probe.engine.canaries import CanaryFactory
from probe.engine.engine import Engine
from probe.engine.polling import PollSettings
from probe.errors import ConfigError
from probe.hops import Channel
from probe.ledger import Ledger
from probe.maskinporten import MaskinportenClient
from probe.metrics import Metrics, geometric_buckets
from probe.readback import ReadbackClient
from probe.upstream import Upstream, connection_limits, pooled_transport


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
        headers={"User-Agent": f"kanari/{__version__}"},
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
    ledger: Ledger
    engine: Engine
    upstreams: dict[str, Upstream]
    maskinporten: MaskinportenClient
    jwks: dict[str, Any]

    async def close(self) -> None:
        """Finish network work, close the HTTP clients and the ledger."""
        await self.engine.settle()
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
    """Build the probe for ``config`` (all its routes unless ``routes`` is given)."""
    settings = config.settings
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
        _rsa_key(config),
        upstreams["maskinporten"],
        clock,
        _certificate_chain(config),
    )
    adapters: dict[Channel, ChannelAdapter] = {}
    portal = settings.channels.get(Channel.PORTAL)
    if portal is not None and settings.channels.portal is not None:
        upstreams["portal"] = upstream("portal", portal.concurrency, portal.timeout)
        adapters[Channel.PORTAL] = PortalChannel(
            settings.channels.portal, upstreams["portal"], maskinporten, clock, _container_signer(config)
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

    signing_key, public_keys = _marker_keys(config)
    buckets = geometric_buckets(
        min(route.poll_interval for route in routes) if routes else 15.0,
        max(route.deadline for route in routes) if routes else 3600.0,
    )
    metrics = Metrics(registry, buckets)
    ledger = Ledger(ledger_path or config.path(settings.ledger))
    engine = Engine(
        routes=routes,
        clock=clock,
        ledger=ledger,
        metrics=metrics,
        adapters=adapters,
        readback=readback,
        factory=CanaryFactory(MarkerSigner(signing_key, settings.signing.key_id), random.Random(seed)),
        verifier=MarkerVerifier(public_keys, settings.signing.max_age),
        poll_settings=PollSettings(
            readback_interval=settings.readback.poll_interval,
            blind_grace=settings.blind_grace,
            late_window=settings.late_window,
            cleanup=settings.readback.cleanup,
        ),
        retention=settings.retention,
        seed=seed or 0,
    )
    return Runtime(
        config, clients, registry, metrics, ledger, engine, upstreams, maskinporten, jwks(public_keys)
    )


def _rsa_key(config: KanariConfig) -> RSAPrivateKey:
    settings = config.settings.maskinporten
    key = load_private_key(config.path(settings.key_file), "maskinporten.key_file", "kanari.yaml")
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError("kanari.yaml", "maskinporten.key_file", str(settings.key_file), "not an RSA key")
    return key


def _certificate_chain(config: KanariConfig) -> list[Any]:
    chain_file = config.settings.maskinporten.certificate_chain_file
    if chain_file is None:
        return []
    return load_certificate_chain(
        config.path(chain_file), "maskinporten.certificate_chain_file", "kanari.yaml"
    )


def _container_signer(config: KanariConfig) -> ContainerSigner:
    business = config.settings.business_certificate
    if business is None:
        raise ConfigError("kanari.yaml", "business_certificate", None, "the portal channel needs it")
    key = load_private_key(config.path(business.key_file), "business_certificate.key_file", "kanari.yaml")
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(
            "kanari.yaml", "business_certificate.key_file", str(business.key_file), "not an RSA key"
        )
    chain = load_certificate_chain(
        config.path(business.certificate_chain_file),
        "business_certificate.certificate_chain_file",
        "kanari.yaml",
    )
    try:
        return ContainerSigner(chain, key)
    except ValueError as error:
        raise ConfigError(
            "kanari.yaml",
            "business_certificate.certificate_chain_file",
            str(business.certificate_chain_file),
            str(error),
        ) from None


def _marker_keys(config: KanariConfig) -> tuple[Ed25519PrivateKey, Mapping[str, Ed25519PublicKey]]:
    signing = config.settings.signing
    key = load_signing_key(config.path(signing.key_file), "signing.key_file", "kanari.yaml")
    public_keys: dict[str, Ed25519PublicKey] = {signing.key_id: key.public_key()}
    for previous in signing.previous_public_keys:
        public_keys[previous.key_id] = load_public_key(config.path(previous.public_key_file))
    return key, public_keys
