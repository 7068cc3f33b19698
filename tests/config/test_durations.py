"""Durations are finite and inside their kind's bounds (probe/config/durations.py), and an error shows the
value as the operator wrote it (``.nan``, ``1ms``), never Python's ``nan`` or a rounded ``nans``."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from annotated_types import Ge, Gt, Le
from pydantic import BaseModel

from probe.config import durations
from probe.config.durations import (
    DELIVERY_TIME,
    LATE_WINDOW,
    MARKER_AGE,
    REAL_HOST_MINIMUM_INTERVAL,
    parse_duration,
)
from probe.config.models import ProbeSettings
from probe.config.municipalities import MunicipalityChannel
from probe.config.schema import alternatives
from tests.config.conftest import ConfigDir
from tests.config.test_validation import only

SEND = (
    "a send interval must be between 1s and 1d: sending faster than once a second is a load test (towards a "
    "host other than this machine the shortest is 1m), and a route sending less than daily leaves an "
    "outage unseen for a day"
)
POLL = (
    "a poll interval must be between 1s and 1h: every poll is a request per open canary, and polling less "
    "than hourly makes every verdict that late"
)
DELIVERY = (
    "a delivery time (deadline or normal latency) must be between 1s and 7d: a week covers the longest "
    "holiday in which a municipality fetches no mail, and a later verdict could come after KS has deleted "
    "the reports it should save"
)
TIMEOUT = (
    "a timeout must be between 0.1s and 5m: shorter fails every TLS handshake; longer lets a hung upstream "
    "hold a connection for minutes"
)
NAN = "not a number (YAML reads .nan as 'not a number'): a duration is e.g. '5m'"
INF = "must be finite (YAML reads .inf as infinity): a duration is e.g. '5m'"


@pytest.mark.parametrize(
    ("old", "new", "place", "message"),
    [
        # The three: a route that never sends, canaries that never resolve, a flood.
        ("interval: 15m", "interval: .inf", "19: channels.portal.interval", INF),
        ("deadline: 30m", "deadline: .nan", "20: channels.portal.deadline", NAN),
        ("interval: 15m", "interval: 1ms", "19: channels.portal.interval", SEND),
        ("deadline: 30m", "deadline: 8d", "20: channels.portal.deadline", DELIVERY),
        ("interval: 1h", "interval: 2d", "26: channels.altinn.interval", SEND),
        ("poll_interval: 1m", "poll_interval: 0.5", "31: readback.poll_interval", POLL),
        ("poll_interval: 2m", "poll_interval: -.inf", "28: channels.altinn.poll_interval", INF),
        ("normal_latency: 4h", "normal_latency: .NaN", "29: channels.altinn.normal_latency", NAN),
    ],
)
def test_a_duration_in_kanari_yaml_out_of_bounds(
    valid_config: ConfigDir, old: str, new: str, place: str, message: str
) -> None:
    valid_config.edit("kanari.yaml", old, new)
    written = new.split(": ", 1)[1]
    assert only(valid_config) == f"kanari.yaml:{place}: {message} (value: '{written}')"


def test_an_integer_beyond_a_float_is_infinite_not_an_exception(valid_config: ConfigDir) -> None:
    # YAML reads a run of digits of any length as an integer; float() of it raises OverflowError.
    valid_config.edit("kanari.yaml", "interval: 1h", "interval: 1" + "0" * 400)
    assert only(valid_config) == (f"kanari.yaml:26: channels.altinn.interval: {INF} (value: '1{'0' * 119}…')")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("blind_grace: .nan", NAN),
        (
            "blind_grace: 2d",
            "blind_grace must be between 1s and 1d: a probe that cannot look says 'unknown' this long "
            "after the deadline; more than a day hides that it is blind",
        ),
        ("late_window: .inf", INF),
        (
            "late_window: 10s",
            "late_window must be between 1m and 30d: a canary that has not turned up within the 30 days KS "
            "keeps reports never will",
        ),
        (
            "retention: 1h",
            "retention must be between 1d and 366d: a night's incident must keep its canaries until "
            "morning, and the ledger grows with every day kept",
        ),
        (
            "ks_retention: 12h",
            "ks_retention must be between 1d and 366d: KS keeps reports 30 days (14 before June 2023); an "
            "incident's recovery date follows from it",
        ),
    ],
)
def test_a_top_level_duration_out_of_bounds(valid_config: ConfigDir, line: str, message: str) -> None:
    valid_config.write("kanari.yaml", (valid_config.path / "kanari.yaml").read_text() + line + "\n")
    field, written = line.split(": ")
    assert only(valid_config) == f"kanari.yaml:35: {field}: {message} (value: '{written}')"


def test_a_timeout_from_the_environment_shows_the_variable_and_its_text(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_READBACK__TIMEOUT="1ms") == (
        f"environment variable KANARI_READBACK__TIMEOUT: readback.timeout: {TIMEOUT} (value: '1ms')"
    )


def test_a_municipality_override_out_of_bounds_is_blamed_on_its_file(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/0301-oslo.yaml", 'bydel: "01"', 'bydel: "01"\n    interval: .inf')
    assert only(valid_config) == (
        f"municipalities/0301-oslo.yaml:7: channels.portal.interval: {INF} (value: '.inf')"
    )


def test_the_maskinporten_assertion_limit_comes_from_the_table(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "kanari.yaml",
        "  key_id: kanari-test-1\nchannels:",
        "  key_id: kanari-test-1\n  assertion_lifetime: 121\nchannels:",
    )
    assert only(valid_config) == (
        "kanari.yaml:13: maskinporten.assertion_lifetime: maskinporten.assertion_lifetime must be between "
        "10s and 2m: Maskinporten accepts an assertion living at most 120 s, and a few seconds of clock skew "
        "fail one living less than 10 s (value: '121')"
    )


# ---- the rule for real hosts ---------------------------------------------------------------------------

REAL_HOST = (
    "a send interval shorter than 1m towards {host}: every canary is a report the channel hands to a "
    "municipality's system, so this floods real services (value: '{value}'); fix: send at most once every "
    "1m (config/kanari.yaml uses 15m for the portal, 1h for Altinn); shorter intervals are for the sandbox "
    "on this machine"
)


def test_a_short_interval_towards_a_real_host_is_refused(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "interval: 15m", "interval: 30s")
    assert only(valid_config) == "kanari.yaml:19: channels.portal.interval: " + REAL_HOST.format(
        host="api.fiks.test.ks.no", value="30s"
    )


def test_a_short_interval_override_towards_a_real_host_is_blamed_on_its_file(valid_config: ConfigDir) -> None:
    valid_config.edit("municipalities/0301-oslo.yaml", 'bydel: "01"', 'bydel: "01"\n    interval: 59')
    assert only(valid_config) == "municipalities/0301-oslo.yaml:7: channels.portal.interval: " + (
        REAL_HOST.format(host="api.fiks.test.ks.no", value="59")
    )


def test_a_short_interval_from_the_environment_names_the_variable(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_CHANNELS__ALTINN__INTERVAL="10s") == (
        "environment variable KANARI_CHANNELS__ALTINN__INTERVAL: channels.altinn.interval: "
        + REAL_HOST.format(host="platform.tt02.altinn.no", value="10s")
    )


def test_the_sandbox_on_this_machine_may_compress_time(valid_config: ConfigDir) -> None:
    # The end-to-end tests' timing (tests/e2e/processes.py fast_timing) against a sandbox on loopback.
    valid_config.edit(
        "kanari.yaml", "https://api.fiks.test.ks.no/bekymringsmelding", "http://127.0.0.1:8700/fiks"
    )
    valid_config.edit(
        "kanari.yaml",
        "interval: 15m\n    deadline: 30m\n    poll_interval: 30s\n    normal_latency: 10m",
        "interval: 3s\n    deadline: 5s\n    poll_interval: 1s\n    normal_latency: 1s\n    timeout: 1s",
    )
    valid_config.write("kanari.yaml", (valid_config.path / "kanari.yaml").read_text() + "blind_grace: 3s\n")
    valid_config.edit("kanari.yaml", "poll_interval: 1m", "poll_interval: 1s")
    result = valid_config.check()
    assert [error.render() for error in result.errors] == []
    assert result.config is not None
    portal = [route for route in result.config.routes if route.channel.value == "portal"]
    assert {(route.interval, route.deadline, route.poll_interval) for route in portal} == {(3.0, 5.0, 1.0)}


def test_the_sandbox_still_refuses_an_absurd_interval(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "kanari.yaml", "https://api.fiks.test.ks.no/bekymringsmelding", "http://127.0.0.1:8700/fiks"
    )
    valid_config.edit("kanari.yaml", "interval: 15m", "interval: 1ms")
    assert only(valid_config) == f"kanari.yaml:19: channels.portal.interval: {SEND} (value: '1ms')"


# ---- every duration is bounded --------------------------------------------------------------------------


def _float_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every field of ``model`` (recursively) whose value is a float, with its field info."""
    found = []
    for name, field in model.model_fields.items():
        for candidate in alternatives(field.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.extend(_float_fields(candidate, (*prefix, name)))
            elif candidate is float:
                found.append(((*prefix, name), field))
    return found


def _is_duration(field: Any) -> bool:
    return any(
        getattr(getattr(item, "func", None), "__module__", "") == durations.__name__
        for item in field.metadata
    )


FLOATS = _float_fields(ProbeSettings)
DURATIONS = [path for path, field in FLOATS if _is_duration(field)]


def test_every_float_setting_is_a_bounded_duration_or_a_share() -> None:
    # A new duration field typed as a plain float would accept .inf and .nan again.
    others = {".".join(path): field.metadata for path, field in FLOATS if not _is_duration(field)}
    learning = {
        f"channels.{channel}.learning.{name}": bounds
        for channel in ("portal", "altinn")
        for name, bounds in (
            ("quantile", [Gt(gt=0.5), Le(le=1.0)]),
            ("margin", [Ge(ge=1.0), Le(le=10.0)]),
            ("office_margin", [Ge(ge=1.0), Le(le=10.0)]),
        )
    }
    assert others == {"alerting.channel_down_share": [Gt(gt=0), Le(le=1)], **learning}
    assert len(DURATIONS) == 23


def _set(data: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {})
    data[path[-1]] = value


@pytest.mark.parametrize("path", DURATIONS, ids=".".join)
@pytest.mark.parametrize(("value", "written"), [(math.inf, ".inf"), (math.nan, ".nan"), ("1ms", "1ms")])
def test_no_duration_setting_accepts_infinity_nan_or_a_millisecond(
    valid_config: ConfigDir, path: tuple[str, ...], value: object, written: str
) -> None:
    document = yaml.safe_load((valid_config.path / "kanari.yaml").read_text())
    if path[0] == "ledger_postgres":  # a section whose dsn is required: only the duration may be wrong
        document["ledger_postgres"] = {"dsn": "host=db.example dbname=kanari user=kanari"}
    _set(document, path, value)
    (valid_config.path / "kanari.yaml").write_text(yaml.safe_dump(document))
    problem = only(valid_config)
    assert problem.startswith("kanari.yaml:")
    assert f": {'.'.join(path)}: " in problem
    assert problem.endswith(f" (value: '{written}')")


@pytest.mark.parametrize("name", ["interval", "deadline", "poll_interval"])
def test_municipality_overrides_are_bounded_too(name: str) -> None:
    for value, message in [
        (math.inf, "must be finite"),
        (math.nan, "not a number"),
        ("1ms", "must be between"),
    ]:
        with pytest.raises(ValueError, match=message):
            MunicipalityChannel.model_validate({name: value})


def test_the_marker_age_bound_follows_the_longest_deadline_and_late_window() -> None:
    assert MARKER_AGE.maximum == DELIVERY_TIME.maximum + LATE_WINDOW.maximum == 37 * 86400
    assert REAL_HOST_MINIMUM_INTERVAL == 60


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, 10**400, "nan", "inf", "1e400", 0, -1, True]
)
def test_parse_duration_refuses_what_is_not_a_positive_finite_duration(value: object) -> None:
    # The messages are asserted through config check above.
    with pytest.raises(ValueError):
        parse_duration(value)
