"""SIGKILL at each point of a canary's life, then a restart: no canary lost, none sent twice, none
counted twice, and the interrupted ones reach the right verdict."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from probe.hops import Channel, Hop, Verdict
from probe.ledger.sqlite import Ledger
from probe.sandbox.manifest import Manifest, VendorInfo
from tests.conftest import ROOT
from tests.e2e.processes import environment, fast_timing, sandbox_process, write_probe_config
from tests.ledger_view import all_records
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

MUNICIPALITIES = ["4601", "1146"]  # nordlys read-back; 1146 also imports Altinn mail (final hop registered)
FAST = fast_timing("3s", "6s", "12s", "4s")


def start(config: Path, log: Path, crash_at: str | None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "probe", "run", "--config", str(config)]
    if crash_at is not None:
        command = [
            sys.executable,
            str(ROOT / "tests" / "e2e" / "crashing_probe.py"),
            "run",
            "--config",
            str(config),
        ]
    extra = {"CRASH_AT": crash_at} if crash_at else {}
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command, cwd=ROOT, env=environment(**extra), stdout=output, stderr=subprocess.STDOUT
        )


def metrics_url(log: Path, runs_before: int) -> str:
    """The /metrics URL printed by the run started after ``runs_before`` earlier ones."""

    def printed() -> str | None:
        found = re.findall(r"metrics at (\S+)", log.read_text())
        return str(found[-1]) if len(found) > runs_before else None

    return wait_for(printed, 30, "the probe's metrics URL", every=0.1, explain=log.read_text)


def sandbox_registrations(manifest: Manifest, vendor: str, municipality: str) -> list[str]:
    info = next(v for v in manifest.vendors if v.id == vendor)
    assert info.readback is not None
    token = _token(manifest, info)
    answer = httpx.get(
        f"{info.readback.base_url}/kanari/v1/municipalities/{municipality}/canaries",
        params={"since": "2000-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer.raise_for_status()
    return [entry["canaryId"] for entry in answer.json()["canaries"]]


def _token(manifest: Manifest, info: VendorInfo) -> str:
    # nordlys wants a Maskinporten token with its scope: get one as Kanari would.
    assert info.readback is not None
    key = manifest.maskinporten.key_file.read_bytes()
    now = int(time.time())
    assertion = jwt.encode(
        {"aud": manifest.maskinporten.audience, "iss": manifest.maskinporten.client_id,
         "scope": info.readback.auth.scope, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())},
        key, algorithm="RS256", headers={"kid": manifest.maskinporten.key_id},
    )  # fmt: skip
    answer = httpx.post(
        manifest.maskinporten.token_url,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@pytest.mark.parametrize("crash_at", ["intent", "sent", "poll", "cleanup"])
def test_sigkill_then_restart_keeps_every_invariant(tmp_path: Path, crash_at: str) -> None:
    log = tmp_path / "probe.log"
    with sandbox_process(tmp_path / "sandbox") as manifest:
        config = write_probe_config(tmp_path / "config", manifest, MUNICIPALITIES, settings=FAST)
        crashed = start(config, log, crash_at)
        assert crashed.wait(timeout=60) == -signal.SIGKILL, log.read_text()

        before = {record.id: record for record in all_records(config / "kanari.sqlite3")}
        assert before, "the crash came before any canary existed"

        restarted = start(config, log, None)
        url = metrics_url(log, runs_before=1)
        # Until every interrupted canary has its verdict and, if registered, has been removed at its
        # vendor (the deadlines, blind grace and a cleanup round: about 20 s here).
        wait_for(
            lambda: settled(config / "kanari.sqlite3", set(before)),
            90,
            "a verdict and cleanup for every interrupted canary",
            explain=log.read_text,
        )
        scraped, counts = consistent_scrape(url, config / "kanari.sqlite3")
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=30) == 0, log.read_text()

        after = {record.id: record for record in all_records(config / "kanari.sqlite3")}

        # None lost from the ledger, one row each (the id is the primary key).
        assert set(before) <= set(after)
        registered: set[str] = set()
        for municipality in MUNICIPALITIES:
            entries = sandbox_registrations(manifest, "nordlys", municipality)
            # Nothing sent twice: every registration the vendor holds is one canary, once, in the ledger.
            assert len(entries) == len(set(entries)), f"sent twice: {entries}"
            assert set(entries) <= set(after)
            registered |= set(entries)
        altinn = [r for r in after.values() if r.channel is Channel.ALTINN and r.upstream_id]
        assert len({r.upstream_id for r in altinn}) == len(altinn)
        # Every interrupted canary reached a verdict. One whose send answer was never recorded may or may
        # not have left the probe: it is delivered if it arrived, otherwise unknown, never lost.
        for canary_id, record in before.items():
            final = after[canary_id]
            assert final.verdict is not None, (crash_at, final)
            if record.state != "intent":
                assert final.verdict is Verdict.DELIVERED, (crash_at, final)
            elif crash_at == "intent":
                assert final.verdict is Verdict.UNKNOWN, (crash_at, final)
                assert canary_id not in registered
            else:
                assert final.verdict in (Verdict.DELIVERED, Verdict.UNKNOWN), (crash_at, final)
                if final.verdict is Verdict.UNKNOWN and final.final_hop.value == "registered":
                    assert canary_id not in registered
        # The counters, rebuilt from the ledger at the restart and moved with it since, equal the ledger.
        assert scraped == expected_samples(counts)


def settled(ledger: Path, canary_ids: set[str]) -> bool:
    """Whether each of ``canary_ids`` has a verdict and nothing left at its vendor to clean up."""
    records = {record.id: record for record in all_records(ledger) if record.id in canary_ids}
    return len(records) == len(canary_ids) and all(
        record.verdict is not None and (Hop.REGISTERED not in record.hops or record.cleaned_at is not None)
        for record in records.values()
    )


# The ledger's counter totals: (metric, channel, municipality, vendor, label_a, label_b) -> count.
LedgerCounts = dict[tuple[str, str, str, str, str, str], int]
# A scraped sample: its metric name and its sorted label pairs.
Sample = tuple[str, tuple[tuple[str, str], ...]]

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sent": ("kanari_canaries_sent_total", ()),
    "send_failures": ("kanari_send_failures_total", ("reason",)),
    "resolved": ("kanari_canaries_resolved_total", ("verdict",)),
    "undelivered": ("kanari_undelivered_total", ("hop", "owner")),
    "late_arrivals": ("kanari_late_arrivals_total", ()),
    "duplicates": ("kanari_duplicates_total", ()),
    "rejections": ("kanari_rejections_total", ()),
}


def expected_samples(counts: LedgerCounts) -> dict[Sample, float]:
    samples: dict[Sample, float] = {}
    for (metric, channel, municipality, vendor, label_a, label_b), value in counts.items():
        name, extra = COUNTERS[metric]
        labels = {"channel": channel, "municipality": municipality, "vendor": vendor}
        labels.update(zip(extra, (label_a, label_b), strict=False))
        samples[(name, tuple(sorted(labels.items())))] = float(value)
    return samples


def consistent_scrape(url: str, ledger_path: Path) -> tuple[dict[Sample, float], LedgerCounts]:
    """A scrape taken between two identical reads of the ledger's totals, so both describe one state
    (the probe commits and moves its counters within one tick, never between)."""
    names = {name for name, _ in COUNTERS.values()}
    for _ in range(20):
        ledger = Ledger.open_read_only(ledger_path)  # beside the running probe, which holds the lock
        first = ledger.counts()
        text = httpx.get(url).text
        second = ledger.counts()
        ledger.close()
        if first == second:
            scraped: dict[Sample, float] = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in names and sample.value:
                        scraped[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            return scraped, first
        time.sleep(0.2)
    raise AssertionError("the ledger never held still")
