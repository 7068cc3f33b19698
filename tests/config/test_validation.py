"""Every rule of ``kanari config check``: the bad input, and the exact message naming the file (with the
line), the field, the value as written and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.config.loader import check_config
from tests.config.conftest import (
    BERGEN,
    BUSINESS_CERTIFICATE_YAML,
    KANARI_YAML,
    OSLO,
    VENDORS_YAML,
    ConfigDir,
)

REGISTRY = "357 municipalities, probe/config/data/kommuner-2024.csv"
TIMING_FIX = "poll more often (normal_latency is the slowest delivery a healthy route shows)"


def only(config: ConfigDir, **environ: str) -> str:
    """The single problem ``config`` has."""
    problems = config.problems(**environ)
    assert len(problems) == 1, problems
    return problems[0]


def municipality(number: str, name: str, vendor: str = "plain", channels: str = "{portal: {}}") -> str:
    return f'kommunenummer: "{number}"\nname: {name}\nvendor: {vendor}\nchannels: {channels}\n'


# ---- the registry ------------------------------------------------------------------------------------


def test_unknown_kommunenummer(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/9999-x.yaml", municipality("9999", "X"))
    assert only(valid_config) == (
        f"municipalities/9999-x.yaml:1: kommunenummer: not in the national registry ({REGISTRY}) "
        "(value: '9999'); fix: use the municipality's current four-digit number (SSB, klass 131)"
    )


def test_renumbered_kommunenummer_says_what_it_is_now(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/3001-halden.yaml", municipality("3001", "Halden"))
    assert only(valid_config) == (
        f"municipalities/3001-halden.yaml:1: kommunenummer: not in the national registry ({REGISTRY}); "
        "3001 is an earlier number (value: '3001'); fix: it is now 3101 Halden: set kommunenummer: '3101' "
        "and name the file 3101-halden.yaml"
    )


def test_unknown_kommunenummer_with_a_registry_name_names_its_numbers(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/1599-heroy.yaml", municipality("1599", "Herøy"))
    assert only(valid_config).endswith(
        "(value: '1599'); fix: the registry lists Herøy as 1515 (Møre og Romsdal) and 1818 (Nordland)"
    )


def test_name_not_matching_the_registry(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "name: Bergen", "name: Bergn")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:2: name: does not match the registry's name for 4601 "
        "(value: 'Bergn'); fix: write name: Bergen"
    )


def test_organisation_number_with_a_bad_check_digit(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml", "name: Bergen", 'name: Bergen\norganisasjonsnummer: "964338532"'
    )
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:3: organisasjonsnummer: not an organisation number: the check digit "
        "is wrong (value: '964338532'); fix: the registry has 964338531 for Bergen: use it, or leave "
        "organisasjonsnummer out"
    )


def test_organisation_number_of_another_municipality(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml", "name: Bergen", 'name: Bergen\norganisasjonsnummer: "964338442"'
    )
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:3: organisasjonsnummer: does not match the registry's number for "
        "Bergen; it is Askøy's (4627) (value: '964338442'); fix: the registry has 964338531 for Bergen: use "
        "it, or leave organisasjonsnummer out"
    )


def test_organisation_number_of_the_wrong_length(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml", "name: Bergen", 'name: Bergen\norganisasjonsnummer: "96433853"'
    )
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:3: organisasjonsnummer: must be the nine-digit organisation number "
        "(value: '96433853'); fix: write it in quotes, e.g. organisasjonsnummer: '964338531' (from "
        "Enhetsregisteret)"
    )


def test_matching_organisation_number_is_accepted_and_one_missing_from_the_registry_warned(
    valid_config: ConfigDir,
) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml", "name: Bergen", 'name: Bergen\norganisasjonsnummer: "964338531"'
    )
    valid_config.write(
        "municipalities/1580-haram.yaml",
        municipality("1580", "Haram").replace("vendor", 'organisasjonsnummer: "999158005"\nvendor'),
    )
    result = valid_config.check()
    assert result.errors == []
    assert (
        "municipalities/1580-haram.yaml:3: organisasjonsnummer 999158005 is not in the registry; verify it "
        "in Enhetsregisteret" in result.warnings
    )


def test_altinn_without_an_organisation_number(valid_config: ConfigDir) -> None:
    valid_config.write(
        "municipalities/1580-haram.yaml", municipality("1580", "Haram", channels="{portal: {}, altinn: {}}")
    )
    assert only(valid_config) == (
        "municipalities/1580-haram.yaml:4: organisasjonsnummer: the altinn channel addresses the "
        "municipality "
        "by organisation number, and the registry has none for Haram; fix: add organisasjonsnummer: "
        "'<nine digits>' (Enhetsregisteret), or remove the altinn channel"
    )


# ---- vendors -----------------------------------------------------------------------------------------


def test_unknown_vendor_suggests_the_closest(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "vendor: fjordsys", "vendor: fjordsis")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:3: vendor: unknown vendor: not in vendors.yaml (value: 'fjordsis'); "
        "fix: did you mean 'fjordsys'? (the vendors are fjordsys, plain)"
    )


def test_duplicate_vendor_id(valid_config: ConfigDir) -> None:
    valid_config.write(
        "vendors.yaml",
        VENDORS_YAML + "  - id: plain\n    name: Again AS\n    alert_receiver: {email: a@b.example}\n",
    )
    assert only(valid_config) == (
        "vendors.yaml:13: vendors[2].id: duplicate vendor id: vendors[1] has it too (value: 'plain'); "
        "fix: give each vendor one entry"
    )


def test_readback_base_url_repeating_the_api_path(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "vendors.yaml", "https://readback.fjordsys.example", "https://readback.fjordsys.example/kanari/v1"
    )
    assert only(valid_config) == (
        "vendors.yaml:5: vendors[0].readback.base_url: must not include /kanari/v1: Kanari appends "
        "/kanari/v1/municipalities/... itself (value: 'https://readback.fjordsys.example/kanari/v1'); "
        "fix: use base_url: https://readback.fjordsys.example"
    )


def test_vendor_without_alert_receiver_is_a_warning(valid_config: ConfigDir) -> None:
    valid_config.edit("vendors.yaml", "    alert_receiver: {email: vakt@plain.example}\n", "")
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        "vendors.yaml:10: vendor plain has no alert_receiver; its alerts reach only the operations centre"
    ]


# ---- duplicate routes and file names -----------------------------------------------------------------


def test_two_files_for_one_municipality(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/4601-bergen-kopi.yaml", BERGEN)
    result = valid_config.check()
    assert [error.render() for error in result.errors] == [
        "municipalities/4601-bergen.yaml:1: kommunenummer: duplicate route: "
        "municipalities/4601-bergen-kopi.yaml "
        "already onboards this municipality (value: '4601'); fix: keep one file per municipality: merge the "
        "two and delete this one"
    ]
    assert (
        "municipalities/4601-bergen-kopi.yaml: the file name does not follow the registry's name: "
        "4601-bergen.yaml" in result.warnings
    )


def test_file_name_not_matching_its_kommunenummer(valid_config: ConfigDir) -> None:
    (valid_config.path / "municipalities/4601-bergen.yaml").rename(
        valid_config.path / "municipalities/4602-kinn.yaml"
    )
    assert only(valid_config) == (
        "municipalities/4602-kinn.yaml:1: kommunenummer: does not match the file name 4602-kinn.yaml "
        "(value: '4601'); fix: correct kommunenummer, or rename the file to 4601-bergen.yaml"
    )


def test_file_name_without_the_kommunenummer(valid_config: ConfigDir) -> None:
    (valid_config.path / "municipalities/4601-bergen.yaml").rename(
        valid_config.path / "municipalities/bergen.yaml"
    )
    assert only(valid_config) == (
        "municipalities/bergen.yaml: (file name): a municipality file is named <kommunenummer>-<name>.yaml "
        "(value: 'bergen.yaml'); fix: rename it to 4601-bergen.yaml (kanari onboard names files this way)"
    )


def test_files_that_are_not_yaml_are_named_as_not_read(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/5001-trondheim.yaml.orig", municipality("5001", "Trondheim - Tråante"))
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        "municipalities/5001-trondheim.yaml.orig: not read (only *.yaml and *.yml files are)"
    ]


# ---- timing and final hops ---------------------------------------------------------------------------


def test_deadline_shorter_than_normal_latency_plus_a_poll_is_reported_once(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "deadline: 30m", "deadline: 10m")
    assert only(valid_config) == (
        "kanari.yaml:20: channels.portal.deadline: shorter than the channel's normal latency (10m) plus one "
        "status poll (30s), so healthy canaries would be reported lost (value: '10m'); fix: set the deadline "
        f"to at least 10m30s, or {TIMING_FIX}"
    )


def test_deadline_without_room_for_the_readback_poll(valid_config: ConfigDir) -> None:
    # Bergen's vendor has read-back, so its portal route ends at `registered` and needs one more poll.
    valid_config.edit("kanari.yaml", "deadline: 30m", "deadline: 10m45s")
    assert only(valid_config) == (
        "kanari.yaml:20: channels.portal.deadline: shorter than the channel's normal latency (10m) plus one "
        "status poll (30s) and one read-back poll (1m), which a route ending at 'registered' needs, so "
        "healthy canaries would be reported lost (value: '10m45s'); fix: set the deadline to at least "
        f"11m30s, or {TIMING_FIX}"
    )


def test_deadline_override_in_a_municipality_file(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/0301-oslo.yaml", 'bydel: "01"', 'bydel: "01"\n    deadline: 5m')
    assert only(valid_config) == (
        "municipalities/0301-oslo.yaml:7: channels.portal.deadline: shorter than the channel's normal "
        "latency "
        "(10m) plus one status poll (30s), so healthy canaries would be reported lost (value: '5m'); fix: "
        "set "
        f"the deadline to at least 10m30s, or {TIMING_FIX}"
    )


def test_final_hop_the_channel_does_not_have_in_kanari_yaml(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "normal_latency: 4h", "normal_latency: 4h\n    final_hop: receipted")
    assert only(valid_config) == (
        "kanari.yaml:30: channels.altinn.final_hop: the altinn channel has no hop 'receipted' "
        "(value: 'receipted'); fix: use one of accepted, published, fetched, read, registered"
    )


def test_final_hop_the_channel_does_not_have_in_a_municipality_file(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "altinn: {}", "altinn: {final_hop: forwarded}")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:6: channels.altinn.final_hop: the altinn channel has no hop "
        "'forwarded' (value: 'forwarded'); fix: use one of accepted, published, fetched, read, registered"
    )


def test_final_hop_that_is_not_a_hop_suggests_one(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "altinn: {}", "altinn: {final_hop: fetchd}")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:6: channels.altinn.final_hop: Input should be 'accepted', "
        "'forwarded', 'receipted', 'published', 'fetched', 'read' or 'registered' (value: 'fetchd'); "
        "fix: did you mean 'fetched'?"
    )


def test_registered_for_a_vendor_without_readback(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/0301-oslo.yaml", 'bydel: "01"', 'bydel: "01"\n    final_hop: registered'
    )
    assert only(valid_config) == (
        "municipalities/0301-oslo.yaml:7: channels.portal.final_hop: the final hop 'registered' needs the "
        "vendor's read-back API, and vendor plain has none (value: 'registered'); fix: set "
        "channels.portal.final_hop: receipted here, or add readback for plain in vendors.yaml"
    )


def test_registered_from_kanari_yaml_for_a_vendor_without_readback(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "normal_latency: 4h", "normal_latency: 4h\n    final_hop: registered")
    valid_config.edit("municipalities/0301-oslo.yaml", 'bydel: "01"', 'bydel: "01"\n  altinn: {}')
    assert only(valid_config) == (
        "municipalities/0301-oslo.yaml:7: channels.altinn.final_hop: the final hop 'registered' (set for the "
        "altinn channel in kanari.yaml) needs the vendor's read-back API, and vendor plain has none "
        "(value: 'registered'); fix: set channels.altinn.final_hop: fetched here, or add readback for plain "
        "in vendors.yaml"
    )


# ---- channels ----------------------------------------------------------------------------------------


def test_channel_not_configured_in_kanari_yaml_is_one_error(valid_config: ConfigDir) -> None:
    valid_config.write(
        "kanari.yaml",
        KANARI_YAML.split("  altinn:")[0] + "readback:\n  poll_interval: 1m\n" + BUSINESS_CERTIFICATE_YAML,
    )
    assert only(valid_config) == (
        "kanari.yaml:13: channels.altinn: 1 municipality file(s) use the altinn channel, which kanari.yaml "
        "does not configure (first: municipalities/4601-bergen.yaml); fix: configure channels.altinn in "
        "kanari.yaml, or remove it from those files"
    )


def test_channel_disabled_in_kanari_yaml_only_skips_its_routes(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "    resource_id", "    enabled: false\n    resource_id")
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        "kanari.yaml:25: the altinn channel is disabled; 1 municipality route(s) on it are not probed"
    ]
    assert result.config is not None
    assert {route.name for route in result.config.routes} == {"portal/0301", "portal/4601"}


def test_bydel_on_the_altinn_channel(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "altinn: {}", "altinn: {bydel: '01'}")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:6: channels.altinn.bydel: only the portal channel addresses a bydel "
        "(value: '01'); fix: move it to channels.portal.bydel, or remove it"
    )


def test_no_channel(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml", "channels:\n  portal: {}\n  altinn: {}", "channels: {}"
    )
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:4: channels: no channel is listed, so nothing would be probed; "
        "fix: e.g. channels: {portal: {}, altinn: {}}"
    )


def test_channels_as_a_list(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml",
        "channels:\n  portal: {}\n  altinn: {}",
        "channels: [portal, altinn]",
    )
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:4: channels: must be a mapping of fields, not a list "
        "(value: '<list>'); fix: e.g. channels: {portal: {}, altinn: {}}"
    )


def test_channel_name_typo(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "altinn: {}", "altin: {}")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:6: channels.altin: unknown key (value: 'altin'); fix: did you mean "
        "'altinn'? the keys here are portal, altinn"
    )


def test_a_bare_channel_key_means_its_defaults(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "portal: {}", "portal:")
    result = valid_config.check()
    assert result.errors == []
    assert result.config is not None
    assert len(result.config.routes) == 3


# ---- YAML and typos ----------------------------------------------------------------------------------


def test_unquoted_kommunenummer_with_a_leading_zero(valid_config: ConfigDir) -> None:
    # YAML 1.1 reads 0301 as an octal number: 193.
    valid_config.write("municipalities/0301-oslo.yaml", OSLO.replace('"0301"', "0301"))
    assert only(valid_config) == (
        "municipalities/0301-oslo.yaml:1: kommunenummer: YAML reads the unquoted 0301 as the number 193 "
        "(value: '0301'); fix: put it in quotes: kommunenummer: '0301'"
    )


def test_unquoted_kommunenummer(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/4601-bergen.yaml", BERGEN.replace('"4601"', "4601"))
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:1: kommunenummer: must be text, not a number (value: '4601'); "
        "fix: put it in quotes: kommunenummer: '4601'"
    )


def test_unquoted_bydel(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/0301-oslo.yaml", OSLO.replace('"01"', "01"))
    assert only(valid_config) == (
        "municipalities/0301-oslo.yaml:6: channels.portal.bydel: YAML reads the unquoted 01 as the number 1 "
        "(value: '01'); fix: put it in quotes: bydel: '01'"
    )


def test_kommunenummer_of_three_digits(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/0301-oslo.yaml", OSLO.replace('"0301"', '"301"'))
    assert only(valid_config) == (
        "municipalities/0301-oslo.yaml:1: kommunenummer: must be the four-digit kommunenummer "
        "(value: '301'); fix: write it in quotes, e.g. kommunenummer: '4601'"
    )


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        (
            "kanari.yaml",
            "    deadline: 30m",
            "    dedline: 30m",
            "kanari.yaml:20: channels.portal.dedline: unknown field (value: '30m'); fix: did you mean "
            "'deadline'? (the fields here are enabled, base_url, interval, deadline, poll_interval, "
            "normal_latency, final_hop, concurrency, timeout, learning, api_version, time_zone, fiks_org_id, "
            "integrasjon_id, "
            "integrasjon_passord, scope, max_payload_bytes, directory_cache)",
        ),
        (
            "vendors.yaml",
            "    alert_receiver: {email: vakt@plain.example}",
            "    alert_reciever: {email: vakt@plain.example}",
            "vendors.yaml:12: vendors[1].alert_reciever: unknown field (value: '<mapping>'); fix: did you "
            "mean "
            "'alert_receiver'? (the fields here are id, name, readback, alert_receiver, ticket_receiver)",
        ),
        (
            "municipalities/0301-oslo.yaml",
            'bydel: "01"',
            'bydel: "01"\n    intervall: 5m',
            "municipalities/0301-oslo.yaml:7: channels.portal.intervall: unknown field (value: '5m'); fix: "
            "did "
            "you mean 'interval'? (the fields here are enabled, interval, deadline, poll_interval, "
            "final_hop, "
            "bydel, api_version, confidential, recipient_organisasjonsnummer, manual_hops)",
        ),
    ],
)
def test_unknown_field_names_the_one_meant(
    valid_config: ConfigDir, name: str, old: str, new: str, expected: str
) -> None:
    valid_config.edit(name, old, new)
    assert only(valid_config) == expected


def test_misspelt_required_field_says_both(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/4601-bergen.yaml", "vendor:", "vendr:")
    assert valid_config.problems() == [
        "municipalities/4601-bergen.yaml:1: vendor: required field is missing; fix: add vendor: <an id from "
        "vendors.yaml>",
        "municipalities/4601-bergen.yaml:3: vendr: unknown field (value: 'fjordsys'); fix: did you mean "
        "'vendor'? (the fields here are kommunenummer, name, organisasjonsnummer, vendor, bydel, channels, "
        "contacts, ticket_contacts, office_hours)",
    ]


def test_malformed_yaml_names_the_line(valid_config: ConfigDir) -> None:
    valid_config.write("kanari.yaml", "instance: [unclosed\nlisten: x\n")
    problems = valid_config.problems()
    assert problems[0] == (
        "kanari.yaml:2: (yaml): malformed YAML at column 7: expected ',' or ']', but got ':' (while parsing "
        "a flow sequence at line 1); fix: check indentation and quotes here"
    )


def test_tab_indentation(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/4601-bergen.yaml", BERGEN.replace("  portal: {}", "\tportal: {}"))
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:5: (yaml): malformed YAML at column 1: found character '\\t' that "
        "cannot start any token; fix: indent with spaces; YAML does not allow tabs"
    )


def test_key_written_twice(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/4601-bergen.yaml", BERGEN + "vendor: plain\n")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:7: vendor: duplicate key: 'vendor' is also on line 3, and YAML "
        "keeps "
        "only the last one (value: 'vendor'); fix: remove one of them"
    )


def test_a_list_where_a_mapping_belongs(valid_config: ConfigDir) -> None:
    valid_config.write("vendors.yaml", "- id: plain\n")
    assert only(valid_config) == (
        "vendors.yaml: (document): must be a mapping of fields (key: value lines), not a single value or a "
        "list (value: 'list')"
    )


def test_empty_municipality_file_lists_what_is_missing(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/4601-bergen.yaml", "")
    assert valid_config.problems() == [
        "municipalities/4601-bergen.yaml: kommunenummer: required field is missing; fix: add "
        "kommunenummer: '4601'",
        "municipalities/4601-bergen.yaml: name: required field is missing; fix: add name: Bergen (exactly "
        "as in the registry)",
        "municipalities/4601-bergen.yaml: vendor: required field is missing; fix: add vendor: <an id from "
        "vendors.yaml>",
        "municipalities/4601-bergen.yaml: channels: required field is missing; fix: add channels: "
        "{portal: {}, altinn: {}}",
    ]


def test_contact_email(valid_config: ConfigDir) -> None:
    valid_config.write(
        "municipalities/4601-bergen.yaml",
        BERGEN + "contacts:\n  - name: Ola\n  - name: Kari\n    email: kari@\n",
    )
    result = valid_config.check()
    assert [error.render() for error in result.errors] == [
        "municipalities/4601-bergen.yaml:10: contacts[1].email: not an e-mail address (value: 'kari@'); "
        "fix: e.g. vakt@example.no"
    ]


def test_contact_without_address_is_a_warning(valid_config: ConfigDir) -> None:
    valid_config.write("municipalities/4601-bergen.yaml", BERGEN + "contacts:\n  - name: Ola\n")
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        "municipalities/4601-bergen.yaml:8: contact 'Ola' has neither email nor webhook_url, so receives no "
        "alerts"
    ]


# ---- all at once -------------------------------------------------------------------------------------


def test_every_problem_in_one_pass(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "deadline: 30m", "deadline: 1m")
    valid_config.edit("vendors.yaml", "name: Plain Saksbehandling AS", "name: ''")
    valid_config.edit("municipalities/4601-bergen.yaml", "name: Bergen", "name: Bergn")
    valid_config.write("municipalities/3001-halden.yaml", municipality("3001", "Halden"))
    problems = valid_config.problems()
    assert [problem.split(": ")[0:2] for problem in problems] == [
        ["vendors.yaml:11", "vendors[1].name"],
        ["municipalities/3001-halden.yaml:1", "kommunenummer"],
        ["municipalities/4601-bergen.yaml:2", "name"],
        ["kanari.yaml:20", "channels.portal.deadline"],
    ]


def test_municipality_files_are_checked_even_when_kanari_yaml_is_broken(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "instance: kanari-test", "instance: kanari test")
    valid_config.edit("municipalities/4601-bergen.yaml", "name: Bergen", "name: Bergn")
    result = valid_config.check()
    assert result.config is None
    assert [error.render() for error in result.errors] == [
        "kanari.yaml:1: instance: an instance name is 1-64 letters, digits, '.', '_' or '-' "
        "(value: 'kanari test'); fix: e.g. kanari-prod",
        "municipalities/4601-bergen.yaml:2: name: does not match the registry's name for 4601 (value: "
        "'Bergn'); "
        "fix: write name: Bergen",
    ]


def test_missing_configuration_directory(tmp_path: Path) -> None:
    result = check_config(tmp_path / "nowhere", {})
    assert result.errors[0].render() == (
        f"kanari.yaml: (file): file does not exist (value: '{tmp_path / 'nowhere' / 'kanari.yaml'}'); "
        "fix: check --config and the path"
    )


def test_a_control_character(valid_config: ConfigDir) -> None:
    valid_config.write("vendors.yaml", VENDORS_YAML.replace("name: Plain", "name: \x1fPlain"))
    assert only(valid_config) == (
        "vendors.yaml:11: (yaml): a character YAML does not allow (a control character) (value: '#x001f'); "
        "fix: delete it; retype the line if it was pasted"
    )


def test_a_file_named_by_its_number_only_is_accepted_with_a_warning(valid_config: ConfigDir) -> None:
    (valid_config.path / "municipalities/4601-bergen.yaml").rename(
        valid_config.path / "municipalities/4601.yaml"
    )
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        "municipalities/4601.yaml: the file name does not follow the registry's name: 4601-bergen.yaml"
    ]
