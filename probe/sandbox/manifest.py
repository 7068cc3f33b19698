"""``sandbox.json``: everything a client (Kanari, ``kanari demo``, a test) needs to use a running sandbox,
written into the state dir at start. It holds URLs, identifiers and *paths* of secret files, never a
secret itself.

Load it with :func:`load_manifest`; the models below are its schema (snake_case keys, like Kanari's own
configuration). ``latency`` is :func:`probe.sandbox.delays.worst_case_latencies` at the running speed:
choose each route's deadline above its final hop's value plus one poll interval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from probe.sandbox.assignment import NEWEST_VERSION, VENDORS
from probe.sandbox.credentials import (
    CLIENT_CHAIN_FILE,
    CLIENT_KEY_FILE,
    INTEGRASJON_PASSORD_FILE,
    KANARI_CLIENT_ID,
    KANARI_KEY_ID,
    KANARI_ORGNR,
    MANIFEST_FILE,
    RECIPIENT_CLIENT_ID,
    RECIPIENT_KEY_FILE,
    RECIPIENT_KEY_ID,
    readback_token_file,
    write_public,
)
from probe.sandbox.delays import worst_case_latencies
from probe.sandbox.world import KANARI_SCOPES, World

MANIFEST_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaskinportenInfo(_Model):
    """Kanari's Maskinporten client at the sandbox (either ``key_id`` or the chain file, x5c mode)."""

    token_url: str
    issuer: str
    audience: str
    client_id: str
    key_id: str
    key_file: Path
    certificate_chain_file: Path
    orgnr: str
    scopes: list[str]


class RecipientClientInfo(_Model):
    """The recipient-side client every municipality delegated to (use ``consumer_org`` = orgnr)."""

    client_id: str
    key_id: str
    key_file: Path
    scopes: list[str]


class PortalInfo(_Model):
    """KS's producer API at the sandbox."""

    base_url: str
    fiks_org_id: str
    integrasjon_id: str
    integrasjon_passord_file: Path
    api_versions: list[str]


class AltinnInfo(_Model):
    """Altinn at the sandbox."""

    base_url: str
    # The resource for confidential mail (Kanari's default) and the one for ordinary mail.
    resource_id: str
    ordinary_resource_id: str
    scopes: list[str]
    recipient_client: RecipientClientInfo


class ReadbackAuthInfo(_Model):
    """How the vendor's read-back API authenticates: a static token (file) or a Maskinporten scope."""

    type: Literal["static", "maskinporten"]
    token_file: Path | None = None
    scope: str | None = None


class ReadbackInfo(_Model):
    """A vendor's read-back API."""

    base_url: str
    auth: ReadbackAuthInfo


class VendorInfo(_Model):
    """A fictional vendor."""

    id: str
    name: str
    readback: ReadbackInfo | None


class BydelInfo(_Model):
    """One office of a municipality; ``stottet_versjon`` is the newest report version it accepts."""

    bydelsnummer: str
    bydelsnavn: str
    standard_mottaker: bool
    stottet_versjon: int = NEWEST_VERSION


class MunicipalityInfo(_Model):
    """A municipality's place in the sandbox world."""

    name: str
    vendor: str
    orgnr: str
    orgnr_is_placeholder: bool
    bydeler: list[BydelInfo]
    imports_altinn: bool


class Manifest(_Model):
    """The whole ``sandbox.json``."""

    version: int
    base_url: str
    tls: bool
    ca_file: Path | None
    speed: float
    admin_url: str
    maskinporten: MaskinportenInfo
    portal: PortalInfo
    altinn: AltinnInfo
    vendors: list[VendorInfo]
    municipalities: dict[str, MunicipalityInfo]
    # channel → hop → worst-case normal latency in seconds at this speed.
    latency: dict[str, dict[str, float]]


def build_manifest(world: World) -> Manifest:
    """The manifest describing ``world``."""
    credentials, settings, urls = world.credentials, world.settings, world.urls
    readback_scopes = [vendor.scope for vendor in VENDORS if vendor.scope is not None]
    vendors = []
    for vendor in VENDORS:
        readback = None
        if vendor.readback == "static":
            auth = ReadbackAuthInfo(
                type="static", token_file=credentials.path(readback_token_file(vendor.id))
            )
            readback = ReadbackInfo(base_url=urls.readback(vendor.id), auth=auth)
        elif vendor.readback == "maskinporten":
            auth = ReadbackAuthInfo(type="maskinporten", scope=vendor.scope)
            readback = ReadbackInfo(base_url=urls.readback(vendor.id), auth=auth)
        vendors.append(VendorInfo(id=vendor.id, name=vendor.name, readback=readback))
    municipalities = {
        number: MunicipalityInfo(
            name=world.registry[number].name,
            vendor=assignment.vendor_id,
            orgnr=assignment.orgnr,
            orgnr_is_placeholder=assignment.orgnr_is_placeholder,
            bydeler=[BydelInfo(**bydel._asdict()) for bydel in assignment.bydeler],
            imports_altinn=assignment.imports_altinn,
        )
        for number, assignment in sorted(world.assignments.items())
    }
    latency = {
        channel.value: {hop.value: round(seconds, 3) for hop, seconds in hops.items()}
        for channel, hops in worst_case_latencies(settings, world.clock.now()).items()
    }
    return Manifest(
        version=MANIFEST_VERSION,
        base_url=urls.base,
        tls=credentials.tls is not None,
        ca_file=credentials.tls.ca_file if credentials.tls is not None else None,
        speed=settings.speed,
        admin_url=urls.admin,
        maskinporten=MaskinportenInfo(
            token_url=urls.maskinporten_token,
            issuer=urls.maskinporten_issuer,
            audience=urls.maskinporten_issuer,
            client_id=KANARI_CLIENT_ID,
            key_id=KANARI_KEY_ID,
            key_file=credentials.path(CLIENT_KEY_FILE),
            certificate_chain_file=credentials.path(CLIENT_CHAIN_FILE),
            orgnr=KANARI_ORGNR,
            scopes=[*KANARI_SCOPES, *readback_scopes],
        ),
        portal=PortalInfo(
            base_url=urls.fiks,
            fiks_org_id=settings.fiks_org_id,
            integrasjon_id=settings.integrasjon_id,
            integrasjon_passord_file=credentials.path(INTEGRASJON_PASSORD_FILE),
            api_versions=["v1", "v2"],
        ),
        altinn=AltinnInfo(
            base_url=urls.altinn,
            resource_id=settings.altinn_resource_id,
            ordinary_resource_id=settings.altinn_ordinary_resource_id,
            scopes=["altinn:serviceowner", "altinn:correspondence.write"],
            recipient_client=RecipientClientInfo(
                client_id=RECIPIENT_CLIENT_ID,
                key_id=RECIPIENT_KEY_ID,
                key_file=credentials.path(RECIPIENT_KEY_FILE),
                scopes=["altinn:correspondence.read"],
            ),
        ),
        vendors=vendors,
        municipalities=municipalities,
        latency=latency,
    )


def write_manifest(world: World) -> Path:
    """Write ``sandbox.json`` into the world's state dir; returns its path."""
    path = world.credentials.path(MANIFEST_FILE)
    text = build_manifest(world).model_dump_json(indent=2)
    write_public(path, (text + "\n").encode())
    return path


def load_manifest(path: Path) -> Manifest:
    """Read a ``sandbox.json`` (a path to the file or to the state dir)."""
    file = path / MANIFEST_FILE if path.is_dir() else path
    return Manifest.model_validate(json.loads(file.read_text(encoding="utf-8")))
