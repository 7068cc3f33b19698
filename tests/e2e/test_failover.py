"""Two replicas on the PostgreSQL ledger against the sandbox, as real ``kanari run`` processes: the
leader is SIGKILLed mid-flight and the standby takes over within the lease plus one tick, resuming the
canaries in flight; a leader paused past its lease (SIGSTOP) wakes up fenced, sends and commits nothing,
and exits; in the end every canary was sent once and counted once."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from probe.ledger.postgres import PostgresTarget
from probe.sandbox.manifest import Manifest
from tests.conftest import ROOT
from tests.e2e.monitoring import Stack, free_port, monitoring_stack
from tests.e2e.processes import environment, fast_timing, kanari, sandbox_process, write_probe_config
from tests.e2e.test_crash import sandbox_registrations
from tests.postgres import ROLE_PASSWORD, Cluster
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

LEASE = 3.0
TICK = LEASE / 3
MUNICIPALITIES = ["4601", "1146"]  # nordlys read-back on both, portal and altinn
FAST = fast_timing("2s", "6s", "12s", "4s")
NO_RULES = "groups: []\n"
NO_ROUTES = "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n"


class Replica:
    """One ``kanari run`` process and its HTTP surface."""

    def __init__(self, config: Path, log: Path, port: int) -> None:
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "probe", "run", "--config", str(config),
                 "--listen", f"127.0.0.1:{port}"],
                cwd=ROOT, env=environment(), stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip
        found = wait_for(
            lambda: re.search(r"metrics at (\S+)/metrics", log.read_text()), 30, "the URL", explain=self.text
        )
        self.url = found.group(1)

    def text(self) -> str:
        return self.log.read_text()

    def ready(self) -> dict[str, Any] | None:
        try:
            answer = httpx.get(f"{self.url}/readyz", timeout=2)
        except httpx.HTTPError:
            return None
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 200 else None

    def role(self) -> str | None:
        ready = self.ready()
        return str(ready["role"]) if ready else None

    def samples(self) -> dict[str, float]:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
                if line and not line.startswith("#")}  # fmt: skip

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


class View:
    """The ledger's tables as the test reads them."""

    def __init__(self, target: PostgresTarget) -> None:
        self.db = psycopg.connect(target.dsn, password=target.password, autocommit=True, row_factory=dict_row)

    def canaries(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for row in self.db.execute("SELECT * FROM canaries ORDER BY created_at")}

    def counters(self) -> dict[tuple[str, ...], int]:
        rows = self.db.execute("SELECT * FROM counters").fetchall()
        return {
            (r["metric"], r["channel"], r["municipality"], r["label_a"], r["label_b"]): r["value"]
            for r in rows
        }

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, ...], int], list[dict[str, Any]]]:
        latest = self.db.execute("SELECT * FROM route_latest ORDER BY channel, municipality").fetchall()
        return self.canaries(), self.counters(), latest

    def lease(self) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM kanari_lease").fetchone()
        assert row is not None
        return row


@pytest.fixture
def world(tmp_path: Path, postgres: Cluster) -> Iterator[tuple[Manifest, Path, PostgresTarget]]:
    target = PostgresTarget(postgres.dsn(postgres.database()), ROLE_PASSWORD, LEASE)
    password = tmp_path / "ledger-password"
    password.write_text(ROLE_PASSWORD)
    password.chmod(0o600)
    settings = {**FAST, "ledger_postgres": {"dsn": target.dsn, "password": {"file": str(password)},
                                            "lease": f"{LEASE:g}s"}}  # fmt: skip
    with sandbox_process(tmp_path / "sandbox") as manifest:
        yield (
            manifest,
            write_probe_config(tmp_path / "config", manifest, MUNICIPALITIES, settings=settings),
            target,
        )


def test_the_standby_takes_over_a_killed_leader_and_a_paused_one_wakes_up_fenced(
    tmp_path: Path, world: tuple[Manifest, Path, PostgresTarget]
) -> None:
    manifest, config, target = world
    view = View(target)
    replicas: list[Replica] = []
    ports = (free_port(), free_port(), free_port())
    try:
        with monitoring_stack(tmp_path / "monitoring", ports, NO_RULES, NO_ROUTES) as prometheus:
            started = time.time()
            try:
                failover(tmp_path, manifest, config, view, replicas, ports)
            finally:
                ended = time.time()
                for replica in replicas:
                    replica.stop()
            scraped_over_failover(prometheus, view, started, ended)
        sent_and_counted_once(manifest, view)
        status = kanari("status", "--config", str(config))
        assert status.returncode == 0, status.stderr
        assert "4601" in status.stdout
    finally:
        view.db.close()


