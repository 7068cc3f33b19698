"""Each sandbox fault on one municipality: that route gets the right verdict, blamed hop and owner;
every other route, including the same municipality's other channel, stays delivered."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.hops import Channel, Hop, Owner, Verdict
from tests.e2e.harness import harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TARGET = "4601"  # Bergen: vendor nordlys (read-back via Maskinporten), portal final hop "registered"
WITNESSES = (
    "0301,1146"  # Oslo (fjordsys, static read-back key), Osterøy (imports Altinn mail: final hop registered)
)
P, A = Channel.PORTAL, Channel.ALTINN

# fault -> {channel: (verdict, blamed hop, owner)}; channels not listed must stay delivered.
EXPECTED: dict[str, dict[Channel, tuple[Verdict, Hop | None, Owner | None]]] = {
    "portal.submit_error": {P: (Verdict.FAILED, Hop.ACCEPTED, Owner.KS)},
    "portal.stall": {P: (Verdict.LOST, Hop.FORWARDED, Owner.KS)},
    "portal.handover_lost": {P: (Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR)},
    "vendor.receipt_without_store": {P: (Verdict.LOST, Hop.REGISTERED, Owner.VENDOR)},
    "vendor.reject": {P: (Verdict.FAILED, Hop.RECEIPTED, Owner.VENDOR)},
    "vendor.slow": {P: (Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR)},
    "vendor.readback_down": {P: (Verdict.UNKNOWN, None, None)},
    # Bergen reads its Altinn mail in Altinn's inbox, so only the portal stops (KS's status still answers).
    "vendor.down": {P: (Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR)},
    "altinn.submit_error": {A: (Verdict.FAILED, Hop.ACCEPTED, Owner.DIGDIR)},
    "altinn.publish_failed": {A: (Verdict.FAILED, Hop.PUBLISHED, Owner.DIGDIR)},
    "municipality.never_fetches": {A: (Verdict.LOST, Hop.FETCHED, Owner.MUNICIPALITY)},
    # The police failure: ordinary mail is opened, confidential mail seen by nobody.
    "municipality.no_confidential_role": {A: (Verdict.LOST, Hop.FETCHED, Owner.MUNICIPALITY)},
    "ratelimit": {P: (Verdict.UNKNOWN, None, None), A: (Verdict.UNKNOWN, None, None)},
    "malformed": {P: (Verdict.UNKNOWN, None, None), A: (Verdict.UNKNOWN, None, None)},
}


@pytest.mark.parametrize("fault", sorted(EXPECTED))
async def test_fault_is_blamed_on_its_hop_and_owner_and_disturbs_no_other_route(
    tmp_path: Path, fault: str
) -> None:
    async with harness(tmp_path, f"{TARGET},{WITNESSES}") as probe:
        await probe.fault(fault, TARGET)
        await probe.run_for(240)
        for route in probe.config.routes:
            labels = {
                "channel": route.channel.value,
                "municipality": route.kommunenummer,
                "vendor": route.vendor,
            }
            records = [r for r in probe.records(route.channel, route.kommunenummer) if r.verdict is not None]
            assert records, f"{fault}: no verdict on {route.name}"
            expected = EXPECTED[fault].get(route.channel) if route.kommunenummer == TARGET else None
            if expected is None:
                assert {r.verdict for r in records} == {Verdict.DELIVERED}, f"{fault} disturbed {route.name}"
                continue
            verdict, hop, owner = expected
            first = records[0]
            assert (first.verdict, first.blamed_hop, first.blamed_owner) == expected, (
                f"{fault} on {route.name}"
            )
            assert probe.value("kanari_canaries_resolved_total", verdict=verdict.value, **labels) >= 1
            if hop is not None and owner is not None:
                assert (
                    probe.value("kanari_undelivered_total", hop=hop.value, owner=owner.value, **labels) >= 1
                )
            else:
                assert probe.value("kanari_canaries_resolved_total", verdict="lost", **labels) == 0


async def test_duplicate_registration_is_counted_and_still_delivered(tmp_path: Path) -> None:
    async with harness(tmp_path, TARGET) as probe:
        await probe.fault("vendor.duplicate", TARGET)
        await probe.run_for(120)
        labels = {"channel": "portal", "municipality": TARGET, "vendor": "nordlys"}
        assert probe.value("kanari_duplicates_total", **labels) >= 1
        assert probe.value("kanari_canaries_resolved_total", verdict="delivered", **labels) >= 1
        assert probe.value("kanari_canaries_resolved_total", verdict="lost", **labels) == 0


async def test_slow_vendor_turns_up_late_after_being_reported_lost(tmp_path: Path) -> None:
    async with harness(tmp_path, TARGET) as probe:
        await probe.fault("vendor.slow", TARGET)
        await probe.run_for(100)
        await probe.clear_faults()
        await probe.run_for(200)
        labels = {"channel": "portal", "municipality": TARGET, "vendor": "nordlys"}
        assert probe.value("kanari_canaries_resolved_total", verdict="lost", **labels) >= 1
        assert probe.value("kanari_late_arrivals_total", **labels) >= 1
        assert probe.value("kanari_canaries_resolved_total", verdict="delivered", **labels) >= 1


async def test_a_vendor_refusing_removal_is_given_up_on_and_counted(tmp_path: Path) -> None:
    async with harness(tmp_path, TARGET) as probe:
        await probe.fault("vendor.delete_refused", TARGET)
        await probe.run_for(300)
        labels = {"channel": "portal", "municipality": TARGET, "vendor": "nordlys"}
        assert probe.value("kanari_cleanup_failures_total", **labels) >= 1
        assert probe.value("kanari_canaries_resolved_total", verdict="delivered", **labels) >= 1
        assert probe.value("kanari_canaries_resolved_total", verdict="lost", **labels) == 0
        given_up = [r for r in probe.records(Channel.PORTAL, TARGET) if r.cleanup_failed_at is not None]
        assert given_up
        assert all(r.cleaned_at is None for r in given_up)
