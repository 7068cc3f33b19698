"""Every fault, through real HTTP: the behaviour it must produce for its municipality, and that another
municipality is unaffected. Plus the admin API and the fault history the lazy world relies on."""

from __future__ import annotations

import json

import httpx
import pytest
from cryptography import x509

from probe.clock import FakeClock
from probe.sandbox.faults import FaultName, FaultRegistry
from tests.sandbox.kit import Kit, municipality_of

pytestmark = pytest.mark.anyio

PAST_WORST_PORTAL = 200
PAST_WORST_FETCH = 2000  # worst normal fetch at speed 1 is 1850 s


def pair(kit: Kit, vendor: str = "fjordsys") -> tuple[str, str]:
    first = municipality_of(kit, vendor)
    return first, municipality_of(kit, vendor, exclude=(first,))


def is_json(response: httpx.Response) -> bool:
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


# --- the registry ------------------------------------------------------------------------------------


def test_fault_history_answers_for_any_past_instant() -> None:
    clock = FakeClock(1000.0)
    faults = FaultRegistry(clock, {"4601", "0301"})
    first = faults.add(FaultName.PORTAL_STALL, "4601")
    clock.advance(100)
    assert faults.free_from(FaultName.PORTAL_STALL, "4601", 1050.0) is None  # still active
    assert faults.free_from(FaultName.PORTAL_STALL, "0301", 1050.0) == 1050.0
    assert faults.free_from(FaultName.PORTAL_STALL, "4601", 999.0) == 999.0
    faults.clear(first.id)
    overlapping = faults.add(FaultName.PORTAL_STALL, "*")
    clock.advance(50)
    faults.clear(overlapping.id)
    assert faults.free_from(FaultName.PORTAL_STALL, "4601", 1050.0) == 1150.0
    assert faults.active_at(FaultName.PORTAL_STALL, "0301", 1120.0)
    assert not faults.active_at(FaultName.PORTAL_STALL, "0301", 1150.0)
    assert faults.active() == []
    assert len(faults.history()) == 2
    with pytest.raises(KeyError):
        faults.add(FaultName.RATELIMIT, "9999")


# --- the admin API -----------------------------------------------------------------------------------


async def test_admin_api(kit: Kit) -> None:
    url = kit.manifest.admin_url
    created = await kit.http.post(url, json={"fault": "vendor.slow", "municipality": "4601"})
    assert created.status_code == 201
    fault_id = created.json()["id"]
    everywhere = await kit.fault("ratelimit", "*")
    listed = (await kit.http.get(url)).json()
    assert [entry["id"] for entry in listed] == [fault_id, everywhere]
    assert listed[0] == {
        "id": fault_id,
        "fault": "vendor.slow",
        "municipality": "4601",
        "since": listed[0]["since"],
    }
    unknown_fault = await kit.http.post(url, json={"fault": "vendor.on_fire", "municipality": "4601"})
    assert unknown_fault.status_code == 400
    assert "vendor.on_fire" in unknown_fault.json()["detail"]
    unknown_place = await kit.http.post(url, json={"fault": "vendor.slow", "municipality": "9999"})
    assert unknown_place.status_code == 400
    assert "9999" in unknown_place.json()["detail"]
    assert (await kit.http.post(url, content=b"nope")).status_code == 400
    assert (await kit.http.delete(f"{url}/{fault_id}")).status_code == 204
    assert (await kit.http.delete(f"{url}/{fault_id}")).status_code == 404
    assert [entry["id"] for entry in (await kit.http.get(url)).json()] == [everywhere]
    await kit.fault("malformed", "0301")
    assert (await kit.http.delete(url)).status_code == 204
    assert (await kit.http.get(url)).json() == []
    assert (await kit.http.get(f"{kit.base}/healthz")).json() == {"status": "ok"}


# --- portal faults -----------------------------------------------------------------------------------


