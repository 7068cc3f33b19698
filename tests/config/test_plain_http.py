"""Credentials never travel over plain http to another host: every upstream URL (Maskinporten's token
endpoint and audience, the KS and Altinn base URLs, a vendor's read-back) must be https unless it points
at this machine, where the sandbox and the tests run. What is exposed without credentials (``/metrics`` on
the network without authentication, alert webhooks over http) is a warning."""

from __future__ import annotations

import pytest

from probe.cli.common import load_or_explain
from probe.config.fields import is_loopback_host
from probe.config.loader import check_config, load_config
from tests.config.conftest import ConfigDir
from tests.config.test_validation import only
from tests.conftest import ROOT

CREDENTIALS = (
    "plain http:// to another host: the credentials Kanari sends there (the integration password, "
    "Maskinporten assertions, bearer tokens) would travel unencrypted; use https:// (http:// is allowed "
    "only to this machine: 127.0.0.1, ::1, localhost)"
)
AUDIENCE = (
    "plain http:// to another host: Maskinporten's audience is its issuer, an https:// address "
    "(e.g. https://test.maskinporten.no/); http:// is allowed only for a sandbox on this machine "
    "(127.0.0.1, ::1, localhost)"
)


@pytest.mark.parametrize(
    ("file", "old", "place"),
    [
        ("kanari.yaml", "token_url: https://test.maskinporten.no/token", "8: maskinporten.token_url"),
        ("kanari.yaml", "audience: https://test.maskinporten.no/", "9: maskinporten.audience"),
        (
            "kanari.yaml",
            "base_url: https://api.fiks.test.ks.no/bekymringsmelding",
            "15: channels.portal.base_url",
        ),
        ("kanari.yaml", "base_url: https://platform.tt02.altinn.no", "24: channels.altinn.base_url"),
        ("vendors.yaml", "base_url: https://readback.fjordsys.example", "5: vendors[0].readback.base_url"),
    ],
)
def test_plain_http_to_a_real_host_is_refused(
    valid_config: ConfigDir, file: str, old: str, place: str
) -> None:
    new = old.replace("https://", "http://")
    valid_config.edit(file, old, new)
    message = AUDIENCE if place.endswith("audience") else CREDENTIALS
    assert only(valid_config) == f"{file}:{place}: {message} (value: '{new.split(': ', 1)[1]}')"


def test_plain_http_from_the_environment_names_the_variable(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_CHANNELS__PORTAL__BASE_URL="http://api.fiks.test.ks.no/x") == (
        "environment variable KANARI_CHANNELS__PORTAL__BASE_URL: channels.portal.base_url: "
        f"{CREDENTIALS} (value: 'http://api.fiks.test.ks.no/x')"
    )


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8700", "127.8.9.10", "[::1]:8700", "localhost:8700", "LOCALHOST", "[0:0:0:0:0:0:0:1]"]
)
def test_plain_http_to_this_machine_is_allowed(valid_config: ConfigDir, host: str) -> None:
    valid_config.edit(
        "kanari.yaml", "https://test.maskinporten.no/token", f"http://{host}/maskinporten/token"
    )
    valid_config.edit("kanari.yaml", "https://test.maskinporten.no/", f"http://{host}/maskinporten/")
    valid_config.edit("kanari.yaml", "https://api.fiks.test.ks.no/bekymringsmelding", f"http://{host}/fiks")
    valid_config.edit("kanari.yaml", "https://platform.tt02.altinn.no", f"http://{host}/altinn")
    valid_config.edit("vendors.yaml", "https://readback.fjordsys.example", f"http://{host}/vendors/fjordsys")
    result = valid_config.check()
    assert [error.render() for error in result.errors] == []
    assert result.warnings == []


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1.example.net", "localhost.example.net", "10.0.0.1", "0.0.0.0", "[::]", "[::ffff:7f00:1]"],
)
def test_names_and_addresses_that_only_look_local_are_not(valid_config: ConfigDir, host: str) -> None:
    valid_config.edit("kanari.yaml", "https://api.fiks.test.ks.no/bekymringsmelding", f"http://{host}/fiks")
    assert only(valid_config) == (
        f"kanari.yaml:15: channels.portal.base_url: {CREDENTIALS} (value: 'http://{host}/fiks')"
    )


def test_https_to_this_machine_is_allowed_too(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "kanari.yaml", "https://api.fiks.test.ks.no/bekymringsmelding", "https://127.0.0.1:8700/fiks"
    )
    assert valid_config.check().errors == []


def test_the_audience_keeps_its_trailing_slash(valid_config: ConfigDir) -> None:
    # Maskinporten compares the audience character for character.
    result = valid_config.check()
    assert result.config is not None
    assert result.config.settings.maskinporten.audience == "https://test.maskinporten.no/"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.255.255.254", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("", False), ("128.0.0.1", False), ("example.no", False), ("::", False)],
)  # fmt: skip
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize("directory", ["config", "config/sandbox"])
def test_the_committed_configurations_use_no_plain_http_to_real_hosts(directory: str) -> None:
    # config/ points at KS's and Digdir's test environments over https; config/sandbox at 127.0.0.1.
    result = check_config(ROOT / directory, {}, with_secrets=False)
    assert [error.render() for error in result.errors] == []
    assert not [warning for warning in result.warnings if "plain http" in warning or "/metrics" in warning]


# ---- exposed without credentials: warnings ------------------------------------------------------------

