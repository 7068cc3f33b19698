"""The probe's own failures are loud and bounded: a read-back that drips bytes is cut at the request's
deadline and counted, a body nested too deep to parse is an invalid response (counted, no crash), and
KS changing its encryption keys costs no send, and a ledger that cannot be written makes the probe not
ready. Real sockets on loopback, the sandbox, a fake clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.hops import Channel, Verdict
from probe.service import ProbeService
from tests.e2e.harness import harness
from tests.engine.test_full_ledger import full_disk
from tests.reliability.proxy import Fault
from tests.reliability.test_transport_faults import MUNICIPALITIES, QUICK, assert_delivered, failures

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

READBACK = "readback:nordlys"
LIST_CALL = r"/canaries\?since="


async def test_a_read_back_dripping_a_byte_at_a_time_is_cut_at_the_deadline_and_counted(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=(READBACK,)) as probe:
        # Every byte comes well within the 1 s read timeout, so only a deadline on the whole request
        # ends it: without one each check would take minutes and count nothing.
        probe.proxies[READBACK].fault = Fault("trickle", chunk=1, delay=0.3, match=LIST_CALL)
        await probe.run_for(150)
        nordlys = [r for r in probe.records(Channel.PORTAL, "4601") if r.verdict is not None]
        assert nordlys
        assert {r.verdict for r in nordlys} == {Verdict.UNKNOWN}
        assert failures(probe, "check", target="readback", reason="timeout") >= 2
        fjordsys = [r for r in probe.records(Channel.PORTAL, "0301") if r.verdict is not None]
        assert fjordsys
        assert {r.verdict for r in fjordsys} == {Verdict.DELIVERED}


async def test_a_body_nested_too_deep_is_an_invalid_response_counted_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK, proxies=(READBACK,)) as probe:
        probe.proxies[READBACK].fault = Fault("answer", body=b"[" * 100_000 + b"]" * 100_000, match=LIST_CALL)
        await probe.run_for(150)
        nordlys = [r for r in probe.records(Channel.PORTAL, "4601") if r.verdict is not None]
        assert nordlys
        assert {r.verdict for r in nordlys} == {Verdict.UNKNOWN}
        assert failures(probe, "check", target="readback", reason="invalid_response") >= 2
        assert not [r for r in caplog.records if "crashed" in r.getMessage()]


async def test_ks_changing_its_keys_costs_no_send(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK) as probe:
        await probe.run_for(60)
        before = {r.id for r in probe.records(Channel.PORTAL)}
        assert before  # the office's keys are cached from the first sends
        (await probe.admin.post("/admin/rotate-print-key")).raise_for_status()
        await probe.run_for(150)
        after = [r for r in probe.records(Channel.PORTAL) if r.id not in before and r.verdict is not None]
        assert after
        assert_delivered(probe, Channel.PORTAL)
        assert failures(probe, "send", channel="portal") == 0


async def test_a_ledger_that_cannot_be_written_makes_the_probe_not_ready_until_it_can(tmp_path: Path) -> None:
    async with harness(tmp_path, MUNICIPALITIES, settings=QUICK) as probe:
        service = ProbeService(probe.runtime, "127.0.0.1:0")
        try:
            await probe.run_for(30)
            assert service.readiness()["ledger"]
            with full_disk(probe.runtime.ledger):
                await probe.run_for(30)
                assert not service.readiness()["ledger"]
                assert probe.value("kanari_ledger_writable") == 0
            # Ready again with the next write that succeeds: at the latest the next due send's intent.
            interval = max(route.interval for route in probe.config.routes)
            waited = 0.0
            while not service.readiness()["ledger"]:
                assert waited <= interval + 5, "still not ready one interval after the disk had room"
                await probe.step()
                waited += 1
            assert probe.value("kanari_ledger_writable") == 1
        finally:
            await service.server.close()
