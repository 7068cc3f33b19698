"""The national registry of municipalities.

The registry is data, not code: a CSV file with one row per municipality (kommunenummer, name, county,
organisation number). The package ships the 2024 numbering (357 municipalities); when municipalities merge,
split or are renumbered, the operations centre drops in a new file and points ``registry:`` in
``kanari.yaml`` at it (see ``docs/operations.md``). Nothing in the code lists municipalities.

Columns: ``kommunenummer,kommunenavn,fylkesnummer,fylkesnavn,orgnr,kommunenummer_2020_2023,note``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from probe.errors import ConfigError

KOMMUNENUMMER_PATTERN = re.compile(r"^\d{4}$")
ORGNR_PATTERN = re.compile(r"^\d{9}$")
REQUIRED_COLUMNS = ("kommunenummer", "kommunenavn", "fylkesnummer", "fylkesnavn", "orgnr")
PACKAGED_REGISTRY = "kommuner-2024.csv"

# Weights of the modulus-11 check digit of Norwegian organisation numbers (Enhetsregisteret).
_ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def orgnr_is_valid(orgnr: str) -> bool:
    """True if ``orgnr`` is nine digits with a correct modulus-11 check digit."""
    if not ORGNR_PATTERN.match(orgnr):
        return False
    remainder = sum(int(digit) * weight for digit, weight in zip(orgnr, _ORGNR_WEIGHTS, strict=False)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and check == int(orgnr[8])


@dataclasses.dataclass(frozen=True, slots=True)
class Municipality:
    """One municipality as the registry knows it. ``orgnr`` is empty when the registry has none."""

    kommunenummer: str
    name: str
    county_number: str
    county: str
    orgnr: str
    previous_kommunenummer: str = ""
    note: str = ""

    @property
    def slug(self) -> str:
        """File-name form of the name: ``Trondheim - Tråante`` becomes ``trondheim-traaante``."""
        return slugify(self.name)


_ASCII = str.maketrans(
    {"æ": "ae", "ø": "o", "å": "aa", "á": "a", "š": "s", "ŋ": "n", "č": "c", "đ": "d", "ž": "z", "ŧ": "t"}
)


def slugify(name: str) -> str:
    """Lower-case ASCII slug of a Norwegian (or Sámi) place name, for file names."""
    translated = name.lower().translate(_ASCII)
    return re.sub(r"[^a-z0-9]+", "-", translated).strip("-")


class Registry:
    """All municipalities of one numbering, looked up by kommunenummer or organisation number."""

    def __init__(self, municipalities: list[Municipality], source: str) -> None:
        self.source = source
        self._by_number = {municipality.kommunenummer: municipality for municipality in municipalities}
        self._by_orgnr = {m.orgnr: m for m in municipalities if m.orgnr}

    def __len__(self) -> int:
        return len(self._by_number)

    def __iter__(self) -> Iterator[Municipality]:
        return iter(sorted(self._by_number.values(), key=lambda m: m.kommunenummer))

    def __contains__(self, kommunenummer: object) -> bool:
        return kommunenummer in self._by_number

    def get(self, kommunenummer: str) -> Municipality | None:
        """The municipality with this kommunenummer, or ``None``."""
        return self._by_number.get(kommunenummer)

    def __getitem__(self, kommunenummer: str) -> Municipality:
        return self._by_number[kommunenummer]

    def by_orgnr(self, orgnr: str) -> Municipality | None:
        """The municipality with this organisation number, or ``None``."""
        return self._by_orgnr.get(orgnr)

    @classmethod
    def load(cls, path: Path) -> Registry:
        """Read a registry file; every malformed row is reported at once as :class:`ConfigError`."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(str(path), "registry", str(path), f"cannot read: {error.strerror}") from error
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, source: str) -> Registry:
        """Parse registry CSV text; ``source`` names it in errors."""
        reader = csv.DictReader(text.splitlines())
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(
                source,
                "header",
                reader.fieldnames,
                f"missing columns {', '.join(missing)}",
                "the first line must name the columns " + ",".join(REQUIRED_COLUMNS),
            )
        municipalities: list[Municipality] = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            municipality = _row_to_municipality(row, source, line)
            if municipality.kommunenummer in seen:
                raise ConfigError(
                    f"{source}:{line}", "kommunenummer", municipality.kommunenummer, "listed twice"
                )
            seen.add(municipality.kommunenummer)
            municipalities.append(municipality)
        return cls(municipalities, source)


def _row_to_municipality(row: dict[str, str], source: str, line: int) -> Municipality:
    where = f"{source}:{line}"
    number = (row.get("kommunenummer") or "").strip()
    if not KOMMUNENUMMER_PATTERN.match(number):
        raise ConfigError(where, "kommunenummer", number, "must be four digits")
    orgnr = (row.get("orgnr") or "").strip()
    if orgnr and not orgnr_is_valid(orgnr):
        raise ConfigError(where, "orgnr", orgnr, "not a valid organisation number (check digit)")
    name = (row.get("kommunenavn") or "").strip()
    if not name:
        raise ConfigError(where, "kommunenavn", name, "must not be empty")
    return Municipality(
        kommunenummer=number,
        name=name,
        county_number=(row.get("fylkesnummer") or "").strip(),
        county=(row.get("fylkesnavn") or "").strip(),
        orgnr=orgnr,
        previous_kommunenummer=(row.get("kommunenummer_2020_2023") or "").strip(),
        note=(row.get("note") or "").strip(),
    )


@functools.cache
def packaged_registry() -> Registry:
    """The registry shipped with the package (2024 numbering, 357 municipalities)."""
    resource = resources.files("probe.config").joinpath("data", PACKAGED_REGISTRY)
    return Registry.parse(resource.read_text(encoding="utf-8"), f"probe/config/data/{PACKAGED_REGISTRY}")
