from __future__ import annotations

import csv

import pytest

from probe.config.registry import Registry, orgnr_is_valid, packaged_registry, slugify
from probe.errors import ConfigError
from tests.conftest import SHARED


def test_packaged_registry_matches_the_2024_list() -> None:
    registry = packaged_registry()
    with (SHARED / "data" / "kommuner-2024.csv").open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    assert len(registry) == len(rows) == 357
    for row in rows:
        municipality = registry[row["kommunenummer"]]
        assert municipality.name == row["kommunenavn"]
        assert municipality.county_number == row["fylkesnummer"]
        assert municipality.orgnr == row["orgnr"]
        assert municipality.county


def test_lookup_by_orgnr_and_iteration_order() -> None:
    registry = packaged_registry()
    bergen = registry.by_orgnr("964338531")
    assert bergen is not None
    assert bergen.name == "Bergen"
    numbers = [m.kommunenummer for m in registry]
    assert numbers == sorted(numbers)
    assert registry["1580"].orgnr == ""


@pytest.mark.parametrize(
    ("orgnr", "valid"),
    [("964338531", True), ("964338532", False), ("12345678", False), ("abcdefghi", False)],
)
def test_orgnr_check_digit(orgnr: str, valid: bool) -> None:
    assert orgnr_is_valid(orgnr) is valid


def test_slug() -> None:
    assert slugify("Trondheim - Tråante") == "trondheim-traaante"
    assert slugify("Ålesund") == "aalesund"
    assert slugify("Porsanger - Porsáŋgu - Porsanki") == "porsanger-porsangu-porsanki"


def test_bad_rows_name_file_line_field_and_value() -> None:
    header = "kommunenummer,kommunenavn,fylkesnummer,fylkesnavn,orgnr\n"
    with pytest.raises(ConfigError) as error:
        Registry.parse(header + "461,Bergen,46,Vestland,964338531\n", "new.csv")
    assert str(error.value) == "new.csv:2: kommunenummer: must be four digits (value: '461')"
    with pytest.raises(ConfigError) as error:
        Registry.parse(header + "4601,Bergen,46,Vestland,964338532\n", "new.csv")
    assert "new.csv:2: orgnr" in str(error.value)
    assert "'964338532'" in str(error.value)
    with pytest.raises(ConfigError, match="missing columns orgnr"):
        Registry.parse("kommunenummer,kommunenavn,fylkesnummer,fylkesnavn\n", "new.csv")
    with pytest.raises(ConfigError, match="listed twice"):
        Registry.parse(header + "4601,Bergen,46,V,\n4601,Bergen,46,V,\n", "new.csv")


def test_every_bad_row_is_reported_when_collecting() -> None:
    header = "kommunenummer,kommunenavn,fylkesnummer,fylkesnavn,orgnr\n"
    errors: list[ConfigError] = []
    registry = Registry.parse(
        header + "461,Bergen,46,Vestland,964338531\n4601,,46,Vestland,\n4627,Askøy,46,Vestland,964338442\n"
        "4627,Askøy,46,Vestland,\n4628,Vaksdal,46,Vestland,964338442\n",
        "new.csv",
        errors,
    )
    assert [error.render() for error in errors] == [
        "new.csv:2: kommunenummer: must be four digits (value: '461')",
        "new.csv:3: kommunenavn: must not be empty (value: '')",
        "new.csv:5: kommunenummer: listed twice (also on line 4) (value: '4627'); fix: keep one row per "
        "municipality",
        "new.csv:6: orgnr: the same organisation number is on line 4 (value: '964338442'); fix: each "
        "municipality has its own; check Enhetsregisteret",
    ]
    assert [m.kommunenummer for m in registry] == ["4627", "4628"]


def test_a_spreadsheet_export_with_bom_and_semicolons_is_read() -> None:
    text = (
        "\ufeffkommunenummer;kommunenavn;fylkesnummer;fylkesnavn;orgnr\n4601;Bergen;46;Vestland;964338531\n"
    )
    assert Registry.parse(text, "excel.csv")["4601"].county == "Vestland"


def test_earlier_numbers_from_both_columns() -> None:
    text = (
        "kommunenummer,kommunenavn,fylkesnummer,fylkesnavn,orgnr,kommunenummer_2020_2023,previous_kommunenummer\n"
        "4699,Bergen,46,Vestland,964338531,4601,1201\n"
        "1508,Ålesund,15,Møre og Romsdal,,1507,\n"
        "1580,Haram,15,Møre og Romsdal,,,1507\n"
    )
    registry = Registry.parse(text, "future.csv")
    assert registry["4699"].previous_numbers == ("4601", "1201")
    assert [m.name for m in registry.successors("1507")] == ["Ålesund", "Haram"]
    assert [m.kommunenummer for m in registry.named("bergen")] == ["4699"]


def test_packaged_registry_knows_the_2020_2023_numbers() -> None:
    registry = packaged_registry()
    assert [m.kommunenummer for m in registry.successors("3001")] == ["3101"]
    assert registry.successors("4601") == []  # unchanged numbers are not "earlier" numbers
