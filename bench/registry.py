"""A synthetic national registry for the benchmark: the 357 real municipalities, then made-up ones.

A route is (channel, municipality) and there are two channels, so N routes need N/2 municipalities:
10 000 for N = 20 000. A kommunenummer is four digits, so there are exactly 10 000 of them (``0000`` to
``9999``), which is just enough: the registry model needs no relaxation. The real municipalities keep
their real rows (so the 714-route run is the production registry), and every unused four-digit number,
in ascending order, becomes a synthetic municipality named ``Syntetisk NNNN`` in a synthetic county
``99``. Synthetic rows have no organisation number, so the sandbox gives each its placeholder
(:func:`probe.sandbox.assignment.placeholder_orgnr`: ``999`` + kommunenummer + filler + check digit),
which is valid modulo 11 and distinct per municipality.

The file is generated, written next to the benchmark's other state and read back with the product's own
parser (:meth:`probe.config.registry.Registry.load`), by the sandbox and by Kanari alike.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from probe.config.registry import Registry, packaged_registry

MAX_MUNICIPALITIES = 10_000
SYNTHETIC_COUNTY = ("99", "Syntetisk fylke")
COLUMNS = ("kommunenummer", "kommunenavn", "fylkesnummer", "fylkesnavn", "orgnr", "note")


def registry_csv(municipalities: int) -> str:
    """The registry text with ``municipalities`` rows: every real one first, then synthetic ones."""
    if not 1 <= municipalities <= MAX_MUNICIPALITIES:
        raise ValueError(f"between 1 and {MAX_MUNICIPALITIES} municipalities (four-digit numbers)")
    real = list(packaged_registry())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for municipality in real[:municipalities]:
        writer.writerow(
            (
                municipality.kommunenummer,
                municipality.name,
                municipality.county_number,
                municipality.county,
                municipality.orgnr,
                "",
            )
        )
    taken = {municipality.kommunenummer for municipality in real}
    missing = municipalities - min(municipalities, len(real))
    for number in range(MAX_MUNICIPALITIES):
        if missing <= 0:
            break
        kommunenummer = f"{number:04d}"
        if kommunenummer in taken:
            continue
        writer.writerow((kommunenummer, f"Syntetisk {kommunenummer}", *SYNTHETIC_COUNTY, "", "benchmark"))
        missing -= 1
    return out.getvalue()


def write_registry(path: Path, municipalities: int) -> Registry:
    """Write the registry file for ``municipalities`` and return it as the product parses it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(registry_csv(municipalities), encoding="utf-8")
    return Registry.load(path)