async def test_portal_submit_error(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("portal.submit_error", faulty)
    refused = (await kit.send_report(faulty)).response
    assert refused.status_code == 503
    assert refused.json()["status"] == 503
    assert (await kit.send_report(healthy)).response.status_code == 200


async def test_portal_stall_holds_akseptert_and_resumes_when_cleared(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    fault = await kit.fault("portal.stall", faulty)
    stalled, flowing = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(3600)
    assert await kit.states(stalled.report_id) == ["AKSEPTERT"]
    assert (await kit.states(flowing.report_id))[-1] == "LEVERT"
    await kit.clear(fault)
    cleared_at = kit.clock.now()
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.states(stalled.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]
    forwarded = (await kit.status(stalled.report_id)).json()[1]["tidspunkt"]
    assert forwarded >= (await kit.status(stalled.report_id)).json()[0]["tidspunkt"]
    report = kit.world.ks.peek(stalled.report_id)
    assert report is not None
    assert report.history[1].at == cleared_at


async def test_portal_handover_lost(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("portal.handover_lost", faulty)
    lost, delivered = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(86400)
    assert await kit.states(lost.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM"]
    assert await kit.registered(faulty) == []
    assert (await kit.states(delivered.report_id))[-1] == "LEVERT"
    assert await kit.registered(healthy) == [delivered.canary_id]


# --- vendor faults -----------------------------------------------------------------------------------


async def test_vendor_receipt_without_store(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("vendor.receipt_without_store", faulty)
    receipted, stored = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.states(receipted.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]
    assert await kit.registered(faulty) == []
    assert await kit.registered(healthy) == [stored.canary_id]


async def test_vendor_reject_falls_back_to_print(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("vendor.reject", faulty)
    rejected, accepted = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(PAST_WORST_PORTAL + 700)  # print and the letter's hand-over to the post take up to 300 s each
    assert await kit.states(rejected.report_id) == [
        "AKSEPTERT",
        "SENDT_FAGSYSTEM",
        "AVVIST_FAGSYSTEM",
        "SENDT_PRINT",
        "LEVERT",
    ]
    assert await kit.registered(faulty) == []
    assert (await kit.states(accepted.report_id))[-1] == "LEVERT"


async def test_vendor_slow_registers_far_past_normal(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("vendor.slow", faulty)
    slow, quick = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(PAST_WORST_PORTAL)
    assert "LEVERT" not in await kit.states(slow.report_id)
    assert await kit.registered(faulty) == []
    assert await kit.registered(healthy) == [quick.canary_id]
    kit.advance(3600)
    assert (await kit.states(slow.report_id))[-1] == "LEVERT"
    assert await kit.registered(faulty) == [slow.canary_id]


async def test_vendor_readback_down(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    fault = await kit.fault("vendor.readback_down", faulty)
    down = await kit.readback(faulty)
    assert down.status_code == 503
    assert down.json()["status"] == 503
    assert (await kit.readback(healthy)).status_code == 200
    await kit.clear(fault)
    assert (await kit.readback(faulty)).status_code == 200


async def test_vendor_duplicate_registers_twice(kit: Kit) -> None:
    faulty, healthy = pair(kit, "nordlys")
    await kit.fault("vendor.duplicate", faulty)
    twice, once = await kit.send_report(faulty), await kit.send_report(healthy)
    kit.advance(PAST_WORST_PORTAL)
    assert await kit.registered(faulty) == [twice.canary_id, twice.canary_id]
    assert await kit.registered(healthy) == [once.canary_id]
    assert await kit.states(twice.report_id) == ["AKSEPTERT", "SENDT_FAGSYSTEM", "LEVERT"]


# --- Altinn faults -----------------------------------------------------------------------------------


async def test_altinn_submit_error(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("altinn.submit_error", faulty)
    refused, _ = await kit.send_correspondence(faulty)
    assert refused.status_code == 503
    accepted, _ = await kit.send_correspondence(healthy)
    assert accepted.status_code == 200


async def test_altinn_publish_failed(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    await kit.fault("altinn.publish_failed", faulty)
    failed, _ = await kit.send_correspondence(faulty)
    published, _ = await kit.send_correspondence(healthy)
    kit.advance(100)
    assert await kit.statuses(failed.json()["correspondences"][0]["correspondenceId"]) == [
        "Initialized",
        "ReadyForPublish",
        "Failed",
    ]
    assert (await kit.statuses(published.json()["correspondences"][0]["correspondenceId"]))[:3] == [
        "Initialized",
        "ReadyForPublish",
        "Published",
    ]


async def test_municipality_never_fetches_until_the_role_is_granted(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    fault = await kit.fault("municipality.never_fetches", faulty)
    unseen, _ = await kit.send_correspondence(faulty)
    seen, _ = await kit.send_correspondence(healthy)
    unseen_id = unseen.json()["correspondences"][0]["correspondenceId"]
    kit.advance(6 * 3600)
    assert await kit.statuses(unseen_id) == ["Initialized", "ReadyForPublish", "Published"]
    assert "Fetched" in await kit.statuses(seen.json()["correspondences"][0]["correspondenceId"])
    await kit.clear(fault)
    kit.advance(PAST_WORST_FETCH)
    assert (await kit.statuses(unseen_id))[3] == "Fetched"


# --- request faults on every API ----------------------------------------------------------------------


async def calls_for(
    kit: Kit, kommunenummer: str, report_id: str, correspondence_id: str, canary_id: str
) -> dict[str, httpx.Response]:
    """One call of every API concerning the municipality."""
    altinn = {"Authorization": f"Bearer {await kit.altinn_token()}"}
    return {
        "bydeler": await kit.fiks_get(f"kommuner/{kommunenummer}/bydeler"),
        "krypteringsnokler": await kit.fiks_get(f"mottak/fagsystem/{kommunenummer}/00/krypteringsnokler"),
        "status": await kit.status(report_id),
        "details": await kit.http.get(
            f"{kit.correspondence_url}/{correspondence_id}/details", headers=altinn
        ),
        "search": await kit.http.get(
            kit.correspondence_url,
            params={
                "resourceId": kit.manifest.altinn.resource_id,
                "role": "Sender",
                "sendersReference": canary_id,
            },
            headers=altinn,
        ),
        "readback": await kit.readback(kommunenummer),
    }


async def test_ratelimit_answers_429_on_every_api_of_the_municipality(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    setup = {}
    for number in (faulty, healthy):
        sent = await kit.send_report(number)
        correspondence, canary_id = await kit.send_correspondence(number)
        correspondence_id = correspondence.json()["correspondences"][0]["correspondenceId"]
        setup[number] = (sent.report_id, correspondence_id, canary_id)
    await kit.fault("ratelimit", faulty)
    limited = await calls_for(kit, faulty, *setup[faulty])
    for name, response in limited.items():
        assert response.status_code == 429, name
        assert response.headers["Retry-After"] == "30", name
    assert (await kit.send_report(faulty, keys=await _keys(kit, healthy))).response.status_code == 429
    assert (await kit.send_correspondence(faulty))[0].status_code == 429
    for name, response in (await calls_for(kit, healthy, *setup[healthy])).items():
        assert response.status_code == 200, (name, response.text)
    assert (await kit.send_report(healthy)).response.status_code == 200


async def _keys(kit: Kit, kommunenummer: str) -> tuple[x509.Certificate, x509.Certificate]:
    return await kit.keys(kommunenummer, "00")


async def test_malformed_answers_on_every_api_of_the_municipality(kit: Kit) -> None:
    faulty, healthy = pair(kit)
    setup = {}
    for number in (faulty, healthy):
        sent = await kit.send_report(number)
        correspondence, canary_id = await kit.send_correspondence(number)
        correspondence_id = correspondence.json()["correspondences"][0]["correspondenceId"]
        setup[number] = (sent.report_id, correspondence_id, canary_id)
    await kit.fault("malformed", faulty)
    for name, response in (await calls_for(kit, faulty, *setup[faulty])).items():
        assert response.status_code == 200, name
        assert not is_json(response), name
    broken = (await kit.send_report(faulty, keys=await _keys(kit, healthy))).response
    assert broken.status_code == 200
    assert not is_json(broken)
    for name, response in (await calls_for(kit, healthy, *setup[healthy])).items():
        assert is_json(response), name


async def test_a_wildcard_fault_applies_everywhere_until_cleared(kit: Kit) -> None:
    first, second = pair(kit)
    fault = await kit.fault("portal.submit_error", "*")
    assert (await kit.send_report(first)).response.status_code == 503
    assert (await kit.send_report(second)).response.status_code == 503
    await kit.clear(fault)
    assert (await kit.send_report(first)).response.status_code == 200


async def test_vendor_faults_apply_to_imported_altinn_mail(kit: Kit) -> None:
    doubled = municipality_of(kit, "fjordsys", imports_altinn=True)
    dropped = municipality_of(kit, "fjordsys", imports_altinn=True, exclude=(doubled,))
    healthy = municipality_of(kit, "fjordsys", imports_altinn=True, exclude=(doubled, dropped))
    await kit.fault("vendor.duplicate", doubled)
    await kit.fault("vendor.receipt_without_store", dropped)
    canaries = {}
    for number in (doubled, dropped, healthy):
        _, canaries[number] = await kit.send_correspondence(number)
    kit.advance(2500)  # worst normal Altinn import: 2150 s
    assert await kit.registered(doubled) == [canaries[doubled]] * 2
    assert await kit.registered(dropped) == []
    assert await kit.registered(healthy) == [canaries[healthy]]
