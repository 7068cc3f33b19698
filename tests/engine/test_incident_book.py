"""Incidents as the engine keeps them: opened and closed by the verdicts that pass through
:class:`~probe.engine.open_canaries.OpenCanaries`, written in the same transaction, shown as gauges once
committed, and taken up again from the ledger at a restart."""

from __future__ import annotations

from pathlib import Path

from probe.engine.open_canaries import OpenCanaries
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.sqlite import Ledger
from probe.lifecycle import record as lifecycle
from probe.lifecycle.incidents import incident_id
from probe.lifecycle.record import CanaryRecord, Decision
from probe.metrics.metric_set import Metrics
from tests.engine.kit import START, ledger, metrics, record, route, uuid_of
from tests.engine.test_full_ledger import full_disk

ROUTE = route()
RETENTION = 30 * 86400.0
LOST = Decision(Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR)
DELIVERED = Decision(Verdict.DELIVERED)
LABELS = {"channel": "portal", "municipality": "4601", "vendor": ROUTE.vendor}


def canaries_on(store: Ledger, registry_metrics: Metrics) -> OpenCanaries:
    canaries = OpenCanaries(store, registry_metrics, ks_retention=RETENTION)
    registry_metrics.set_routes([ROUTE])
    return canaries


def sent(canaries: OpenCanaries, number: int, at: float) -> CanaryRecord:
    made = record(ROUTE, created_at=at, number=number)
    canaries.add(made)
    assert canaries.flush()
    return made


def judge(canaries: OpenCanaries, made: CanaryRecord, decision: Decision, at: float) -> None:
    with canaries.changing(made):
        lifecycle.resolve(made, decision, at)


def gauge(registry_metrics: Metrics, name: str, **extra: str) -> float | None:
    return registry_metrics.registry.get_sample_value(name, {**LABELS, **extra})


OPEN = "kanari_incidents_open"
START_GAUGE = "kanari_incident_exposure_start_timestamp_seconds"
RETAINED = "kanari_incident_retained_until_timestamp_seconds"


def test_a_lost_canary_opens_an_incident_saved_with_its_verdict_and_shown(tmp_path: Path) -> None:
    made_metrics, _ = metrics()
    with ledger(tmp_path) as store:
        canaries = canaries_on(store, made_metrics)
        good = sent(canaries, 1, START)
        bad = sent(canaries, 2, START + 600)
        assert gauge(made_metrics, OPEN, hop="receipted", owner="vendor") == 0
        judge(canaries, good, DELIVERED, START + 60)
        assert canaries.flush()
        assert store.incidents() == []
        judge(canaries, bad, LOST, START + 900)
        # Not before the commit: nothing shows what the ledger does not hold.
        assert gauge(made_metrics, START_GAUGE) is None
        assert canaries.flush()
        [incident] = store.incidents(open_only=True)
        assert incident.id == incident_id(bad.id)
        assert (incident.hop, incident.owner, incident.first_canary) == (Hop.RECEIPTED, Owner.VENDOR, bad.id)
        assert (incident.exposure_start, incident.retained_until) == (START, START + RETENTION)
        assert incident.opened_at == START + 900
        assert gauge(made_metrics, OPEN, hop="receipted", owner="vendor") == 1
        assert gauge(made_metrics, START_GAUGE) == START
        assert gauge(made_metrics, RETAINED) == START + RETENTION


def test_the_next_delivered_canary_closes_it_and_the_gauges_clear(tmp_path: Path) -> None:
    made_metrics, _ = metrics()
    with ledger(tmp_path) as store:
        canaries = canaries_on(store, made_metrics)
        good, bad, worse, healed = (sent(canaries, n, START + 600 * (n - 1)) for n in range(1, 5))
        judge(canaries, good, DELIVERED, START + 60)
        judge(canaries, bad, LOST, START + 900)
        assert canaries.flush()
        judge(canaries, worse, LOST, START + 1500)
        judge(canaries, healed, DELIVERED, START + 1860)
        assert canaries.flush()
        [incident] = store.incidents()
        assert not incident.open
        assert (incident.exposure_start, incident.exposure_end) == (START, START + 1800)
        assert (incident.closed_at, incident.canaries) == (START + 1860, 2)
        assert store.incidents(open_only=True) == []
        assert gauge(made_metrics, OPEN, hop="receipted", owner="vendor") == 0
        assert gauge(made_metrics, START_GAUGE) is None
        assert gauge(made_metrics, RETAINED) is None


def test_a_delivered_canary_sent_before_the_break_and_judged_after_it_does_not_close_it(
    tmp_path: Path,
) -> None:
    made_metrics, _ = metrics()
    with ledger(tmp_path) as store:
        canaries = canaries_on(store, made_metrics)
        first = sent(canaries, 1, START)
        slow = sent(canaries, 2, START + 600)  # delivered, but slowly
        bad = sent(canaries, 3, START + 1200)  # failed at once
        judge(canaries, first, DELIVERED, START + 60)
        assert canaries.flush()
        judge(canaries, bad, Decision(Verdict.FAILED, Hop.FORWARDED, Owner.VENDOR), START + 1210)
        assert canaries.flush()
        judge(canaries, slow, DELIVERED, START + 1250)
        assert canaries.flush()
        [incident] = store.incidents()
        assert incident.open
        assert (incident.exposure_start, incident.retained_until) == (START + 600, START + 600 + RETENTION)
        assert gauge(made_metrics, START_GAUGE) == START + 600


