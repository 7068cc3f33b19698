"""Which fictional vendor serves each municipality, which offices (bydeler) it has, and whether its
fagsystem imports Altinn mail: a pure, stable function of the municipality.

The sandbox world and the probe's demo configuration are both generated from :func:`assign`, so the two
always agree without one reading the other. The function is deterministic across processes and Python
versions (it hashes with SHA-256, never with ``hash()``), and changing it changes every demo: treat its
output as a published contract.

Rules:

* Oslo, Bergen, Trondheim and Stavanger have several child-welfare offices and a fixed vendor each, so
  every vendor with a read-back API serves a large municipality with several offices.
* Every other municipality has one office, ``00``, named after the municipality, and a vendor drawn
  from the SHA-256 of its kommunenummer with the weights in :data:`VENDOR_WEIGHTS`.
* About a quarter of the municipalities whose vendor has a read-back API import Altinn mail into their
  fagsystem (chosen from another slice of the same hash).
* Every office has a supported report version, KS's ``stottetVersjon`` (:func:`stottet_versjon_value`
  gives its wire form). Most support 2 (and so 1 as well). A deterministic minority supports only 1, as
  a fagsystem not yet upgraded would: :data:`LEGACY_VERSION_PERCENT` percent of the single-office
  municipalities, chosen from a third slice of the hash (52 of the 353 today), plus two named city
  offices, Oslo's Sagene (``03``, the office the demo addresses by name) and Trondheim's Heimdal
  (``04``), so that a municipality with offices of both versions exists. The cities' default receivers
  support 2. A fagsystem refuses a report in a version its office does not support (``feilet``, then
  KS's paper post).
* Haram (1580, split from Ålesund in 2024) has no organisation number in the registry; it gets
  :func:`placeholder_orgnr`, ``999`` + kommunenummer + a filler digit + a valid check digit. That number
  is **not** Haram's and exists only in the sandbox (``orgnr_is_placeholder`` says so).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Literal, NamedTuple

from probe.config.registry import Municipality, Registry, orgnr_is_valid

ReadbackKind = Literal["static", "maskinporten"]


@dataclasses.dataclass(frozen=True, slots=True)
class VendorSpec:
    """A fictional vendor of a receiving system (fagsystem) and how its read-back API is reached."""

    id: str
    name: str
    # ``None``: the vendor has no read-back API (Kanari's final portal hop is then ``receipted``).
    readback: ReadbackKind | None
    # The Maskinporten scope its read-back API requires (``readback == "maskinporten"`` only).
    scope: str | None = None


VENDORS: tuple[VendorSpec, ...] = (
    VendorSpec("fjordsys", "Fjordsystemer AS", "static"),
    VendorSpec("nordlys", "Nordlys Fagdata AS", "maskinporten", "nordlys:kanari.read"),
    VendorSpec("vidde", "Viddeverk AS", "static"),
    VendorSpec("kystdata", "Kystdata Barnevern AS", "static"),
    VendorSpec("papirlos", "Papirløs Saksbehandling AS", None),
)
VENDORS_BY_ID = {vendor.id: vendor for vendor in VENDORS}

# Share of the municipalities without a fixed vendor, in percent; the order is part of the contract.
VENDOR_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("fjordsys", 30),
    ("nordlys", 25),
    ("vidde", 20),
    ("kystdata", 15),
    ("papirlos", 10),
)
IMPORTS_ALTINN_PERCENT = 25
# The report versions of KS's bekymringsmelding API; an office supporting one supports every older one.
NEWEST_VERSION = 2
LEGACY_VERSION = 1
LEGACY_VERSION_PERCENT = 15
# City offices whose fagsystem supports only version 1, by (kommunenummer, bydelsnummer).
_LEGACY_CITY_OFFICES = frozenset({("0301", "03"), ("5001", "04")})


class Bydel(NamedTuple):
    """One receiving office, as KS's ``bydeler`` answer lists it; ``stottet_versjon`` is the newest
    report version its fagsystem accepts."""

    bydelsnummer: str
    bydelsnavn: str
    standard_mottaker: bool
    stottet_versjon: int = NEWEST_VERSION


def stottet_versjon_value(bydel: Bydel) -> int:
    """``stottetVersjon`` as KS's kommune-api v2 serves it. KS documents the field but not its type; the
    sandbox assumes an integer (``2``), and this is the one place that says so. (The probe reads an
    integer, a digit string or ``"v2"`` alike, :func:`probe.channels.ks_directory.supported_version`.)"""
    return bydel.stottet_versjon


def version_number(version: str) -> int:
    """The number of an API or report version: ``"v2"`` is 2."""
    return int(version.removeprefix("v"))


@dataclasses.dataclass(frozen=True, slots=True)
class Assignment:
    """A municipality's place in the sandbox world."""

    kommunenummer: str
    vendor_id: str
    bydeler: tuple[Bydel, ...]
    imports_altinn: bool
    # The registry's organisation number, or :func:`placeholder_orgnr` when it has none.
    orgnr: str
    orgnr_is_placeholder: bool

    @property
    def default_bydel(self) -> Bydel:
        """The office that receives when a sender names none (``standardMottaker``)."""
        return next(bydel for bydel in self.bydeler if bydel.standard_mottaker)