def failover(
    tmp_path: Path,
    manifest: Manifest,
    config: Path,
    view: View,
    replicas: list[Replica],
    ports: tuple[int, ...],
) -> None:
    """Kill the leader mid-flight; then pause its successor past the lease, and wake it fenced."""
    first = Replica(config, tmp_path / "first.log", ports[0])
    replicas.append(first)
    wait_for(lambda: first.role() == "leader", 30, "the first replica to lead", explain=first.text)
    second = Replica(config, tmp_path / "second.log", ports[1])
    replicas.append(second)
    wait_for(lambda: second.role() == "standby", 30, "the second to stand by", explain=second.text)
    assert second.ready() == {"ready": True, "role": "standby", "conditions": {"ledger": True}}
    standby = second.samples()
    assert standby["kanari_leader"] == 0
    assert not [name for name in standby if name.startswith("kanari_") and
                not name.startswith(("kanari_leader", "kanari_build_info"))]  # fmt: skip
    assert first.samples()["kanari_leader"] == 1

    # Mid-flight: canaries sent and not yet resolved. Then the leader dies.
    wait_for(lambda: sum(1 for row in view.canaries().values() if row["verdict"] is None) >= 2 and
             len(view.canaries()) >= 6, 60, "canaries in flight", explain=first.text)  # fmt: skip
    first.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    in_flight = {key for key, row in view.canaries().items() if row["verdict"] is None}
    assert in_flight
    wait_for(lambda: second.role() == "leader", LEASE + TICK + 5, "the takeover", every=0.05,
             explain=second.text)  # fmt: skip
    took = time.monotonic() - killed
    # The lease plus one tick, and a second for what the measuring adds (starting the engine, polling
    # readiness every 50 ms, two busy cores).
    assert took <= LEASE + TICK + 1.0, took
    assert view.lease()["epoch"] == 2
    # The canaries in flight when the leader died are resumed: each reaches a verdict.
    wait_for(lambda: all(view.canaries()[key]["verdict"] is not None for key in in_flight), 60,
             "a verdict for the resumed canaries", explain=second.text)  # fmt: skip

    # A third replica stands by; the leader is paused past its lease, and the third takes over.
    third = Replica(config, tmp_path / "third.log", ports[2])
    replicas.append(third)
    wait_for(lambda: third.role() == "standby", 30, "the third to stand by", explain=third.text)
    second.process.send_signal(signal.SIGSTOP)
    wait_for(lambda: third.role() == "leader", LEASE + TICK + 5, "the takeover from the paused leader",
             every=0.05, explain=third.text)  # fmt: skip
    assert view.lease()["epoch"] == 3
    made = len(view.canaries())
    wait_for(lambda: len(view.canaries()) >= made + 2, 30, "the new leader sending", explain=third.text)
    # The new leader pauses too, so that whatever changes after the old one wakes is the old one's.
    third.process.send_signal(signal.SIGSTOP)
    frozen = view.snapshot()
    second.process.send_signal(signal.SIGCONT)
    assert second.process.wait(timeout=LEASE * 3) == 1, second.text()
    assert "lost the leader lease (epoch 2): another replica took over" in second.text()
    assert "kanari run: lost the leader lease" in second.text()
    # Fenced: it committed nothing and sent nothing (a send needs its intent committed first).
    assert view.snapshot() == frozen
    # What the vendors hold now (canaries sent before the pause still arrive) is all in the frozen ledger:
    # a canary the old leader sent after waking would be a new id, its intent committed first.
    arrived = {entry for number in MUNICIPALITIES
               for entry in sandbox_registrations(manifest, "nordlys", number)}  # fmt: skip
    assert arrived <= set(frozen[0]), arrived - set(frozen[0])
    third.process.send_signal(signal.SIGCONT)
    wait_for(lambda: third.role() == "leader", 30, "the new leader leading on", explain=third.text)
    made = len(view.canaries())
    wait_for(lambda: len(view.canaries()) >= made + 2, 30, "the new leader sending on", explain=third.text)


def scraped_over_failover(prometheus: Stack, view: View, started: float, ended: float) -> None:
    """What Prometheus scraped from the replicas over the whole test: at every step at most one replica
    leads and exposes the counters (no double count), and their sum never falls or jumps past what the
    ledger counted (no reset and no spurious increase at a takeover)."""

    def series(expression: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{prometheus.prometheus_url}/api/v1/query_range", timeout=10, params={
            "query": expression, "start": started, "end": ended, "step": "1s"}).json()  # fmt: skip
        assert answer["status"] == "success", answer
        found: list[dict[str, Any]] = answer["data"]["result"]
        return found

    def values(expression: str) -> list[float]:
        return [float(value) for result in series(expression) for _, value in result["values"]]

    # The counters came from more than one replica over the test (the first leader, then the second),
    # never from two at the same step.
    assert len(series("count by (instance) (kanari_canaries_sent_total)")) >= 2

    leaders = values("sum(kanari_leader)")
    assert leaders
    assert max(leaders) <= 1, leaders
    exposing = values("count(count by (instance) (kanari_canaries_sent_total))")
    assert exposing
    assert max(exposing) == 1, exposing
    sent = values("sum(kanari_canaries_sent_total)")
    assert len(sent) >= 3, sent
    assert sent == sorted(sent), sent  # never down: no reset seen at a takeover
    total = sum(value for key, value in view.counters().items() if key[0] == "sent")
    assert max(sent) <= total, (max(sent), total)  # never above what the ledger counted
    # Over the whole test the rate-based view agrees too: no takeover adds its restored totals.
    increase = values(f"sum(increase(kanari_canaries_sent_total[{int(ended - started) + 60}s]))")
    assert increase[-1] <= total * 1.2, (increase[-1], total)


def sent_and_counted_once(manifest: Manifest, view: View) -> None:
    """Every registration at the vendor is one canary, once, in the ledger; the counters hold exactly one
    per sent and per resolved canary."""
    canaries = view.canaries()
    for number in MUNICIPALITIES:
        entries = sandbox_registrations(manifest, "nordlys", number)
        assert len(entries) == len(set(entries))
        assert set(entries) <= set(canaries)
    counters = view.counters()
    for channel in ("portal", "altinn"):
        for number in MUNICIPALITIES:
            rows = [
                row for row in canaries.values() if (row["channel"], row["municipality"]) == (channel, number)
            ]
            sent = sum(1 for row in rows if row["state"] != "intent")
            assert counters.get(("sent", channel, number, "", ""), 0) == sent, (channel, number)
            for verdict in ("delivered", "lost", "failed", "unknown"):
                resolved = sum(1 for row in rows if row["verdict"] == verdict)
                assert counters.get(("resolved", channel, number, verdict, ""), 0) == resolved
