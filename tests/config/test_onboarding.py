"""``probe.config.onboarding``: the planned file passes the same checks as ``config check``, refusals say
what ``config check`` would, and nothing is ever overwritten."""

from __future__ import annotations

import pytest
import yaml

from probe.config.onboarding import OnboardingRefusedError, OnboardRequest, plan, render_file, write
from probe.config.registry import Municipality
from probe.hops import Channel
from tests.config.conftest import ConfigDir


def refusal(valid_config: ConfigDir, request: OnboardRequest) -> list[str]:
    with pytest.raises(OnboardingRefusedError) as refused:
        plan(valid_config.path, request, valid_config.environ)
    return [error.render() for error in refused.value.errors]


def test_the_written_file_is_valid_and_prefilled_from_the_registry(valid_config: ConfigDir) -> None:
    planned = plan(valid_config.path, OnboardRequest("5001", "fjordsys"), valid_config.environ)
    assert planned.path == valid_config.path / "municipalities/5001-trondheim-traaante.yaml"
    assert planned.channels == (Channel.PORTAL, Channel.ALTINN)
    write(planned)
    data = yaml.safe_load(planned.path.read_text(encoding="utf-8"))
    assert data == {
        "kommunenummer": "5001",
        "name": "Trondheim - Tråante",
        "vendor": "fjordsys",
        "channels": {"portal": {}, "altinn": {}},
    }
    assert 'kommunenummer: "5001"' in planned.text  # quoted, so YAML keeps it text
    assert "# bydel:" in planned.text
    assert "# contacts:" in planned.text
    result = valid_config.check()
    assert result.errors == []
    assert result.config is not None
    assert {route.name for route in result.config.routes} >= {"portal/5001", "altinn/5001"}


def test_contacts_and_channels_as_asked(valid_config: ConfigDir) -> None:
    request = OnboardRequest(
        "0301", "plain", (Channel.PORTAL,), contact_emails=("vakt@oslo.example",), contact_name="Vakt"
    )
    (valid_config.path / "municipalities/0301-oslo.yaml").unlink()
    planned = plan(valid_config.path, request, valid_config.environ)
    write(planned)
    data = yaml.safe_load(planned.path.read_text(encoding="utf-8"))
    assert data["channels"] == {"portal": {}}
    assert data["contacts"] == [{"name": "Vakt", "email": "vakt@oslo.example"}]
    assert valid_config.check().errors == []


def test_registry_without_organisation_number_needs_one_for_altinn(valid_config: ConfigDir) -> None:
    assert refusal(valid_config, OnboardRequest("1580", "plain")) == [
        "command line: --organisasjonsnummer: the altinn channel addresses the municipality by organisation "
        "number, and the registry has none for Haram; fix: give --organisasjonsnummer NNNNNNNNN (from "
        "Enhetsregisteret), or --channels portal"
    ]
    planned = plan(
        valid_config.path,
        OnboardRequest("1580", "plain", organisasjonsnummer="999158005"),
        valid_config.environ,
    )
    write(planned)
    assert yaml.safe_load(planned.path.read_text())["organisasjonsnummer"] == "999158005"
    result = valid_config.check()
    assert result.errors == []
    portal_only = OnboardRequest("1580", "plain", (Channel.PORTAL,))
    planned.path.unlink()
    assert "organisasjonsnummer" not in yaml.safe_load(
        plan(valid_config.path, portal_only, valid_config.environ).text
    )


def test_unknown_kommunenummer_and_vendor_with_the_messages_of_config_check(valid_config: ConfigDir) -> None:
    assert refusal(valid_config, OnboardRequest("3001", "fjordsis")) == [
        "command line: KOMMUNENUMMER: not in the national registry (357 municipalities, "
        "probe/config/data/kommuner-2024.csv); 3001 is an earlier number (value: '3001'); fix: it is now "
        "3101 Halden: kanari onboard 3101 --vendor ID",
        "command line: --vendor: unknown vendor: not in vendors.yaml (value: 'fjordsis'); fix: did you mean "
        "'fjordsys'? (the vendors are fjordsys, plain)",
    ]


def test_a_kommunenummer_without_its_leading_zero(valid_config: ConfigDir) -> None:
    assert refusal(valid_config, OnboardRequest("301", "plain")) == [
        "command line: KOMMUNENUMMER: must be four digits (value: '301'); fix: did you mean 0301 (Oslo)? a "
        "kommunenummer keeps its leading zero"
    ]


def test_wrong_organisation_number(valid_config: ConfigDir) -> None:
    assert refusal(valid_config, OnboardRequest("5001", "plain", organisasjonsnummer="942110465")) == [
        "command line: --organisasjonsnummer: not an organisation number: the check digit is wrong "
        "(value: '942110465'); fix: the registry has 942110464 for Trondheim - Tråante: use it, or leave "
        "--organisasjonsnummer out"
    ]


def test_never_overwrites_nor_adds_a_second_file(valid_config: ConfigDir) -> None:
    assert refusal(valid_config, OnboardRequest("4601", "fjordsys")) == [
        "municipalities/4601-bergen.yaml: kommunenummer: Bergen is already onboarded by this file "
        "(value: '4601'); fix: edit that file instead; kanari onboard never overwrites"
    ]
    # A file with another name still counts when it onboards the same number.
    (valid_config.path / "municipalities/0301-oslo.yaml").rename(
        valid_config.path / "municipalities/oslo.yaml"
    )
    assert refusal(valid_config, OnboardRequest("0301", "plain"))[0].startswith(
        "municipalities/oslo.yaml: kommunenummer: Oslo is already onboarded by this file"
    )


def test_write_refuses_a_file_created_meanwhile(valid_config: ConfigDir) -> None:
    planned = plan(valid_config.path, OnboardRequest("5001", "plain"), valid_config.environ)
    planned.path.write_text("# someone else's\n")
    with pytest.raises(OnboardingRefusedError, match="exists; kanari onboard never overwrites"):
        write(planned)
    assert planned.path.read_text() == "# someone else's\n"


def test_channel_not_configured_and_bad_contact(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "    resource_id", "    enabled: false\n    resource_id")
    request = OnboardRequest("5001", "plain", (Channel.ALTINN,), contact_emails=("nobody",))
    assert refusal(valid_config, request) == [
        "command line: --channels: the altinn channel is not configured (or is disabled) in kanari.yaml "
        "(value: 'altinn'); fix: use portal",
        "command line: --contact-email: not an e-mail address (value: 'nobody'); fix: e.g. vakt@example.no",
    ]


def test_an_unusable_kanari_yaml_is_reported_not_guessed_around(valid_config: ConfigDir) -> None:
    valid_config.write("kanari.yaml", "instance: [\n")
    problems = refusal(valid_config, OnboardRequest("5001", "plain"))
    assert problems[0].startswith("kanari.yaml:2: (yaml): malformed YAML")


def test_names_needing_quotes_are_quoted() -> None:
    odd = Municipality("9901", "Ja: nei", "99", "Test", "")
    data = yaml.safe_load(render_file(odd, "plain", [Channel.PORTAL], None, []))
    assert data["name"] == "Ja: nei"


def test_the_first_municipality_creates_the_directory(valid_config: ConfigDir) -> None:
    for path in (valid_config.path / "municipalities").iterdir():
        path.unlink()
    (valid_config.path / "municipalities").rmdir()
    planned = plan(valid_config.path, OnboardRequest("4601", "fjordsys"), valid_config.environ)
    write(planned)
    assert valid_config.check().errors == []
