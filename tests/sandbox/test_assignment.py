"""Vendor, office (with its supported report version) and Altinn-import assignment: pure, stable,
complete."""

from __future__ import annotations

import collections

from probe.config.registry import orgnr_is_valid, packaged_registry
from probe.sandbox.assignment import (
    LEGACY_VERSION,
    NEWEST_VERSION,
    VENDORS,
    VENDORS_BY_ID,
    assign,
    assign_all,
    placeholder_orgnr,
    stottet_versjon_value,
    version_number,
)


def test_every_municipality_has_one_default_office_and_a_valid_orgnr() -> None:
    assignments = assign_all(packaged_registry())
    assert len(assignments) == 357
    for number, assignment in assignments.items():
        assert assignment.kommunenummer == number
        assert sum(bydel.standard_mottaker for bydel in assignment.bydeler) == 1
        assert orgnr_is_valid(assignment.orgnr)
        assert assignment.vendor_id in VENDORS_BY_ID
        if assignment.imports_altinn:
            assert VENDORS_BY_ID[assignment.vendor_id].readback is not None
    assert len({assignment.orgnr for assignment in assignments.values()}) == 357
    vendors = collections.Counter(assignment.vendor_id for assignment in assignments.values())
    assert set(vendors) == {vendor.id for vendor in VENDORS}
    assert 30 <= sum(assignment.imports_altinn for assignment in assignments.values()) <= 110


def test_cities_have_several_offices() -> None:
    registry = packaged_registry()
    oslo = assign(registry["0301"])
    assert len(oslo.bydeler) == 15
    assert oslo.default_bydel.bydelsnummer == "01"
    assert {number: len(assign(registry[number]).bydeler) for number in ("4601", "5001", "1103")} == {
        "4601": 8,
        "5001": 4,
        "1103": 3,
    }
    assert assign(registry["4601"]).default_bydel.bydelsnavn == "Bergenhus"
    vendors_of_cities = {assign(registry[number]).vendor_id for number in ("0301", "4601", "5001", "1103")}
    assert vendors_of_cities == {"fjordsys", "nordlys", "vidde", "kystdata"}
    single = assign(registry["1508"])
    assert single.bydeler == (("00", "Ålesund", True, 2),)


def test_haram_gets_a_documented_placeholder() -> None:
    haram = assign(packaged_registry()["1580"])
    assert haram.orgnr_is_placeholder
    assert haram.orgnr == placeholder_orgnr("1580")
    assert haram.orgnr.startswith("9991580")
    assert orgnr_is_valid(haram.orgnr)
    assert not assign(packaged_registry()["4601"]).orgnr_is_placeholder


def test_assignment_is_pure_and_pinned() -> None:
    registry = packaged_registry()
    assert assign(registry["1101"]) == assign(registry["1101"])
    # Pinned: the demo configuration is generated from these; a change here changes every demo.
    pinned = {number: (a.vendor_id, a.imports_altinn) for number, a in assign_all(registry).items()}
    assert pinned["0301"][0] == "fjordsys"
    assert pinned["1580"] == ("fjordsys", False)
    digest = collections.Counter(vendor for vendor, _ in pinned.values())
    assert digest == {"fjordsys": 117, "nordlys": 79, "vidde": 65, "kystdata": 58, "papirlos": 38}


def test_most_offices_support_version_2_and_a_pinned_minority_only_1() -> None:
    assignments = assign_all(packaged_registry())
    versions = {
        (number, bydel.bydelsnummer): bydel.stottet_versjon
        for number, assignment in assignments.items()
        for bydel in assignment.bydeler
    }
    assert set(versions.values()) == {LEGACY_VERSION, NEWEST_VERSION}
    legacy = sorted(office for office, version in versions.items() if version == LEGACY_VERSION)
    # Pinned, like the vendors: 52 single-office municipalities and two named city offices.
    assert len(legacy) == 54
    assert {("0301", "03"), ("5001", "04")} <= set(legacy)
    assert legacy[:3] == [("0301", "03"), ("1108", "00"), ("1121", "00")]
    # The cities' default receivers take the newest version; so do the e2e tests' municipalities.
    for number in ("0301", "4601", "5001", "1103", "1130", "1146", "1508"):
        assert assignments[number].default_bydel.stottet_versjon == NEWEST_VERSION
    # Spread over vendors, with and without read-back, so both kinds of route meet a v1 office.
    legacy_vendors = {assignments[number].vendor_id for number, _ in legacy}
    assert legacy_vendors == {vendor.id for vendor in VENDORS}


def test_stottet_versjon_is_served_as_an_integer_and_versions_compare_as_numbers() -> None:
    sagene = assign(packaged_registry()["0301"]).bydeler[2]
    assert sagene.bydelsnavn == "Sagene"
    assert stottet_versjon_value(sagene) == 1
    assert version_number("v1") == 1
    assert version_number("v2") == 2
