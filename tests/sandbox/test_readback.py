"""The vendors' read-back API, and that ``docs/readback-openapi.yaml`` is valid OpenAPI 3.1 that the
sandbox's real answers conform to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import ROOT
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

SPEC_PATH = ROOT / "docs" / "readback-openapi.yaml"
SPEC_URI = "urn:kanari:readback-openapi"
PAST_WORST_PORTAL = 200


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(Path(SPEC_PATH).read_text(encoding="utf-8"))
    return spec


def conforms(body: Any, component: str) -> None:
    """Validate ``body`` against a component schema of the OpenAPI document (JSON Schema 2020-12)."""
    spec = load_spec()
    registry: Registry[Any] = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{component}"}
    jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(body)


def test_the_openapi_document_is_valid() -> None:
    spec = load_spec()
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    operations = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "delete")
    }
    assert operations == {
        ("/kanari/v1/municipalities/{kommunenummer}/canaries", "get"),
        ("/kanari/v1/municipalities/{kommunenummer}/canaries/{canaryId}", "get"),
        ("/kanari/v1/municipalities/{kommunenummer}/canaries/{canaryId}", "delete"),
    }
    for example in spec["paths"]["/kanari/v1/municipalities/{kommunenummer}/canaries"]["get"]["responses"][
        "200"
    ]["content"]["application/json"]["examples"].values():
        conforms(example["value"], "CanaryList")


async def test_answers_conform_to_the_openapi_document(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "vidde")
    empty = await kit.readback(kommunenummer)
    conforms(empty.json(), "CanaryList")
    sent = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    listing = await kit.readback(kommunenummer)
    assert listing.status_code == 200
    conforms(listing.json(), "CanaryList")
    entry = listing.json()["canaries"][0]
    assert entry["canaryId"] == sent.canary_id
    assert entry["channel"] == "portal"
    assert entry["marker"].startswith("KANARI1.")
    one = await kit.http.get(
        kit.readback_url(kommunenummer, f"/{sent.canary_id}"), headers=await kit.readback_headers("vidde")
    )
    assert one.status_code == 200
    conforms(one.json(), "Canary")
    assert one.json() == entry
    for error in (
        await kit.readback(kommunenummer, since="yesterday"),
        await kit.http.get(
            kit.readback_url(kommunenummer, "/nope"), headers=await kit.readback_headers("vidde")
        ),
        await kit.http.get(kit.readback_url(kommunenummer), params={"since": "2026-01-01T00:00:00Z"}),
    ):
        assert error.headers["content-type"].startswith("application/problem+json")
        conforms(error.json(), "Problem")


async def test_since_filters_and_server_time_chains_polls(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "fjordsys")
    first = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    poll = (await kit.readback(kommunenummer)).json()
    assert [entry["canaryId"] for entry in poll["canaries"]] == [first.canary_id]
    second = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    later = (await kit.readback(kommunenummer, since=poll["serverTime"])).json()
    assert [entry["canaryId"] for entry in later["canaries"]] == [second.canary_id]
    assert later["serverTime"] > poll["serverTime"]
    assert (await kit.readback(kommunenummer, since="2026-01-01T01:00:00+01:00")).status_code == 200
    missing = await kit.http.get(
        kit.readback_url(kommunenummer), headers=await kit.readback_headers("fjordsys")
    )
    assert missing.status_code == 400
    naive = await kit.readback(kommunenummer, since="2026-01-01T00:00:00")
    assert naive.status_code == 400


async def test_delete_removes_the_canary(kit: Kit) -> None:
    kommunenummer = municipality_of(kit, "kystdata")
    sent = await kit.send_report(kommunenummer)
    kit.advance(PAST_WORST_PORTAL)
    headers = await kit.readback_headers("kystdata")
    url = kit.readback_url(kommunenummer, f"/{sent.canary_id}")
    deleted = await kit.http.delete(url, headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await kit.http.get(url, headers=headers)).status_code == 404
    assert await kit.registered(kommunenummer) == []
    assert (await kit.http.delete(url, headers=headers)).status_code == 404
    stored = kit.world.fagsystems.stores["kystdata"].reports(kommunenummer)
    assert [report.canary.canary_id for report in stored if report.canary] == [sent.canary_id]


async def test_authentication_and_scoping(kit: Kit) -> None:
    fjordsys_place = municipality_of(kit, "fjordsys")
    static = await kit.readback_headers("fjordsys")
    url = kit.readback_url(fjordsys_place)
    params = {"since": "2026-01-01T00:00:00Z"}
    assert (await kit.http.get(url, params=params, headers=static)).status_code == 200
    no_token = await kit.http.get(url, params=params)
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
    other_vendor = await kit.readback_headers("vidde")
    assert (await kit.http.get(url, params=params, headers=other_vendor)).status_code == 401
    # Nordlys takes a Maskinporten token with its own scope.
    bergen = kit.readback_url("4601")
    scoped = await kit.readback_headers("nordlys")
    assert (await kit.http.get(bergen, params=params, headers=scoped)).status_code == 200
    wrong_scope = {"Authorization": f"Bearer {await kit.token('ks:fiks')}"}
    assert (await kit.http.get(bergen, params=params, headers=wrong_scope)).status_code == 403
    assert (await kit.http.get(bergen, params=params, headers=static)).status_code == 401
    # A municipality the vendor does not serve, a vendor without read-back, an unknown vendor.
    not_served = kit.readback_url("4601", vendor_id="fjordsys")
    assert (await kit.http.get(not_served, params=params, headers=static)).status_code == 404
    papirlos_place = municipality_of(kit, "papirlos")
    assert (
        await kit.http.get(kit.readback_url(papirlos_place), params=params, headers=static)
    ).status_code == 404
    assert (
        await kit.http.get(kit.readback_url("4601", vendor_id="nobody"), params=params)
    ).status_code == 404
