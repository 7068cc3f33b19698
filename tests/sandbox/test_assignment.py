"""Vendor, office and Altinn-import assignment: pure, stable, complete."""

from __future__ import annotations

import collections

from probe.config.registry import orgnr_is_valid, packaged_registry
from probe.sandbox.assignment import VENDORS, VENDORS_BY_ID, assign, assign_all, placeholder_orgnr


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
    assert single.bydeler == (("00", "Ålesund", True),)


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
