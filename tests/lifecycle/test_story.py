"""The log lines that tell a canary's story: one per verdict other than delivered, per late arrival and
per duplicate, each with the route, hop, owner and the ids to search for, as text and as JSON keys."""

from __future__ import annotations

import json
import logging

import pytest

from probe.cli.logformat import JsonFormatter
from probe.hops import Channel, Hop, Owner, Verdict
from probe.lifecycle import record as lifecycle
from probe.lifecycle.record import Decision
from probe.lifecycle.story import describe, fields
from tests.engine.kit import START, VENDOR, record, route, uuid_of

# The keys DESIGN and issue 18 ask of a verdict line.
VERDICT_KEYS = {
    "canary_id",
    "route",
    "channel",
    "municipality",
    "vendor",
    "verdict",
    "hop",
    "owner",
    "upstream_id",
}


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "kanari.verdict"]


def test_a_lost_verdict_is_one_line_with_every_key(caplog: pytest.LogCaptureFixture) -> None:
    canary = record(hops={Hop.ACCEPTED: START + 1, Hop.FORWARDED: START + 20})
    canary.last_status = "SENDT_FAGSYSTEM"
    lifecycle.note(canary, "KS: no receipt yet")
    with caplog.at_level(logging.INFO, logger="kanari.verdict"):
        lifecycle.resolve(canary, Decision(Verdict.LOST, Hop.RECEIPTED, Owner.VENDOR), START + 400)
    [line] = json_lines(caplog)
    assert set(line) >= VERDICT_KEYS
    assert line == {
        "time": line["time"],
        "level": "WARNING",
        "logger": "kanari.verdict",
        "message": f"verdict lost: route=portal/4601 canary={uuid_of(1)} vendor={VENDOR} hop=receipted "
        "owner=vendor report_id=upstream-1 detail=KS: no receipt yet",
        "event": "verdict",
        "canary_id": uuid_of(1),
        "route": "portal/4601",
        "channel": "portal",
        "municipality": "4601",
        "bydel": None,
        "vendor": VENDOR,
        "verdict": "lost",
        "hop": "receipted",
        "owner": "vendor",
        "upstream_id": "upstream-1",
        "report_id": "upstream-1",
        "sent_at": "2026-01-01T00:00:00.000Z",
        "deadline_at": "2026-01-01T00:05:00.000Z",
        "hops": {"accepted": "2026-01-01T00:00:01.000Z", "forwarded": "2026-01-01T00:00:20.000Z"},
        "last_status": "SENDT_FAGSYSTEM",
        "late_at": None,
        "detail": "KS: no receipt yet",
    }
    assert "KANARI1" not in json.dumps(line)  # the marker is never logged


def test_an_altinn_canary_names_its_correspondence_id() -> None:
    canary = record(route(Channel.ALTINN, final_hop=Hop.FETCHED), upstream_id="corr-9")
    assert fields(canary, "verdict")["correspondence_id"] == "corr-9"
    assert "report_id" not in fields(canary, "verdict")
    assert "correspondence_id=corr-9" in describe(canary)


def test_a_canary_never_answered_shows_dashes_in_text_and_nulls_in_json() -> None:
    canary = record(upstream_id=None)
    assert describe(canary) == (
        f"route=portal/4601 canary={uuid_of(1)} vendor={VENDOR} hop=- owner=- report_id=- detail=-"
    )
    assert fields(canary, "verdict")["upstream_id"] is None


def test_a_late_arrival_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    canary = record()
    lifecycle.resolve(canary, Decision(Verdict.LOST, Hop.REGISTERED, Owner.VENDOR), START + 400)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kanari.verdict"):
        lifecycle.arrive_late(canary, START + 500)
        lifecycle.arrive_late(canary, START + 600)
    [line] = json_lines(caplog)
    assert line["event"] == "late_arrival"
    assert str(line["message"]).startswith(f"late arrival: route=portal/4601 canary={uuid_of(1)}")
    assert (line["verdict"], line["hop"], line["owner"]) == ("lost", "registered", "vendor")
    assert line["late_at"] == "2026-01-01T00:08:20.000Z"


def test_a_duplicate_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    canary = record()
    with caplog.at_level(logging.INFO, logger="kanari.verdict"):
        lifecycle.mark_duplicate(canary)
        lifecycle.mark_duplicate(canary)
    [line] = json_lines(caplog)
    assert line["event"] == "duplicate"
    assert line["canary_id"] == uuid_of(1)
    assert str(line["message"]).startswith("duplicate registration: route=portal/4601")
