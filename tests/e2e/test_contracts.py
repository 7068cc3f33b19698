"""The real services' rules, end to end over loopback against the sandbox: paper post is a failure and
never a late arrival while a late genuine receipt still is; offices on v1 get v1; a hop time that reads
earlier than the send is a counted reading error, not a zero latency; Kanari's envelopes never need the
sandbox's PKCS#1 v1.5 leniency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from probe.hops import Channel, Hop, Owner, Verdict
from tests.e2e.harness import harness
from tests.reliability.proxy import Fault

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

BERGEN = "4601"  # vendor nordlys, default office on report version 2, final hop registered
OSLO = "0301"  # the demo addresses office 03 (Sagene), which takes only version 1


async def test_paper_post_is_failed_and_never_a_receipt(tmp_path: Path) -> None:
    async with harness(tmp_path, BERGEN) as probe:
        await probe.fault("vendor.reject", BERGEN)
        await probe.run_for(120)
        rejected = [r for r in probe.records(Channel.PORTAL) if r.verdict is Verdict.FAILED]
        assert rejected
        for record in rejected:
            assert (record.blamed_hop, record.blamed_owner) == (Hop.RECEIPTED, Owner.VENDOR)
            assert Hop.RECEIPTED not in record.hops
            assert record.diagnostics is not None
            assert "Fagsystemet kunne ikke ta imot bekymringsmeldingen" in record.diagnostics
        labels = {"channel": "portal", "municipality": BERGEN, "vendor": "nordlys"}
        assert probe.value("kanari_rejections_total", **labels) == len(rejected)


async def test_paper_post_after_the_deadline_is_no_late_arrival_though_ks_ends_with_levert(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, BERGEN) as probe:
        # The fagsystem takes longer than the deadline, then rejects: KS sends the letter and writes
        # LEVERT while Kanari still watches the lost canary for a late arrival.
        await probe.fault("vendor.slow", BERGEN)
        await probe.fault("vendor.reject", BERGEN)
        await probe.run_for(60)
        await probe.clear_faults()
        await probe.run_for(300)
        lost = [r for r in probe.records(Channel.PORTAL) if r.verdict is Verdict.LOST]
        assert lost
        assert any(r.last_status == "LEVERT" for r in lost), "no lost canary was seen through to LEVERT"
        for record in lost:
            assert (record.blamed_hop, record.blamed_owner) == (Hop.RECEIPTED, Owner.VENDOR)
            assert Hop.RECEIPTED not in record.hops
            assert record.late_at is None
        labels = {"channel": "portal", "municipality": BERGEN, "vendor": "nordlys"}
        assert probe.value("kanari_late_arrivals_total", **labels) == 0


async def test_a_genuine_receipt_after_the_deadline_is_still_a_late_arrival(tmp_path: Path) -> None:
    async with harness(tmp_path, BERGEN) as probe:
        await probe.fault("vendor.slow", BERGEN)
        await probe.run_for(60)
        await probe.clear_faults()
        await probe.run_for(300)
        late = [r for r in probe.records(Channel.PORTAL) if r.late_at is not None]
        assert late
        assert all(r.verdict is Verdict.LOST and Hop.RECEIPTED in r.hops for r in late)
        labels = {"channel": "portal", "municipality": BERGEN, "vendor": "nordlys"}
        assert probe.value("kanari_late_arrivals_total", **labels) == len(late)


async def test_each_office_gets_the_version_it_supports_and_the_route_shows_it(tmp_path: Path) -> None:
    async with harness(tmp_path, f"{BERGEN},{OSLO}") as probe:
        await probe.run_for(120)
        for municipality, version in ((BERGEN, "v2"), (OSLO, "v1")):
            records = [r for r in probe.records(Channel.PORTAL, municipality) if r.verdict is not None]
            assert records
            # The fagsystem validated each body against its version's KS schema before it receipted.
            assert {r.verdict for r in records} == {Verdict.DELIVERED}, municipality
            assert {r.api_version for r in records} == {version}
            info = [
                metric
                for metric in probe.registry.collect()
                if metric.name == "kanari_route_info"
                for sample in metric.samples
                if sample.labels["channel"] == "portal" and sample.labels["municipality"] == municipality
                and sample.labels["api_version"] == version
            ]  # fmt: skip
            assert info, f"kanari_route_info of portal/{municipality} does not show {version}"
        deviations = (await probe.admin.get("/admin/deviations")).json()
        assert deviations == {"cms_pkcs1v15": 0, "print_cms_pkcs1v15": 0}


def _two_hours_early(answer: Any) -> Any:
    """A status history as KS would write it with its clock (or zone) two hours wrong on forwarding."""
    if not isinstance(answer, list):
        return answer
    for entry in answer:
        if entry.get("tilstand") == "SENDT_FAGSYSTEM":
            moved = dt.datetime.fromisoformat(entry["tidspunkt"]) - dt.timedelta(hours=2)
            entry["tidspunkt"] = moved.isoformat(timespec="milliseconds")
    return answer


async def test_a_hop_time_before_the_send_is_a_counted_reading_error_not_a_zero_latency(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, BERGEN, proxies=("portal",)) as probe:
        probe.proxies["portal"].fault = Fault("rewrite", match=r"^GET .*/status$", transform=_two_hours_early)
        await probe.run_for(120)
        judged = [r for r in probe.records(Channel.PORTAL) if r.verdict is not None]
        assert judged
        assert {r.verdict for r in judged} == {Verdict.DELIVERED}
        for record in judged:
            forwarded = record.hops[Hop.FORWARDED]
            assert forwarded > record.created_at  # the time the check was asked, never the send itself
            assert forwarded <= record.hops[Hop.RECEIPTED]
        errors = probe.value("kanari_hop_time_reading_errors_total", channel="portal", hop="forwarded")
        assert errors == len([r for r in probe.records(Channel.PORTAL) if Hop.FORWARDED in r.hops])
