"""Parsing upstream answers onto hops, against real-shaped payloads."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from probe.channels.altinn import parse_details
from probe.channels.portal import parse_status_history
from probe.checks.readback import parse_registration
from probe.errors import InvalidResponseError
from probe.hops import Hop

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")


def local(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=OSLO).timestamp()


def history(*entries: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "bekymringsmeldingId": "7d3e",
            "tidspunkt": when,
            "tilstand": state,
            "beskrivelse": f"{state} beskrivelse",
        }
        for when, state in entries
    ]


def test_portal_status_history_maps_onto_hops_in_local_time() -> None:
    observation = parse_status_history(
        history(
            ("2026-03-02T10:00:00", "AKSEPTERT"),
            ("2026-03-02T10:00:05.123", "SENDT_FAGSYSTEM"),
            ("2026-03-02T10:01:00", "LEVERT"),
        )
    )
    assert observation.reached == {
        Hop.ACCEPTED: local("2026-03-02T10:00:00"),
        Hop.FORWARDED: local("2026-03-02T10:00:05.123"),
        Hop.RECEIPTED: local("2026-03-02T10:01:00"),
    }
    assert observation.failed_status is None
    assert observation.last_status == "LEVERT"


def test_portal_paper_fallback_is_a_failure_and_order_does_not_matter() -> None:
    observation = parse_status_history(
        history(
            ("2026-03-02T10:02:00", "SENDT_PRINT"),
            ("2026-03-02T10:00:00", "AKSEPTERT"),
            ("2026-03-02T10:01:00", "AVVIST_FAGSYSTEM"),
            ("2026-03-02T10:00:30", "SENDT_FAGSYSTEM"),
        )
    )
    assert observation.failed_status == "AVVIST_FAGSYSTEM"
    assert Hop.RECEIPTED not in observation.reached
    assert observation.last_status == "SENDT_PRINT"


def test_portal_later_hop_implies_earlier_and_unknown_states_are_tolerated() -> None:
    observation = parse_status_history(
        history(
            ("2026-03-02T10:00:00", "AKSEPTERT"),
            ("2026-03-02T10:00:09", "NY_TILSTAND"),
            ("2026-03-02T10:01:00", "LEVERT"),
        )
    )
    assert observation.reached[Hop.FORWARDED] == observation.reached[Hop.RECEIPTED]
    assert observation.failed_status is None


def test_portal_time_with_offset_is_honoured() -> None:
    observation = parse_status_history(history(("2026-03-02T10:00:00+00:00", "AKSEPTERT")))
    assert observation.reached[Hop.ACCEPTED] == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    "answer",
    [
        {"not": "a list"},
        [{"tidspunkt": "2026-03-02T10:00:00"}],
        [{"tilstand": "AKSEPTERT", "tidspunkt": "igår"}],
        [{"tilstand": "AKSEPTERT", "tidspunkt": 5}],
        ["AKSEPTERT"],
    ],
)
def test_portal_malformed_history_is_an_invalid_response(answer: object) -> None:
    with pytest.raises(InvalidResponseError):
        parse_status_history(answer)


def details(status: str, *events: tuple[str, str]) -> dict[str, Any]:
    return {
        "correspondenceId": "0192f1c4-9c1d-7000-8000-000000000001",
        "status": status,
        "statusText": status,
        "statusHistory": [{"status": s, "statusText": s, "statusChanged": when} for when, s in events],
        "sendersReference": "canary",
    }


def test_altinn_details_map_onto_hops() -> None:
    observation = parse_details(
        details(
            "Read",
            ("2026-03-02T10:00:00.000+01:00", "Initialized"),
            ("2026-03-02T10:00:01+01:00", "ReadyForPublish"),
            ("2026-03-02T10:00:04+01:00", "Published"),
            ("2026-03-02T09:20:00Z", "Fetched"),
            ("2026-03-02T09:25:00Z", "Read"),
        )
    )
    assert observation.reached[Hop.PUBLISHED] == dt.datetime(2026, 3, 2, 9, 0, 4, tzinfo=dt.UTC).timestamp()
    assert observation.reached[Hop.FETCHED] == dt.datetime(2026, 3, 2, 9, 20, tzinfo=dt.UTC).timestamp()
    assert Hop.READ in observation.reached
    assert observation.last_status == "Read"


def test_altinn_failed_and_unknown_statuses() -> None:
    observation = parse_details(
        details("Failed", ("2026-03-02T10:00:00Z", "Initialized"), ("2026-03-02T10:00:03Z", "Failed"))
    )
    assert observation.failed_status == "Failed"
    tolerant = parse_details(
        details("AttachmentsDownloaded", ("2026-03-02T10:00:03Z", "AttachmentsDownloaded"))
    )
    assert tolerant.reached == {}
    assert tolerant.last_status == "AttachmentsDownloaded"


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"status": "Published"},
        {"statusHistory": "x"},
        {"statusHistory": [{"status": 3}]},
        {"statusHistory": [{"status": "Published", "statusChanged": "2026-03-02T10:00:00"}]},
    ],
)
def test_altinn_malformed_details(answer: object) -> None:
    with pytest.raises(InvalidResponseError):
        parse_details(answer)


def test_readback_registration() -> None:
    registration = parse_registration(
        {
            "canaryId": "c",
            "marker": "KANARI1.a.b",
            "channel": "portal",
            "registeredAt": "2026-03-02T10:00:00Z",
        }
    )
    assert registration.registered_at == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    "entry",
    [
        "x",
        {"canaryId": "c"},
        {"canaryId": "c", "marker": "m", "channel": "portal", "registeredAt": "yesterday"},
        {"canaryId": 1, "marker": "m", "channel": "portal", "registeredAt": "2026-03-02T10:00:00Z"},
    ],
)
def test_readback_malformed_registration(entry: object) -> None:
    with pytest.raises(InvalidResponseError):
        parse_registration(entry)


def test_levert_after_paper_post_is_no_receipt_and_the_fagsystems_reason_is_kept() -> None:
    observation = parse_status_history(
        history(
            ("2026-03-02T10:00:00", "AKSEPTERT"),
            ("2026-03-02T10:00:30", "SENDT_FAGSYSTEM"),
            ("2026-03-02T10:01:00", "AVVIST_FAGSYSTEM"),
            ("2026-03-02T10:02:00", "SENDT_PRINT"),
            ("2026-03-02T12:00:00", "LEVERT"),
        )
    )
    assert Hop.RECEIPTED not in observation.reached
    assert observation.reached == {
        Hop.ACCEPTED: local("2026-03-02T10:00:00"),
        Hop.FORWARDED: local("2026-03-02T10:00:30"),
    }
    assert observation.failed_status == "AVVIST_FAGSYSTEM"
    assert observation.detail == "AVVIST_FAGSYSTEM beskrivelse"
    assert observation.last_status == "LEVERT"


def test_levert_stamped_in_the_same_instant_as_the_print_still_follows_it() -> None:
    observation = parse_status_history(
        history(
            ("2026-03-02T10:00:00", "AKSEPTERT"),
            ("2026-03-02T10:02:00", "SENDT_PRINT"),
            ("2026-03-02T10:02:00", "LEVERT"),
        )
    )
    assert Hop.RECEIPTED not in observation.reached
    assert observation.failed_status == "SENDT_PRINT"


def test_ks_times_are_read_in_the_configured_time_zone() -> None:
    entries = history(("2026-03-02T10:00:00", "AKSEPTERT"))
    oslo = parse_status_history(entries).reached[Hop.ACCEPTED]
    utc = parse_status_history(entries, "UTC").reached[Hop.ACCEPTED]
    assert utc - oslo == 3600  # Oslo is an hour ahead of UTC in March


def test_altinn_failed_status_text_is_kept_as_detail() -> None:
    observation = parse_details(
        {
            "status": "Failed",
            "statusHistory": [
                {
                    "status": "Initialized",
                    "statusText": "Initialized",
                    "statusChanged": "2026-03-02T10:00:00Z",
                },
                {
                    "status": "Failed",
                    "statusText": "The following recipients lack required roles to read the correspondence",
                    "statusChanged": "2026-03-02T10:00:05Z",
                },
            ],
        }
    )
    assert observation.failed_status == "Failed"
    assert observation.detail == "The following recipients lack required roles to read the correspondence"
