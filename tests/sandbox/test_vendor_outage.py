"""The faults of a vendor that is down or refuses removals, through real HTTP, next to a municipality of
the same vendor that is unaffected: ``vendor.down`` (Fiks IO queues what KS hands over, the Altinn
import fetches nothing, read-back answers 503; everything catches up once cleared) and
``vendor.delete_refused`` (DELETE answers 403 and the canary stays listed)."""

from __future__ import annotations

import httpx
import pytest

from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

PAST_WORST_PORTAL = 200
PAST_WORST_IMPORT = 2500  # worst normal Altinn fetch plus import at speed 1: 2150 s
DAY = 86400.0


def pair(kit: Kit, vendor: str = "fjordsys") -> tuple[str, str]:
    first = municipality_of(kit, vendor)
    return first, municipality_of(kit, vendor, exclude=(first,))


async def delete(kit: Kit, kommunenummer: str, canary_id: str) -> httpx.Response:
    vendor = kit.manifest.municipalities[kommunenummer].vendor
    return await kit.http.delete(
        kit.readback_url(kommunenummer, f"/{canary_id}"), headers=await kit.readback_headers(vendor)
    )


async def one(kit: Kit, kommunenummer: str, canary_id: str) -> httpx.Response:
    vendor = kit.manifest.municipalities[kommunenummer].vendor
    return await kit.http.get(
        kit.readback_url(kommunenummer, f"/{canary_id}"), headers=await kit.readback_headers(vendor)
    )


async def test_vendor_down_queues_portal_reports_until_it_is_back(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    fault = await kit.fault("vendor.down", faulty)
    queued, delivered = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(DAY)  # far longer than any hand-over: nothing expires, nothing is receipted
    assert await kit.states(queued.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM"]
    assert (await kit.states(delivered.report_id))[-1] == "LEVERT"
    assert await kit.registered(healthy) == [delivered.canary_id]
    for response in (
        await kit.readback(faulty),
        await one(kit, faulty, queued.canary_id),
        await delete(kit, faulty, queued.canary_id),
    ):
        assert response.status_code == 503
        assert response.json()["status"] == 503
    assert kit.world.fagsystems.stores["fjordsys"].reports(faulty) == []

    await kit.clear(fault)
    back = kit.clock.now()
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.states(queued.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]
    assert await kit.registered(faulty) == [queued.canary_id]
    (stored,) = kit.world.fagsystems.stores["fjordsys"].reports(faulty)
    assert stored.registered_at == back  # delivered the instant the fagsystem was back


async def test_vendor_down_stops_the_altinn_import_but_not_altinn_s_own_inbox(kit: Kit) -> None:
    importing = municipality_of(kit, "fjordsys", imports_altinn=True)
    reading = municipality_of(kit, "fjordsys", imports_altinn=False)
    fault = await kit.fault("vendor.down", importing)
    await kit.fault("vendor.down", reading)
    unfetched, canary = await kit.send_correspondence(importing)
    opened, _ = await kit.send_correspondence(reading)
    unfetched_id = unfetched.json()["correspondences"][0]["correspondenceId"]
    kit.advance(6 * 3600)
    assert await kit.statuses(unfetched_id) == ["Initialized", "ReadyForPublish", "Published"]
    assert "Fetched" in await kit.statuses(opened.json()["correspondences"][0]["correspondenceId"])
    assert (await kit.readback(importing)).status_code == 503

    await kit.clear(fault)
    kit.advance(PAST_WORST_IMPORT)
    assert "Fetched" in await kit.statuses(unfetched_id)
    assert await kit.registered(importing) == [canary]


async def test_vendor_delete_refused_keeps_the_canary_listed(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    kept, removed = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(PAST_WORST_PORTAL)
    fault = await kit.fault("vendor.delete_refused", faulty)
    refused = await delete(kit, faulty, kept.canary_id)
    assert refused.status_code == 403
    assert refused.json()["status"] == 403
    assert await kit.registered(faulty) == [kept.canary_id]
    assert (await one(kit, faulty, kept.canary_id)).status_code == 200
    assert (await delete(kit, healthy, removed.canary_id)).status_code == 204
    assert await kit.registered(healthy) == []

    await kit.clear(fault)
    assert (await delete(kit, faulty, kept.canary_id)).status_code == 204
    assert await kit.registered(faulty) == []
