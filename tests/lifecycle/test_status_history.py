"""A canary's status history is kept as the upstream reported it: upstream order and times, texts cleaned
and bounded, the newest entries kept; an empty answer keeps what was seen; a row that cannot be read is
an empty history, never an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.channels.base import StatusEvent
from probe.channels.portal import parse_status_history
from probe.diagnostics import MAX_DETAIL
from probe.engine.results import StatusSeen
from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle.status_history import MAX_EVENTS, decode, encode, seen
from tests.engine.kit import START, ledger, record
from tests.engine.test_applying import World
from tests.ledger_view import record as stored


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with ledger(tmp_path) as opened:
        yield World(opened)


def test_entries_keep_the_upstreams_order_and_times() -> None:
    events = [StatusEvent(20.0, "LEVERT", "Mottatt"), StatusEvent(10.0, "AKSEPTERT", "")]
    assert decode(encode(events)) == [(20.0, "LEVERT", "Mottatt"), (10.0, "AKSEPTERT", "")]


def test_texts_are_cleaned_and_the_list_bounded() -> None:
    token = "Bearer " + "a" * 60
    events = [
        StatusEvent(float(n), "SENDT_FAGSYSTEM", f"{token}\n{'ord ' * 300}") for n in range(MAX_EVENTS + 5)
    ]
    decoded = decode(encode(events))
    assert len(decoded) == MAX_EVENTS
    assert decoded[0][0] == 5.0  # the newest kept
    assert "a" * 60 not in decoded[0][2]
    assert len(decoded[0][2]) == MAX_DETAIL


def test_an_empty_answer_keeps_what_was_seen() -> None:
    canary = record()
    seen(canary, [StatusEvent(1.0, "AKSEPTERT")])
    kept = canary.history
    seen(canary, [])
    assert canary.history == kept


def test_an_unreadable_row_is_an_empty_history() -> None:
    assert decode(None) == []
    assert decode("not json") == []
    assert decode(json.dumps({"a": 1})) == []
    assert decode(json.dumps([[1, "A", "x"], ["bad"], "x"])) == [(1.0, "A", "x")]


def test_a_portal_observation_carries_its_history_as_received() -> None:
    answer = [
        {
            "bekymringsmeldingId": "r",
            "tidspunkt": "2026-03-02T10:00:00",
            "tilstand": "AKSEPTERT",
            "beskrivelse": None,
        },
        {
            "bekymringsmeldingId": "r",
            "tidspunkt": "2026-03-02T10:01:00",
            "tilstand": "SENDT_PRINT",
            "beskrivelse": "papir",
        },
    ]
    observation = parse_status_history(answer)
    assert [(event.status, event.text) for event in observation.events] == [
        ("AKSEPTERT", ""),
        ("SENDT_PRINT", "papir"),
    ]


def test_applying_a_status_check_stores_the_history_and_a_failed_canary_opens_an_incident(
    world: World,
) -> None:
    canary = record()
    world.open(canary)
    observation = parse_status_history(
        [
            {"bekymringsmeldingId": "r", "tidspunkt": "2026-01-01T01:00:01", "tilstand": "AKSEPTERT"},
            {
                "bekymringsmeldingId": "r",
                "tidspunkt": "2026-01-01T01:00:05",
                "tilstand": "AVVIST_FAGSYSTEM",
                "beskrivelse": "Ugyldig",
            },
        ]
    )
    world.apply(StatusSeen(canary, observation, START + 10), now=START + 10)
    saved = stored(world.ledger, canary.id)
    assert saved is not None
    assert [status for _, status, _ in decode(saved.history)] == ["AKSEPTERT", "AVVIST_FAGSYSTEM"]
    assert saved.verdict is Verdict.FAILED
    [incident] = world.ledger.incidents(open_only=True)
    assert (incident.channel, incident.first_canary, incident.owner) == (
        Channel.PORTAL,
        canary.id,
        Owner.VENDOR,
    )
    assert incident.hop is Hop.FORWARDED
    assert incident.exposure_start == canary.created_at  # nothing delivered on the route before