def _offices(kommunenummer: str, default: str, names: list[str]) -> tuple[Bydel, ...]:
    offices = []
    for index, name in enumerate(names, 1):
        number = f"{index:02d}"
        legacy = (kommunenummer, number) in _LEGACY_CITY_OFFICES
        offices.append(Bydel(number, name, number == default, LEGACY_VERSION if legacy else NEWEST_VERSION))
    return tuple(offices)


# Oslo's fifteen bydeler (the real ones); the other cities' offices are plausible, not authoritative.
_CITIES: dict[str, tuple[str, tuple[Bydel, ...]]] = {
    "0301": (
        "fjordsys",
        _offices(
            "0301",
            "01",
            [
                "Gamle Oslo",
                "Grünerløkka",
                "Sagene",
                "St. Hanshaugen",
                "Frogner",
                "Ullern",
                "Vestre Aker",
                "Nordre Aker",
                "Bjerke",
                "Grorud",
                "Stovner",
                "Alna",
                "Østensjø",
                "Nordstrand",
                "Søndre Nordstrand",
            ],
        ),
    ),
    "4601": (
        "nordlys",
        _offices(
            "4601",
            "02",
            ["Arna", "Bergenhus", "Fana", "Fyllingsdalen", "Laksevåg", "Ytrebygda", "Årstad", "Åsane"],
        ),
    ),
    "5001": ("vidde", _offices("5001", "01", ["Midtbyen", "Østbyen", "Lerkendal", "Heimdal"])),
    "1103": (
        "kystdata",
        _offices("1103", "01", ["Eiganes og Tasta", "Hillevåg og Hinna", "Madla og Hundvåg"]),
    ),
}


def placeholder_orgnr(kommunenummer: str) -> str:
    """A sandbox-only organisation number for a municipality the registry has none for:
    ``999<kommunenummer><filler><check digit>``, valid modulus 11, distinct per municipality. It is not
    the municipality's real number; never send to it outside the sandbox."""
    for filler in range(10):
        stem = f"999{kommunenummer}{filler}"
        for check in range(10):
            if orgnr_is_valid(stem + str(check)):
                return stem + str(check)
    raise AssertionError("some filler digit always gives a valid check digit")  # pragma: no cover


def _digest(kommunenummer: str) -> int:
    return int.from_bytes(hashlib.sha256(f"kanari-sandbox:{kommunenummer}".encode()).digest()[:8], "big")


def _weighted_vendor(bucket: int) -> str:
    for vendor_id, weight in VENDOR_WEIGHTS:
        if bucket < weight:
            return vendor_id
        bucket -= weight
    raise AssertionError("VENDOR_WEIGHTS must add up to 100")  # pragma: no cover


def assign(municipality: Municipality) -> Assignment:
    """The municipality's vendor, offices, Altinn import and organisation number (pure and stable)."""
    digest = _digest(municipality.kommunenummer)
    city = _CITIES.get(municipality.kommunenummer)
    if city is not None:
        vendor_id, bydeler = city
    else:
        vendor_id = _weighted_vendor(digest % 100)
        legacy = (digest >> 32) % 100 < LEGACY_VERSION_PERCENT
        bydeler = (Bydel("00", municipality.name, True, LEGACY_VERSION if legacy else NEWEST_VERSION),)
    has_readback = VENDORS_BY_ID[vendor_id].readback is not None
    imports_altinn = has_readback and (digest >> 16) % 100 < IMPORTS_ALTINN_PERCENT
    placeholder = not municipality.orgnr
    return Assignment(
        kommunenummer=municipality.kommunenummer,
        vendor_id=vendor_id,
        bydeler=bydeler,
        imports_altinn=imports_altinn,
        orgnr=placeholder_orgnr(municipality.kommunenummer) if placeholder else municipality.orgnr,
        orgnr_is_placeholder=placeholder,
    )


def assign_all(registry: Registry) -> dict[str, Assignment]:
    """:func:`assign` for every municipality of ``registry``, by kommunenummer."""
    return {municipality.kommunenummer: assign(municipality) for municipality in registry}
