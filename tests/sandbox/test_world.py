"""The world's bookkeeping: finished items are forgotten after the retention, open ones never; deviations
from KS's contract are counted in one place."""

from __future__ import annotations

import pytest

from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio


async def test_retention_forgets_finished_items_only(kit: Kit) -> None:
    world = kit.world
    kommunenummer = municipality_of(kit, "fjordsys", imports_altinn=False)
    finished = await kit.send_report(kommunenummer)
    await kit.fault("portal.stall", "4601")
    stalled = await kit.send_report("4601")
    correspondence, _ = await kit.send_correspondence(kommunenummer)
    kit.advance(world.settings.retention / 2)
    await kit.states(finished.report_id)
    await kit.statuses(correspondence.json()["correspondences"][0]["correspondenceId"])
    assert await kit.registered(kommunenummer) == [finished.canary_id]
    kit.advance(world.settings.retention)
    world.prune()
    assert world.ks.peek(finished.report_id) is None
    assert world.ks.peek(stalled.report_id) is not None  # still waiting for the stall to end
    assert len(world.altinn) == 0
    assert world.altinn.idempotent_keys == {}
    assert await kit.registered(kommunenummer) == []
    assert (await kit.status(finished.report_id)).status_code == 404


async def test_retention_forgets_removals_too(kit: Kit) -> None:
    world = kit.world
    kommunenummer = municipality_of(kit, "fjordsys", imports_altinn=False)
    removed = await kit.send_report(kommunenummer)
    kit.advance(200)
    response = await kit.http.delete(
        kit.readback_url(kommunenummer, f"/{removed.canary_id}"),
        headers=await kit.readback_headers("fjordsys"),
    )
    assert response.status_code == 204
    store = world.fagsystems.stores["fjordsys"]
    world.prune()
    assert store.removed(kommunenummer) == {removed.canary_id}  # still held: still hidden
    kit.advance(world.settings.retention)
    world.prune()
    assert store.reports(kommunenummer) == []
    assert store.removed(kommunenummer) == frozenset()


async def test_one_deviation_counter_for_ks_and_the_fagsystems(kit: Kit) -> None:
    world = kit.world
    assert world.fagsystems.deviations is world.deviations
    assert not world.deviations
    response = await kit.http.get(world.urls.deviations)
    assert response.status_code == 200
    assert response.json() == {"cms_pkcs1v15": 0, "print_cms_pkcs1v15": 0}