METRICS = (
    "is reachable from other hosts and /metrics has no authentication, so anyone who reaches it reads "
    "every route's state; set metrics.basic_auth_username and metrics.basic_auth_password (or listen on "
    "127.0.0.1 behind a proxy that authenticates)"
)


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "'[::]:9464'", "10.1.2.3:9464", "kanari.example:9464"])
def test_metrics_without_authentication_on_the_network_is_a_warning(
    valid_config: ConfigDir, listen: str
) -> None:
    valid_config.edit("kanari.yaml", "listen: 127.0.0.1:9464", f"listen: {listen}")
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [f"kanari.yaml:2: listen: {listen.strip(chr(39))} {METRICS}"]


def test_the_listen_warning_names_the_variable_that_sets_it(valid_config: ConfigDir) -> None:
    # The Dockerfile sets KANARI_LISTEN=0.0.0.0:9464.
    result = valid_config.check(KANARI_LISTEN="0.0.0.0:9464")
    assert result.warnings == [f"environment variable KANARI_LISTEN: listen: 0.0.0.0:9464 {METRICS}"]


@pytest.mark.parametrize("listen", ["127.0.0.1:9464", "127.0.0.1:0", "'[::1]:9464'", "localhost:9464"])
def test_metrics_on_loopback_needs_no_authentication(valid_config: ConfigDir, listen: str) -> None:
    valid_config.edit("kanari.yaml", "listen: 127.0.0.1:9464", f"listen: {listen}")
    assert valid_config.check().warnings == []


def test_metrics_with_basic_auth_on_the_network_is_fine(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "listen: 127.0.0.1:9464", "listen: 0.0.0.0:9464")
    valid_config.write(
        "kanari.yaml",
        (valid_config.path / "kanari.yaml").read_text()
        + "metrics:\n  basic_auth_username: prometheus\n"
        + "  basic_auth_password: {env: KANARI_METRICS_PASSWORD}\n",
    )
    result = valid_config.check(KANARI_METRICS_PASSWORD="s3cret-value")
    assert [error.render() for error in result.errors] == []
    assert result.warnings == []


def test_the_warning_reaches_the_loaded_configuration_and_is_printed(
    valid_config: ConfigDir, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    valid_config.edit("kanari.yaml", "listen: 127.0.0.1:9464", "listen: 0.0.0.0:9464")
    config = load_config(valid_config.path, valid_config.environ)
    assert config.warnings == (f"kanari.yaml:2: listen: 0.0.0.0:9464 {METRICS}",)
    for name, value in valid_config.environ.items():
        monkeypatch.setenv(name, value)
    assert load_or_explain(valid_config.path) is not None
    assert f"warning: kanari.yaml:2: listen: 0.0.0.0:9464 {METRICS}" in capsys.readouterr().err


WEBHOOK = (
    "is plain http to another host, so alerts travel unencrypted and can be read or dropped on the way; "
    "use https://"
)


def test_an_alert_webhook_over_plain_http_to_another_host_is_a_warning(valid_config: ConfigDir) -> None:
    valid_config.write(
        "kanari.yaml",
        (valid_config.path / "kanari.yaml").read_text()
        + "alerting:\n  operations_centre: {webhook_url: 'http://alerts.example/ops'}\n"
        + "  heartbeat: {webhook_url: 'http://127.0.0.1:9095/heartbeat'}\n",
    )
    plain = "alert_receiver: {webhook_url: 'http://alerts.plain.example/kanari'}"
    valid_config.edit("vendors.yaml", "alert_receiver: {email: vakt@plain.example}", plain)
    valid_config.write(
        "municipalities/0301-oslo.yaml",
        (valid_config.path / "municipalities/0301-oslo.yaml").read_text()
        + "contacts:\n  - {name: Vakt, webhook_url: 'http://vakt.oslo.example/hook'}\n",
    )
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        f"kanari.yaml:36: alerting.operations_centre.webhook_url: http://alerts.example/ops {WEBHOOK}",
        "vendors.yaml:12: vendors[1].alert_receiver.webhook_url: http://alerts.plain.example/kanari "
        + WEBHOOK,
        f"municipalities/0301-oslo.yaml:8: contacts[0].webhook_url: http://vakt.oslo.example/hook {WEBHOOK}",
    ]


def test_a_webhook_url_is_still_a_url(valid_config: ConfigDir) -> None:
    ftp = "alert_receiver: {webhook_url: 'ftp://alerts.plain.example'}"
    valid_config.edit("vendors.yaml", "alert_receiver: {email: vakt@plain.example}", ftp)
    assert only(valid_config) == (
        "vendors.yaml:12: vendors[1].alert_receiver.webhook_url: must be an http(s) URL such as "
        "https://api.fiks.test.ks.no/bekymringsmelding (value: 'ftp://alerts.plain.example')"
    )


@pytest.mark.parametrize(
    ("listen", "problem"),
    [
        ("'::1:9464'", "an IPv6 address goes in brackets"),
        ("127.0.0.1:99999", "the port 99999 is out of range"),
        ("'a b:80'", "is not a host name or IP address"),
        ("garbage", "is not HOST:PORT"),
    ],
)
def test_a_listen_address_the_server_could_not_bind_is_refused_by_config_check(
    valid_config: ConfigDir, listen: str, problem: str
) -> None:
    # The same parser as `kanari run --listen` and the HTTP server: config check passes nothing that
    # `kanari run` would then refuse.
    valid_config.edit("kanari.yaml", "listen: 127.0.0.1:9464", f"listen: {listen}")
    [error] = [found.render() for found in valid_config.check().errors]
    assert error.startswith("kanari.yaml:2: listen:")
    assert problem in error
