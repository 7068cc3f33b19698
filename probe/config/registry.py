"""The national registry of municipalities.

The registry is data, not code: a CSV file with one row per municipality (kommunenummer, name, county,
organisation number). The package ships the 2024 numbering (357 municipalities); when municipalities merge,
split or are renumbered, the operations centre drops in a new file and points ``registry:`` in
``kanari.yaml`` at it (see ``docs/registry.md``). Nothing in the code lists municipalities.

Columns: ``kommunenummer,kommunenavn,fylkesnummer,fylkesnavn,orgnr`` (required), then optionally
``kommunenummer_2020_2023`` and ``previous_kommunenummer`` (earlier numbers, so a file still using one is
told the new number) and ``note``.
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
# Optional columns naming earlier numbers: the packaged file's 2020-2023 column, and a general one for
# later reforms (several numbers separated by spaces or ';' when municipalities merged).
PREVIOUS_COLUMNS = ("kommunenummer_2020_2023", "previous_kommunenummer")
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
    # Every earlier kommunenummer that is not this one (from ``kommunenummer_2020_2023`` and
    # ``previous_kommunenummer``): the numbers whose files must be renamed to this one.
    previous_numbers: tuple[str, ...] = ()

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

    def successors(self, kommunenummer: str) -> list[Municipality]:
        """The municipalities that once had ``kommunenummer`` (renumbered: one; split: several)."""
        return [m for m in self if kommunenummer in m.previous_numbers]

    def named(self, name: str) -> list[Municipality]:
        """The municipalities called ``name`` (ignoring case; Herøy and Våler are two each)."""
        wanted = name.strip().casefold()
        return [m for m in self if m.name.casefold() == wanted]

    @classmethod
    def load(cls, path: Path, errors: list[ConfigError] | None = None) -> Registry:
        """Read a registry file. Malformed rows raise :class:`ConfigError` (the first), or, when
        ``errors`` is given, are all appended to it and left out."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            problem = ConfigError(
                str(path),
                "registry",
                str(path),
                f"cannot read the registry file: {reason}",
                "check registry: in kanari.yaml (relative paths are resolved against the configuration "
                "directory); see docs/registry.md",
            )
            if errors is None:
                raise problem from error
            errors.append(problem)
            return cls([], str(path))
        return cls.parse(text, str(path), errors)

    @classmethod
    def parse(cls, text: str, source: str, errors: list[ConfigError] | None = None) -> Registry:
        """Parse registry CSV text; ``source`` names it in errors. See :meth:`load` for ``errors``."""
        problems: list[ConfigError] = []
        # A spreadsheet may save the file with a byte-order mark, or (in Norwegian locales) with ';'.
        lines = text.removeprefix("\ufeff").splitlines()
        header = lines[0] if lines else ""
        delimiter = ";" if ";" in header and "," not in header else ","
        reader = csv.DictReader(lines, delimiter=delimiter)
        missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            problems.append(
                ConfigError(
                    f"{source}:1",
                    "header",
                    reader.fieldnames,
                    f"missing columns {', '.join(missing)}",
                    "the first line must name the columns " + ",".join(REQUIRED_COLUMNS),
                )
            )
            return cls._finish([], source, problems, errors)
        municipalities: list[Municipality] = []
        numbers: dict[str, int] = {}
        orgnrs: dict[str, int] = {}
        for line, row in enumerate(reader, start=2):
            municipality = _row_to_municipality(row, f"{source}:{line}", problems)
            if municipality is None:
                continue
            if municipality.kommunenummer in numbers:
                problems.append(
                    ConfigError(
                        f"{source}:{line}",
                        "kommunenummer",
                        municipality.kommunenummer,
                        f"listed twice (also on line {numbers[municipality.kommunenummer]})",
                        "keep one row per municipality",
                    )
                )
                continue
            if municipality.orgnr and municipality.orgnr in orgnrs:
                problems.append(
                    ConfigError(
                        f"{source}:{line}",
                        "orgnr",
                        municipality.orgnr,
                        f"the same organisation number is on line {orgnrs[municipality.orgnr]}",
                        "each municipality has its own; check Enhetsregisteret",
                    )
                )
            numbers[municipality.kommunenummer] = line
            if municipality.orgnr:
                orgnrs.setdefault(municipality.orgnr, line)
            municipalities.append(municipality)
        if not municipalities and not problems:
            problems.append(ConfigError(source, "(file)", None, "lists no municipalities"))
        return cls._finish(municipalities, source, problems, errors)

    @classmethod
    def _finish(
        cls,
        municipalities: list[Municipality],
        source: str,
        problems: list[ConfigError],
        errors: list[ConfigError] | None,
    ) -> Registry:
        if errors is None:
            if problems:
                raise problems[0]
        else:
            errors.extend(problems)
        return cls(municipalities, source)


def _row_to_municipality(row: dict[str, str], where: str, problems: list[ConfigError]) -> Municipality | None:
    number = (row.get("kommunenummer") or "").strip()
    if not KOMMUNENUMMER_PATTERN.match(number):
        problems.append(ConfigError(where, "kommunenummer", number, "must be four digits"))
        return None
    orgnr = (row.get("orgnr") or "").strip()
    if orgnr and not orgnr_is_valid(orgnr):
        problems.append(
            ConfigError(
                where,
                "orgnr",
                orgnr,
                "not a valid organisation number (check digit)",
                "copy it from Enhetsregisteret, or leave it empty",
            )
        )
        return None
    name = (row.get("kommunenavn") or "").strip()
    if not name:
        problems.append(ConfigError(where, "kommunenavn", name, "must not be empty"))
        return None
    previous: list[str] = []
    for column in PREVIOUS_COLUMNS:
        for earlier in re.split(r"[\s;|]+", (row.get(column) or "").strip()):
            if not earlier:
                continue
            if not KOMMUNENUMMER_PATTERN.match(earlier):
                problems.append(ConfigError(where, column, earlier, "must be four-digit kommunenummer"))
            elif earlier != number and earlier not in previous:
                previous.append(earlier)
    return Municipality(
        kommunenummer=number,
        name=name,
        county_number=(row.get("fylkesnummer") or "").strip(),
        county=(row.get("fylkesnavn") or "").strip(),
        orgnr=orgnr,
        previous_kommunenummer=(row.get("kommunenummer_2020_2023") or "").strip(),
        note=(row.get("note") or "").strip(),
        previous_numbers=tuple(previous),
    )


@functools.cache
def packaged_registry() -> Registry:
    """The registry shipped with the package (2024 numbering, 357 municipalities)."""
    resource = resources.files("probe.config").joinpath("data", PACKAGED_REGISTRY)
    return Registry.parse(resource.read_text(encoding="utf-8"), f"probe/config/data/{PACKAGED_REGISTRY}")
