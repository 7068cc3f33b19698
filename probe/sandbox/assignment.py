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


class Bydel(NamedTuple):
    """One receiving office, as KS's ``bydeler`` answer lists it."""

    bydelsnummer: str
    bydelsnavn: str
    standard_mottaker: bool


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


def _offices(default: str, names: list[str]) -> tuple[Bydel, ...]:
    return tuple(
        Bydel(f"{number:02d}", name, f"{number:02d}" == default) for number, name in enumerate(names, 1)
    )


# Oslo's fifteen bydeler (the real ones); the other cities' offices are plausible, not authoritative.
_CITIES: dict[str, tuple[str, tuple[Bydel, ...]]] = {
    "0301": (
        "fjordsys",
        _offices(
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
            "02", ["Arna", "Bergenhus", "Fana", "Fyllingsdalen", "Laksevåg", "Ytrebygda", "Årstad", "Åsane"]
        ),
    ),
    "5001": ("vidde", _offices("01", ["Midtbyen", "Østbyen", "Lerkendal", "Heimdal"])),
    "1103": ("kystdata", _offices("01", ["Eiganes og Tasta", "Hillevåg og Hinna", "Madla og Hundvåg"])),
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
        bydeler = (Bydel("00", municipality.name, True),)
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
