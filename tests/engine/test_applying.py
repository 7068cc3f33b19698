"""The applier, the one place results change records: each kind of result becomes the right transitions,
persisted in the ledger and counted in the metrics once committed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.channels.base import Observation, Sent
from probe.checks.readback import Registration
from probe.engine.applying import CLOCK_SKEW_TOLERANCE, Applier
from probe.engine.open_canaries import OpenCanaries
from probe.engine.results import (
    CheckFailed,
    CleanedUp,
    LookupDone,
    RegistrationsSeen,
    Result,
    SendAnswered,
    StatusSeen,
)
from probe.errors import Reason, UpstreamError
from probe.hops import Channel, Hop, Owner, Verdict
from probe.ledger.sqlite import Ledger
from probe.lifecycle.record import CanaryRecord, State
from tests.engine.kit import (
    SIGNER,
    START,
    VENDOR,
    VERIFIER,
    ScriptedAdapter,
    ledger,
    metrics,
    record,
    route,
    uuid_of,
)
from tests.ledger_view import record as stored

ALTINN = route(Channel.ALTINN)


class World:
    """An applier over open canaries backed by a real ledger and a fresh registry."""

    def __init__(self, opened: Ledger) -> None:
        self.ledger = opened
        self.metrics, self.registry = metrics()
        self.metrics.set_routes([route(), ALTINN])
        self.canaries = OpenCanaries(self.ledger, self.metrics)
        adapters = {
            Channel.PORTAL: ScriptedAdapter(Channel.PORTAL),
            Channel.ALTINN: ScriptedAdapter(Channel.ALTINN, can_find=True),
        }
        self.applier = Applier(self.canaries, self.metrics, VERIFIER, adapters)

    def open(self, *records: CanaryRecord) -> None:
        for canary in records:
            self.canaries.add(canary)
        self.canaries.flush()

    def apply(self, *results: Result, now: float) -> None:
        self.applier.apply(results, now)
        self.canaries.flush()

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ledger(tmp_path) as opened:
        yield World(opened)


def route_labels(canary: CanaryRecord) -> dict[str, str]:
    return {"channel": canary.channel.value, "municipality": canary.municipality, "vendor": canary.vendor}


def test_an_answered_send_is_accepted_and_counted_sent(world: World) -> None:
    canary = record(state=State.INTENT, upstream_id=None)
    world.open(canary)
    world.apply(SendAnswered(canary, Sent("ks-1", START + 2, "v2")), now=START + 3)
    saved = stored(world.ledger, canary.id)
    assert saved is not None
    assert (saved.state, saved.upstream_id, saved.api_version) == (State.IN_FLIGHT, "ks-1", "v2")
    assert saved.hops == {Hop.ACCEPTED: START + 2}
    assert world.value("kanari_canaries_sent_total", **route_labels(canary)) == 1
    assert 'api_version="v2"' in world.metrics.exposition().decode()


def test_an_acceptance_stamped_outside_the_send_is_kept_between_send_and_now(world: World) -> None:
    canary = record(state=State.INTENT, upstream_id=None)
    world.open(canary)
    world.apply(SendAnswered(canary, Sent("ks-1", START - 3600)), now=START + 3)
    assert canary.hops[Hop.ACCEPTED] == START


def test_a_refused_send_fails_with_its_owner_and_reason(world: World) -> None:
    canary = record(state=State.INTENT, upstream_id=None)
    world.open(canary)
    refusal = UpstreamError("portal", Reason.HTTP_5XX, "503", 503, detail="KS: unavailable")
    world.apply(SendAnswered(canary, refusal), now=START + 3)
    assert (canary.state, canary.verdict) == (State.RESOLVED, Verdict.FAILED)
    assert (canary.blamed_hop, canary.blamed_owner) == (Hop.ACCEPTED, Owner.KS)
    assert canary.diagnostics == "KS: unavailable"
    labels = route_labels(canary)
    assert world.value("kanari_send_failures_total", **labels, reason="http_5xx") == 1
    assert world.value("kanari_undelivered_total", **labels, hop="accepted", owner="ks") == 1


def test_a_send_that_may_have_been_processed_is_followed_not_judged(world: World) -> None:
    portal = record(state=State.INTENT, upstream_id=None, number=1)
    altinn = record(ALTINN, state=State.INTENT, upstream_id=None, number=2)
    world.open(portal, altinn)
    timeout = UpstreamError("x", Reason.TIMEOUT, "timed out", maybe_processed=True)
    world.apply(SendAnswered(portal, timeout), SendAnswered(altinn, timeout), now=START + 30)
    assert (portal.state, portal.unconfirmed, portal.verdict) == (State.IN_FLIGHT, True, None)
    assert (altinn.state, altinn.unconfirmed) == (State.IN_FLIGHT, False)  # Altinn can be asked


def test_a_status_check_reaches_hops_keeps_evidence_and_ends_a_failure(world: World) -> None:
    canary = record()
    world.open(canary)
    seen = Observation({Hop.FORWARDED: START + 5, Hop.RECEIPTED: START + 9}, None, "LEVERT")
    world.apply(StatusSeen(canary, seen, START + 15), now=START + 15)
    assert canary.hops == {Hop.ACCEPTED: START + 1, Hop.FORWARDED: START + 5, Hop.RECEIPTED: START + 9}
    assert (canary.status_ok_at, canary.last_status) == (START + 15, "LEVERT")
    assert world.value("kanari_hop_seconds_count", channel="portal", hop="receipted") == 1

    rejected = record(number=2)
    world.open(rejected)
    failure = Observation({Hop.FORWARDED: START + 5}, "AVVIST_FAGSYSTEM", "SENDT_PRINT", "fagsystem: ugyldig")
    world.apply(StatusSeen(rejected, failure, START + 15), now=START + 15)
    assert (rejected.verdict, rejected.blamed_hop, rejected.blamed_owner) == (
        Verdict.FAILED,
        Hop.RECEIPTED,
        Owner.VENDOR,
    )
    assert rejected.diagnostics == "fagsystem: ugyldig"
    assert world.value("kanari_rejections_total", **route_labels(rejected)) == 1


def test_a_hop_time_before_the_send_is_a_reading_error_and_takes_the_time_asked(world: World) -> None:
    canary = record()
    world.open(canary)
    wrong_zone = START - 3600  # an hour early: a time zone read wrong
    seen = Observation({Hop.FORWARDED: wrong_zone, Hop.RECEIPTED: START + 8}, None, "LEVERT")
    world.apply(StatusSeen(canary, seen, START + 15), now=START + 16)
    assert canary.hops[Hop.FORWARDED] == START + 8  # the later hop came sooner than the ask
    assert canary.hops[Hop.RECEIPTED] == START + 8
    assert world.value("kanari_hop_time_reading_errors_total", channel="portal", hop="forwarded") == 1
    skewed = record(number=2)
    world.open(skewed)
    within = Observation({Hop.FORWARDED: START - CLOCK_SKEW_TOLERANCE}, None, "SENDT_FAGSYSTEM")
    world.apply(StatusSeen(skewed, within, START + 15), now=START + 15)
    assert skewed.hops[Hop.FORWARDED] == START  # within the skew: the send's own instant, no error
    assert world.value("kanari_hop_time_reading_errors_total", channel="portal", hop="forwarded") == 1


def test_a_look_counts_from_when_it_was_asked_not_from_when_its_answer_was_applied(world: World) -> None:
    # Asked 10 s after sending, before the hop is due; answered (and applied) after it was due: this look
    # cannot say the hop was missing once it was due, so it must not be read as a look after that.
    canary = record()
    world.open(canary)
    world.apply(
        StatusSeen(canary, Observation({Hop.FORWARDED: START + 5}, None, "SENDT"), START + 10), now=START + 70
    )
    assert canary.status_ok_at == START + 10
    seen = RegistrationsSeen(VENDOR, "4601", (canary,), (), START + 20)
    world.apply(seen, now=START + 80)
    assert canary.readback_ok_at == START + 20
    # An older question answered after a newer one never moves the look back.
    world.apply(StatusSeen(canary, Observation({}, None, "SENDT"), START + 5), now=START + 90)
    assert canary.status_ok_at == START + 10


def test_a_lookup_finds_the_canary_or_resolves_it_as_never_arrived(world: World) -> None:
    found = record(ALTINN, upstream_id=None, hops={}, number=1)
    missing = record(ALTINN, upstream_id=None, hops={}, number=2)
    world.open(found, missing)
    world.apply(LookupDone(found, "altinn-9"), LookupDone(missing, None), now=START + 20)
    assert (found.upstream_id, found.hops) == ("altinn-9", {Hop.ACCEPTED: found.created_at})
    assert (missing.state, missing.verdict) == (State.RESOLVED, Verdict.UNKNOWN)


def test_a_registration_with_its_own_marker_is_registered_and_a_second_one_a_duplicate(world: World) -> None:
    canary = record()
    world.open(canary)
    registration = Registration(canary.id, canary.marker, START + 20)
    seen = RegistrationsSeen(VENDOR, "4601", (canary,), (registration, registration), START + 30)
    world.apply(seen, now=START + 30)
    assert canary.hops[Hop.REGISTERED] == START + 20
    assert canary.duplicate
    assert canary.readback_ok_at == START + 30
    assert world.value("kanari_duplicates_total", **route_labels(canary)) == 1


def test_a_borrowed_or_forged_marker_is_rejected_and_counted(world: World) -> None:
    canary = record(number=1)
    other = record(number=2)
    world.open(canary, other)
    borrowed = Registration(canary.id, other.marker, START + 20)
    forged = Registration(canary.id, canary.marker[:-4] + "AAAA", START + 20)
    other_town = SIGNER.sign(canary.id, Channel.PORTAL, "0301", int(START))
    moved = Registration(canary.id, other_town, START + 20)
    world.apply(
        RegistrationsSeen(VENDOR, "4601", (canary,), (borrowed, forged, moved), START + 30), now=START + 30
    )
    assert Hop.REGISTERED not in canary.hops
    assert world.value("kanari_marker_rejections_total", channel="portal", vendor=VENDOR) == 3


def test_a_bad_registration_seen_again_on_every_poll_is_counted_and_logged_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    canary = record(number=1)
    other = record(number=2)
    world.open(canary, other)
    borrowed = Registration(canary.id, other.marker, START + 20)
    for poll in range(5):
        at = START + 30 + 15 * poll
        world.apply(RegistrationsSeen(VENDOR, "4601", (canary,), (borrowed,), at), now=at)
    assert world.value("kanari_marker_rejections_total", channel="portal", vendor=VENDOR) == 1
    assert len([r for r in caplog.records if "marker rejected" in r.getMessage()]) == 1
    # A different bad registration of the same canary is another one, counted on its own.
    forged = Registration(canary.id, canary.marker[:-4] + "AAAA", START + 20)
    world.apply(
        RegistrationsSeen(VENDOR, "4601", (canary,), (borrowed, forged), START + 200), now=START + 200
    )
    assert world.value("kanari_marker_rejections_total", channel="portal", vendor=VENDOR) == 2
    assert canary.readback_ok_at == START + 200  # read-back itself worked each time


def test_a_registration_of_a_canary_that_is_not_open_here_is_ignored(world: World) -> None:
    foreign = record(number=9)  # another instance's, or closed already
    seen = RegistrationsSeen(
        VENDOR, "4601", (), (Registration(foreign.id, foreign.marker, START + 20),), START + 30
    )
    world.apply(seen, now=START + 30)
    assert world.value("kanari_marker_rejections_total", channel="portal", vendor=VENDOR) == 0


def test_a_check_failure_is_counted_and_its_words_kept_even_for_a_closed_canary(world: World) -> None:
    canary = record()
    world.open(canary)
    error = UpstreamError("portal", Reason.HTTP_5XX, "503", 503, detail="errorId e-7")
    closed = record(number=2)
    world.apply(
        CheckFailed(Channel.PORTAL, "portal", error, canary),
        CheckFailed(Channel.PORTAL, "readback", error, closed),
        now=START + 15,
    )
    assert canary.diagnostics == "errorId e-7"
    assert (
        world.value("kanari_check_failures_total", channel="portal", target="portal", reason="http_5xx") == 1
    )
    assert (
        world.value("kanari_check_failures_total", channel="portal", target="readback", reason="http_5xx")
        == 1
    )


def test_cleanup_and_results_about_closed_canaries(world: World) -> None:
    canary = record()
    world.open(canary)
    world.apply(CleanedUp(canary), now=START + 40)
    assert canary.cleaned_at == START + 40
    gone = record(number=2)
    world.apply(
        StatusSeen(gone, Observation({Hop.FORWARDED: START + 5}, None, "X"), START + 15), now=START + 15
    )
    assert gone.hops == {Hop.ACCEPTED: START + 1}  # not open here: dropped, nothing stored
    assert stored(world.ledger, gone.id) is None


def test_a_failing_upstream_logs_its_first_failure_then_one_summary_a_minute(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # KS answers 503 to every send for five minutes, one send every 10 s: 30 sends, 30 verdict lines
    # (each canary's own story), but the failure itself only at its start and once a minute after.
    refusal = UpstreamError("portal", Reason.HTTP_5XX, "503", 503, detail="KS: unavailable")
    readback_down = UpstreamError("readback", Reason.CONNECT, "refused")
    with caplog.at_level(logging.INFO, logger="kanari"):
        for number in range(30):
            canary = record(state=State.INTENT, upstream_id=None, number=number + 1)
            world.open(canary)
            now = START + 10 * number
            world.apply(
                SendAnswered(canary, refusal), CheckFailed(Channel.PORTAL, "readback", readback_down), now=now
            )
        world.apply(now=START + 10 * 30)  # the outage is over: what was held back is summed up
    sends = [r for r in caplog.records if r.name == "kanari.send"]
    checks = [r for r in caplog.records if r.name == "kanari.poll"]
    verdicts = [r for r in caplog.records if r.name == "kanari.verdict"]
    assert len(verdicts) == 30
    assert [r.getMessage().split(" (")[-1] for r in sends[1:]] == [
        "4 more like it in the last 60 s)",  # the newest of the five held back, and four more
        *["5 more like it in the last 60 s)" for _ in range(4)],
    ]
    assert [r.repeats for r in sends] == [0, 4, 5, 5, 5, 5]  # type: ignore[attr-defined]
    assert sum(r.repeats + 1 for r in sends) == 30  # type: ignore[attr-defined]
    assert len(checks) == 6
    assert sends[0].getMessage() == (
        f"send failed: route=portal/4601 canary={uuid_of(1)} reason=http_5xx maybe_processed=False "
        "detail=KS: unavailable"
    )
    assert checks[0].getMessage() == "check failed: target=readback channel=portal reason=connect"
    first = sends[0].__dict__
    assert {k: first[k] for k in ("event", "route", "vendor", "upstream", "reason", "status_code")} == {
        "event": "upstream_failure",
        "route": "portal/4601",
        "vendor": VENDOR,
        "upstream": "portal",
        "reason": "http_5xx",
        "status_code": 503,
    }
