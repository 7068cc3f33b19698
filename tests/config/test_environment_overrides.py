"""``KANARI_`` overrides are blamed on the variable, never on a ``kanari.yaml`` line they replace or
create; a secret pasted where an ``env:`` name belongs is described, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.config.types import SecretRef, shown_env_name
from probe.hops import Channel
from tests.config.conftest import ConfigDir
from tests.config.test_validation import only

# ---- 13c: an override naming no setting ----------------------------------------------------------------

PORTAL_FIELDS = (
    "enabled, base_url, interval, deadline, poll_interval, normal_latency, final_hop, concurrency, timeout, "
    "learning, api_version, time_zone, fiks_org_id, integrasjon_id, integrasjon_passord, scope, "
    "max_payload_bytes, directory_cache"
)


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        # Was "kanari.yaml:13: channels.fax: unknown field (value: '<mapping>')".
        (
            "KANARI_CHANNELS__FAX__INTERVAL",
            "channels.fax.interval: no such setting: channels has no 'fax'; fix: the settings there are "
            "portal, altinn",
        ),
        # Was "kanari.yaml:19: channels.portal.interval: a duration is ... (value: '<mapping>')".
        (
            "KANARI_CHANNELS__PORTAL__INTERVAL__X",
            "channels.portal.interval.x: no such setting: channels.portal.interval is a single value, "
            "with no 'x' under it; fix: set KANARI_CHANNELS__PORTAL__INTERVAL itself",
        ),
        # Was silently ignored: pydantic-settings drops nested names under a single value.
        (
            "KANARI_LISTEN__PORT",
            "listen.port: no such setting: listen is a single value, with no 'port' under it; fix: set "
            "KANARI_LISTEN itself",
        ),
        # Was "kanari.yaml:13: channels.: unknown field".
        (
            "KANARI_CHANNELS____PORTAL",
            "channels..portal: no such setting: the name has an empty part ('__' twice in a row, or at its "
            "end); fix: the settings there are portal, altinn",
        ),
        (
            "KANARI_CHANNELS__PORTAL__DEADLIN",
            f"channels.portal.deadlin: no such setting: channels.portal has no 'deadlin'; fix: did you mean "
            f"'deadline'? (the settings there are {PORTAL_FIELDS})",
        ),
        (
            "KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD__NAME",
            "channels.portal.integrasjon_passord.name: no such setting: channels.portal.integrasjon_passord "
            "has no 'name'; fix: the settings there are file, env",
        ),
    ],
)
def test_an_override_naming_no_setting_is_blamed_on_the_variable(
    valid_config: ConfigDir, variable: str, expected: str
) -> None:
    assert only(valid_config, **{variable: "1"}) == f"environment variable {variable}: {expected}"


def test_an_unknown_override_does_not_show_its_value(valid_config: ConfigDir) -> None:
    # A misspelt password variable holds the password.
    problem = only(valid_config, KANARI_METRICS__BASIC_AUTH_PASWORD="Hunter2Sekret9q")
    assert problem.startswith(
        "environment variable KANARI_METRICS__BASIC_AUTH_PASWORD: metrics.basic_auth_pasword: no such "
        "setting: metrics has no 'basic_auth_pasword'; fix: did you mean 'basic_auth_password'?"
    )
    assert "Hunter2Sekret9q" not in problem


def test_an_override_whose_first_part_names_no_setting_is_still_a_warning(valid_config: ConfigDir) -> None:
    # It may belong to another program (KANARI_SANDBOX_KS_SCHEMA_DIR belongs to the sandbox).
    result = valid_config.check(KANARI_FOO__BAR="1")
    assert result.errors == []
    assert result.warnings == [
        "environment variable KANARI_FOO__BAR is not a Kanari setting and no secret refers to it, so it is "
        "ignored (settings are KANARI_<FIELD>, nested with __: KANARI_CHANNELS__PORTAL__INTERVAL)"
    ]


def test_an_override_completing_no_section_of_the_file_is_blamed_on_the_variable(
    valid_config: ConfigDir,
) -> None:
    # kanari.yaml has no metrics: section; the variable alone made an incomplete one.
    assert only(valid_config, KANARI_METRICS__BASIC_AUTH_USERNAME="prometheus") == (
        "environment variable KANARI_METRICS__BASIC_AUTH_USERNAME: metrics: give both basic_auth_username "
        "and basic_auth_password, or neither (value: '<mapping>')"
    )


def test_a_cross_file_check_of_an_overridden_value_names_the_variable(valid_config: ConfigDir) -> None:
    # Was "kanari.yaml:20: channels.portal.deadline: ... (value: '1m')": the file says 30m.
    assert only(valid_config, KANARI_CHANNELS__PORTAL__DEADLINE="1m") == (
        "environment variable KANARI_CHANNELS__PORTAL__DEADLINE: channels.portal.deadline: shorter than the "
        "channel's normal latency (10m) plus one status poll (30s), so healthy canaries would be reported "
        "lost (value: '1m'); fix: set the deadline to at least 10m30s, or poll more often (normal_latency "
        "is the slowest delivery a healthy route shows)"
    )


def test_a_valid_nested_override_still_applies(valid_config: ConfigDir) -> None:
    result = valid_config.check(
        KANARI_CHANNELS__PORTAL__INTERVAL="20m", KANARI_ALERTING__SLO_TARGET__PORTAL="0.9"
    )
    assert [error.render() for error in result.errors] == []
    assert result.config is not None
    assert result.config.settings.channels.portal is not None
    assert result.config.settings.channels.portal.interval == 1200
    assert result.config.settings.alerting.slo_target[Channel.PORTAL] == 0.9


# ---- 13b: a secret pasted as an env: name --------------------------------------------------------------

# Passes the pattern of a variable name (letters, digits, '_'), so only the message can protect it.
PLAUSIBLE = "ghp_9fQ2xLk7Tz4Rv1Bn8Mw3Yc6Hd0Ja5Ue"
NOT_A_NAME = "sk-live.4f9Q/2xLk7+Tz=="
NOT_SET = "missing secret: the environment variable is not set"
SET_IT = (
    "fix: set the variable named after env: in the probe's environment (for docker compose: under "
    "environment: in deploy/compose.yml), or use {file: PATH}"
)


def test_an_env_name_that_may_be_a_secret_is_described_not_shown(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "{file: secrets/fiks-passord}", f"{{env: {PLAUSIBLE}}}")
    problem = only(valid_config)
    assert problem == (
        f"kanari.yaml:18: channels.portal.integrasjon_passord: {NOT_SET} (the name after env: has "
        f"{len(PLAUSIBLE)} characters, not shown: it may be a secret); {SET_IT}"
    )
    assert PLAUSIBLE not in problem


def test_an_env_name_that_is_no_variable_name_is_described_not_shown(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "{file: secrets/fiks-passord}", f"'env:{NOT_A_NAME}'")
    problem = only(valid_config)
    assert problem == (
        "kanari.yaml:18: channels.portal.integrasjon_passord.env: the name after env: is not a variable name "
        f"({len(NOT_A_NAME)} characters, not shown: it may be a secret) (value: '<redacted>'); fix: give the "
        "variable's name (letters, digits and '_'), e.g. {env: KANARI_FIKS_INTEGRASJON_PASSORD}, never the "
        "secret itself"
    )
    assert NOT_A_NAME not in problem


@pytest.mark.parametrize("pasted", [PLAUSIBLE, NOT_A_NAME])
def test_a_pasted_secret_in_an_override_is_not_shown(valid_config: ConfigDir, pasted: str) -> None:
    problems = valid_config.problems(KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD=f"env:{pasted}")
    assert len(problems) == 1
    assert problems[0].startswith("environment variable KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD: ")
    assert f"{len(pasted)} characters, not shown: it may be a secret" in problems[0]
    assert pasted not in problems[0]


def test_a_pasted_secret_in_vendors_yaml_is_not_shown(valid_config: ConfigDir) -> None:
    valid_config.edit("vendors.yaml", "{env: KANARI_TEST_READBACK_TOKEN}", f"{{env: {PLAUSIBLE}}}")
    problem = only(valid_config)
    assert problem.startswith(
        "vendors.yaml:8: vendors[0].readback.auth.token: missing secret of vendor fjordsys: "
    )
    assert PLAUSIBLE not in problem


def test_an_ordinary_variable_name_is_still_named(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "{file: secrets/fiks-passord}", "{env: KANARI_FIKS_PASSORD}")
    assert only(valid_config) == (
        f"kanari.yaml:18: channels.portal.integrasjon_passord: {NOT_SET} (value: 'KANARI_FIKS_PASSORD'); "
        "fix: set KANARI_FIKS_PASSORD in the probe's environment (for docker compose: under environment: in "
        "deploy/compose.yml), or use {file: PATH}"
    )


def test_a_set_variable_with_an_unusual_name_still_works(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "{file: secrets/fiks-passord}", "{env: fiks_passord}")
    result = valid_config.check(fiks_passord="the-password")
    assert result.errors == []
    assert result.config is not None
    assert result.config.settings.channels.portal is not None
    assert result.config.settings.channels.portal.integrasjon_passord.value() == "the-password"


def test_resolving_an_unset_secret_does_not_echo_its_name() -> None:
    ref = SecretRef(env=PLAUSIBLE)
    with pytest.raises(LookupError) as raised:
        ref.resolve(Path("."), {})
    assert str(raised.value) == (
        f"the variable named after env: ({len(PLAUSIBLE)} characters, not shown: it may be a secret) "
        "is not set"
    )
    assert PLAUSIBLE not in ref.describe()
    assert SecretRef(env="KANARI_X").describe() == "environment variable KANARI_X"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("KANARI_FIKS_PASSORD", True),
        ("_X1", True),
        ("fiks_passord", False),
        ("A" * 64, True),
        ("A" * 65, False),
        ("1ABC", False),
        ("ABC-DEF", False),
    ],
)
def test_which_names_are_shown(name: str, shown: bool) -> None:
    assert (shown_env_name(name) == name) is shown
