"""The report content: KS schema validity, banner, marker placement, fictional data, Altinn content."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

from probe.canary.content import (
    TEST_BANNER,
    CanarySubject,
    altinn_content,
    altinn_property_list,
    portal_report,
)
from probe.canary.identity import is_valid_synthetic_fnr
from probe.canary.marker import MarkerSigner, find_markers
from probe.hops import Channel

from ..conftest import REFERENCE
from .conftest import make_subject

KS = REFERENCE / "ks-bekymringsmelding"
SCHEMAS = {
    "v1": KS / "domain" / "offentlig.bekymringsmelding.v1.json",
    "v2": KS / "domain" / "v2" / "offentlig.bekymringsmelding.v2.json",
}
EXAMPLES = {
    "v1": KS / "examples" / "offentligBekymringsmeldingV1.json",
    "v2": KS / "examples" / "offentligBekymringsmeldingV2.json",
}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validators() -> dict[str, Validator]:
    """KS's schemas, with ``../adresse.json`` (v2) and ``adresse.json`` (v1) served from the local
    copy: both resolve to ``https://fiks.ks.no/adresse.json`` against the schemas' ``$id``, so nothing
    is fetched."""
    address = Resource.from_contents(load(KS / "domain" / "adresse.json"), default_specification=DRAFT201909)
    registry = Registry().with_resource("https://fiks.ks.no/adresse.json", address)
    return {
        version: jsonschema.Draft201909Validator(load(path), registry=registry)
        for version, path in SCHEMAS.items()
    }


def errors(validator: Validator, document: Any) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_ks_examples_validate_so_the_validator_setup_is_sound(
    validators: dict[str, Validator], version: str
) -> None:
    assert errors(validators[version], load(EXAMPLES[version])) == []
    broken = load(EXAMPLES[version])
    broken["offentligBarn"][0]["adresse"] = {}  # adresselinje1 is required by adresse.json
    assert errors(validators[version], broken)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("channel", list(Channel))
def test_portal_report_validates_against_the_ks_schema(
    validators: dict[str, Validator], signer: MarkerSigner, version: str, channel: Channel
) -> None:
    report = portal_report(make_subject(signer, channel=channel), version)

    assert errors(validators[version], report) == []
    # What goes over the wire is JSON text; it must survive the trip unchanged.
    assert json.loads(json.dumps(report, ensure_ascii=False)) == report


@pytest.mark.parametrize(
    ("kommunenummer", "kommunenavn", "bydelsnummer", "bydelsnavn"),
    [
        ("5622", "Porsanger - Porsáŋgu - Porsanki", "00", "Porsanger - Porsáŋgu - Porsanki"),
        ("0301", "Oslo", "13", "Bydel Frogner"),
    ],
)
def test_every_municipality_name_validates(
    validators: dict[str, Validator],
    signer: MarkerSigner,
    kommunenummer: str,
    kommunenavn: str,
    bydelsnummer: str,
    bydelsnavn: str,
) -> None:
    subject = make_subject(
        signer,
        kommunenummer=kommunenummer,
        kommunenavn=kommunenavn,
        bydelsnummer=bydelsnummer,
        bydelsnavn=bydelsnavn,
    )

    report = portal_report(subject)

    assert errors(validators["v2"], report) == []
    assert (report["kommunenavn"], report["bydelsnummer"]) == (kommunenavn, bydelsnummer)


def test_v2_adds_other_views_and_v1_does_not(subject: CanarySubject) -> None:
    assert "andreSynspunkter" in portal_report(subject, "v2")["melding"]
    assert "andreSynspunkter" not in portal_report(subject, "v1")["melding"]
    assert portal_report(subject) == portal_report(subject, "v2")


def test_unknown_api_version_is_refused(subject: CanarySubject) -> None:
    with pytest.raises(ValueError, match="v3"):
        portal_report(subject, "v3")


def test_message_opens_with_the_banner_and_carries_the_marker_on_its_own_line(subject: CanarySubject) -> None:
    text = portal_report(subject)["melding"]["melding"]

    assert text.splitlines()[0] == TEST_BANNER
    assert f"Kanari-markør: {subject.marker}" in text.splitlines()
    assert find_markers(text) == [subject.marker]
    assert subject.canary_id in text


def test_every_free_text_of_the_report_carries_the_banner(subject: CanarySubject) -> None:
    melding = portal_report(subject)["melding"]

    assert all(value.startswith(TEST_BANNER) for value in melding.values())


def test_banner_says_in_norwegian_that_it_is_a_synthetic_test_not_to_act_on() -> None:
    assert "SYNTETISK TESTMELDING" in TEST_BANNER
    assert "KANARI" in TEST_BANNER
    assert "SKAL IKKE BEHANDLES" in TEST_BANNER
    assert "\n" not in TEST_BANNER


def test_sender_names_kanari_and_the_child_is_synthetic(subject: CanarySubject) -> None:
    report = portal_report(subject)

    assert "Kanari" in report["leveringskanal"]
    assert "Kanari" in report["offentligMelder"]["virksomhet"]["navn"]
    assert "orgnr" not in report["offentligMelder"]["virksomhet"]  # no real organisation's number
    (child,) = report["offentligBarn"]
    assert child["fnr"] == subject.child_fnr
    assert is_valid_synthetic_fnr(child["fnr"])
    assert child["ufoedt"] is False


def test_contact_details_belong_to_nobody_yet_pass_the_ks_patterns(subject: CanarySubject) -> None:
    melder = load(SCHEMAS["v2"])["properties"]["offentligMelder"]["properties"]
    report = portal_report(subject)["offentligMelder"]

    # .invalid is reserved (RFC 2606/6761): it can never be registered or receive mail.
    assert report["epost"].endswith("@kanari.invalid")
    assert re.search(melder["epost"]["pattern"], report["epost"])
    assert re.search(melder["telefonnummer"]["pattern"], report["telefonnummer"])
    assert report["telefonnummer"].startswith("0")  # no Norwegian subscriber number does


@pytest.mark.parametrize(
    ("created_at", "local"),
    [
        (1_767_225_600.0, "2026-01-01T01:00:00"),  # winter: UTC+1
        (1_782_864_000.9, "2026-07-01T02:00:00"),  # summer: UTC+2, seconds truncated
    ],
)
def test_sending_time_is_oslo_local_time_without_zone(
    signer: MarkerSigner, created_at: float, local: str
) -> None:
    report = portal_report(make_subject(signer, created_at=created_at))

    assert report["sendingstidspunkt"] == local


def test_subject_is_immutable(subject: CanarySubject) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        subject.marker = "x"  # type: ignore[misc]  # the assignment must fail at run time too


# Altinn -------------------------------------------------------------------------------------------------


def test_altinn_content_carries_banner_and_marker(subject: CanarySubject) -> None:
    content = altinn_content(subject)

    assert set(content) == {"language", "messageTitle", "messageSummary", "messageBody"}
    assert content["language"] == "nb"
    assert content["messageTitle"].startswith(TEST_BANNER)
    assert content["messageSummary"].startswith(TEST_BANNER)
    assert TEST_BANNER in content["messageBody"].splitlines()[0]
    # In a code span, so a Markdown renderer never turns the marker's "_" into emphasis.
    assert f"`{subject.marker}`" in content["messageBody"]
    assert find_markers(content["messageBody"]) == [subject.marker]


def test_altinn_title_and_summary_are_plain_text_within_limits(signer: MarkerSigner) -> None:
    subject = make_subject(signer, kommunenavn="Langtnavn " * 40)
    content = altinn_content(subject)

    for field in ("messageTitle", "messageSummary"):
        assert len(content[field]) <= 255
        assert content[field].startswith(TEST_BANNER)
        assert "\n" not in content[field]
        assert not re.search(r"[*_`<>#]", content[field])


def test_altinn_property_list_holds_marker_and_id(subject: CanarySubject) -> None:
    assert altinn_property_list(subject) == {
        "kanariMarker": subject.marker,
        "kanariCanaryId": subject.canary_id,
    }