def test_a_failed_write_changes_no_incident_and_the_next_flush_saves_it(tmp_path: Path) -> None:
    made_metrics, _ = metrics()
    with ledger(tmp_path) as store:
        canaries = canaries_on(store, made_metrics)
        bad = sent(canaries, 1, START)
        judge(canaries, bad, LOST, START + 900)
        with full_disk(store):
            assert not canaries.flush()
        assert canaries.incidents.open_incidents() == []
        assert gauge(made_metrics, START_GAUGE) is None
        assert canaries.flush()
        [incident] = store.incidents(open_only=True)
        assert incident.exposure_start == START  # the route's first canary: nothing delivered before
        assert incident.canaries == 1
        assert gauge(made_metrics, START_GAUGE) == START


def test_a_restart_takes_up_the_open_incident_and_the_routes_delivered_canaries(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    before, _ = metrics()
    store = Ledger(path)
    try:
        canaries = canaries_on(store, before)
        good = sent(canaries, 1, START)
        bad = sent(canaries, 2, START + 600)
        after = sent(canaries, 3, START + 1200)  # still in flight at the restart
        judge(canaries, good, DELIVERED, START + 60)
        judge(canaries, bad, LOST, START + 900)
        assert canaries.flush()
    finally:
        store.close()
    restarted, _ = metrics()
    store = Ledger(path)
    try:
        canaries = canaries_on(store, restarted)
        open_records = store.open_records()
        canaries.load(open_records)
        # The gauges of the open incident are back before any new verdict.
        assert gauge(restarted, OPEN, hop="receipted", owner="vendor") == 1
        assert gauge(restarted, START_GAUGE) == START
        [tracked] = canaries.incidents.open_incidents()
        assert tracked.incident.first_canary == bad.id
        # Another loss counts in it; then the canary in flight since before the restart heals the route.
        worse = sent(canaries, 4, START + 1800)
        judge(canaries, worse, LOST, START + 2100)
        assert canaries.flush()
        resumed = next(r for r in canaries.records.values() if r.id == after.id)
        judge(canaries, resumed, DELIVERED, START + 2200)
        assert canaries.flush()
        [incident] = store.incidents()
        assert (incident.canaries, incident.exposure_end, incident.closed_at) == (2, None, None)
        healed = sent(canaries, 5, START + 2400)
        judge(canaries, healed, DELIVERED, START + 2460)
        assert canaries.flush()
        [incident] = store.incidents()
        assert (incident.exposure_start, incident.exposure_end) == (START, START + 2400)
        assert gauge(restarted, START_GAUGE) is None
    finally:
        store.close()


def test_a_restart_knows_the_delivered_canaries_a_late_verdict_needs(tmp_path: Path) -> None:
    """A canary sent after the break was delivered before the restart; the lost one is judged after it:
    the incident is closed at once at that delivered canary, its window started at the one before."""
    path = tmp_path / "ledger.sqlite3"
    store = Ledger(path)
    try:
        canaries = canaries_on(store, metrics()[0])
        good = sent(canaries, 1, START)
        bad = sent(canaries, 2, START + 600)
        healed = sent(canaries, 3, START + 1200)
        judge(canaries, good, DELIVERED, START + 60)
        judge(canaries, healed, DELIVERED, START + 1260)
        assert canaries.flush()
    finally:
        store.close()
    store = Ledger(path)
    try:
        canaries = canaries_on(store, metrics()[0])
        canaries.load(store.open_records())
        resumed = canaries.records[bad.id]
        judge(canaries, resumed, LOST, START + 1500)
        assert canaries.flush()
        [incident] = store.incidents()
        assert (incident.exposure_start, incident.exposure_end) == (START, START + 1200)
        assert (incident.opened_at, incident.closed_at) == (START + 1500, START + 1500)
    finally:
        store.close()


def test_a_route_not_configured_is_kept_in_the_ledger_without_gauges(tmp_path: Path) -> None:
    channel = Channel.ALTINN
    made_metrics, _ = metrics()
    with ledger(tmp_path) as store:
        canaries = canaries_on(store, made_metrics)
        other = route(channel)
        gone = record(other, created_at=START, number=9)
        canaries.add(gone)
        assert canaries.flush()
        judge(canaries, gone, Decision(Verdict.FAILED, Hop.PUBLISHED, Owner.DIGDIR), START + 10)
        assert canaries.flush()
        [incident] = store.incidents(channel=channel)
        assert incident.owner is Owner.DIGDIR
        assert store.incidents(channel=Channel.PORTAL) == []
        assert store.incidents(municipality="0301") == []
        labels = {"channel": channel.value, "municipality": "4601", "vendor": ROUTE.vendor}
        assert made_metrics.registry.get_sample_value(START_GAUGE, labels) is None
        assert incident.first_canary == uuid_of(9)
