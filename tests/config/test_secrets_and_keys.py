"""Secrets, key files and environment overrides: what ``config check`` says, and that it never says a
secret."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from probe.cli import main
from probe.config.models import ProbeSettings
from probe.config.schema import secret_paths
from probe.config.vendors import VendorsFile
from tests.config.conftest import ConfigDir, private_file
from tests.config.test_validation import only

HINT_FILE = (
    "create the file with the secret on its first line (chmod 600), or fix the path; relative paths are "
    "resolved against the configuration directory"
)
HINT_ENV = (
    "set KANARI_TEST_READBACK_TOKEN in the probe's environment (for docker compose: under environment: in "
    "deploy/compose.yml), or use {file: PATH}"
)


def test_secret_from_a_missing_environment_variable(valid_config: ConfigDir) -> None:
    del valid_config.environ["KANARI_TEST_READBACK_TOKEN"]
    assert only(valid_config) == (
        "vendors.yaml:8: vendors[0].readback.auth.token: missing secret of vendor fjordsys: the environment "
        f"variable is not set (value: 'KANARI_TEST_READBACK_TOKEN'); fix: {HINT_ENV}"
    )


def test_secret_from_an_empty_environment_variable(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_TEST_READBACK_TOKEN="") == (
        "vendors.yaml:8: vendors[0].readback.auth.token: missing secret of vendor fjordsys: the environment "
        f"variable is empty (value: 'KANARI_TEST_READBACK_TOKEN'); fix: {HINT_ENV}"
    )


def test_secret_from_a_missing_file(valid_config: ConfigDir) -> None:
    (valid_config.path / "secrets/fiks-passord").unlink()
    assert only(valid_config) == (
        "kanari.yaml:18: channels.portal.integrasjon_passord: missing secret: the file does not exist "
        f"(value: '{valid_config.path / 'secrets/fiks-passord'}'); fix: {HINT_FILE}"
    )


def test_secret_from_an_empty_file(valid_config: ConfigDir) -> None:
    (valid_config.path / "secrets/fiks-passord").write_text("\n")
    assert only(valid_config) == (
        "kanari.yaml:18: channels.portal.integrasjon_passord: missing secret: the file is empty "
        f"(value: '{valid_config.path / 'secrets/fiks-passord'}'); fix: {HINT_FILE}"
    )


def test_secret_file_readable_by_others_is_a_warning(valid_config: ConfigDir) -> None:
    path = valid_config.path / "secrets/fiks-passord"
    path.chmod(0o644)
    result = valid_config.check()
    assert result.errors == []
    assert result.warnings == [
        f"kanari.yaml:18: channels.portal.integrasjon_passord: secret file {path} is readable by others "
        f"(mode 0o644); chmod 600 {path} (or 0440 with the file's group, as a Kubernetes Secret is mounted)"
    ]


def test_secrets_are_not_read_with_skip(valid_config: ConfigDir) -> None:
    (valid_config.path / "secrets/fiks-passord").unlink()
    (valid_config.path / "secrets/marker.pem").unlink()
    assert valid_config.check(with_secrets=False).errors == []


def test_unreadable_key_file(valid_config: ConfigDir) -> None:
    (valid_config.path / "secrets/marker.pem").unlink()
    path = valid_config.path / "secrets/marker.pem"
    assert only(valid_config) == (
        f"kanari.yaml:5: signing.key_file: cannot read key file: No such file or directory (value: "
        f"'{path}'); "
        "fix: check the path (relative paths are resolved against the config directory)"
    )


def test_key_file_readable_by_others(valid_config: ConfigDir) -> None:
    path = valid_config.path / "secrets/marker.pem"
    path.chmod(0o444)
    assert only(valid_config) == (
        f"kanari.yaml:5: signing.key_file: key file is readable by others (mode 0o444) (value: '{path}'); "
        f"fix: chmod 600 {path} (or 0440 with the file's group, as a Kubernetes Secret is mounted)"
    )


def test_key_file_from_the_environment_names_the_variable(valid_config: ConfigDir) -> None:
    # The key's path set by KANARI_SIGNING__KEY_FILE: the error blames the variable, not kanari.yaml:5.
    path = valid_config.path / "secrets/elsewhere.pem"
    path.write_bytes((valid_config.path / "secrets/marker.pem").read_bytes())
    path.chmod(0o664)
    result = valid_config.check(KANARI_SIGNING__KEY_FILE=str(path))
    assert [str(error) for error in result.errors] == [
        "environment variable KANARI_SIGNING__KEY_FILE: signing.key_file: key file is readable by others "
        f"(mode 0o664) "
        f"(value: '{path}'); fix: chmod 600 {path} (or 0440 with the file's group, as a Kubernetes Secret "
        "is mounted)"
    ]


def test_secret_style_key_files_are_accepted(valid_config: ConfigDir) -> None:
    # Every key mounted as Kubernetes mounts a Secret for a non-root pod: 0440, group of its fsGroup.
    for name in ("marker.pem", "maskinporten.pem"):
        (valid_config.path / "secrets" / name).chmod(0o440)
    assert valid_config.check().errors == []


def test_key_file_that_is_not_a_key(valid_config: ConfigDir) -> None:
    path = valid_config.path / "secrets/marker.pem"
    path.write_text("not a key\n")
    assert only(valid_config) == (
        f"kanari.yaml:5: signing.key_file: not an unencrypted PEM private key (value: '{path}'); fix: write "
        "the key as PEM (PKCS#8), e.g. with `kanari keys generate`"
    )


def test_key_of_the_wrong_kind(valid_config: ConfigDir) -> None:
    (valid_config.path / "secrets/maskinporten.pem").write_bytes(
        (valid_config.path / "secrets/marker.pem").read_bytes()
    )
    assert only(valid_config) == (
        "kanari.yaml:11: maskinporten.key_file: not an RSA key (Maskinporten signs with RS256) "
        "(value: 'secrets/maskinporten.pem'); fix: use the RSA key registered with the Maskinporten client"
    )


def test_previous_public_keys(valid_config: ConfigDir) -> None:
    old = ed25519.Ed25519PrivateKey.generate().public_key()
    (valid_config.path / "secrets/old.pub.pem").write_bytes(
        old.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    valid_config.edit(
        "kanari.yaml",
        "  key_id: kanari-test-1\nmaskinporten",
        "  key_id: kanari-test-1\n  previous_public_keys:\n"
        "    - {key_id: kanari-test-0, public_key_file: secrets/old.pub.pem}\n"
        "    - {key_id: kanari-test-1, public_key_file: secrets/missing.pub.pem}\nmaskinporten",
    )
    assert valid_config.problems() == [
        "kanari.yaml:9: signing.previous_public_keys[1].key_id: the same key id as signing.key_id "
        "(value: 'kanari-test-1'); fix: every published key needs its own key id, or markers cannot be "
        "verified",
        "kanari.yaml:9: signing.previous_public_keys[1].public_key_file: cannot read public key file: No "
        "such "
        "file or directory (value: 'secrets/missing.pub.pem'); fix: the previous key's public half as PEM: "
        "openssl pkey -in OLD-KEY.pem -pubout -out OLD-KEY.pub.pem",
    ]


def test_certificate_chain_for_another_key(valid_config: ConfigDir, tmp_path: Path) -> None:

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(other.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(other, hashes.SHA256())
    )
    (valid_config.path / "secrets/chain.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
    )
    valid_config.edit(
        "kanari.yaml",
        "  key_id: kanari-test-1\nchannels",
        "  certificate_chain_file: secrets/chain.pem\nchannels",
    )
    assert only(valid_config) == (
        "kanari.yaml:12: maskinporten.certificate_chain_file: the first certificate is not for "
        "maskinporten.key_file (value: 'secrets/chain.pem'); fix: put the business certificate of that key "
        "first, then its issuers"
    )


# ---- the environment ---------------------------------------------------------------------------------


def test_an_environment_override_is_named_as_the_source_of_its_error(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_CHANNELS__PORTAL__DEADLINE="soon") == (
        "environment variable KANARI_CHANNELS__PORTAL__DEADLINE: channels.portal.deadline: not a duration: "
        "'soon' (use seconds or e.g. '90s', '5m', '1h30m', '7d') (value: 'soon')"
    )


def test_a_misspelt_nested_environment_override(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_CHANNELS__PORTAL__INTERVALL="5m").startswith(
        "environment variable KANARI_CHANNELS__PORTAL__INTERVALL: channels.portal.intervall: "
        "no such setting: channels.portal has no 'intervall'; fix: did you mean 'interval'? "
        "(the settings there are enabled, "
    )


def test_an_environment_variable_that_names_nothing_is_a_warning(valid_config: ConfigDir) -> None:
    result = valid_config.check(KANARI_INTERVAL="5m")
    assert result.errors == []
    assert result.warnings == [
        "environment variable KANARI_INTERVAL is not a Kanari setting and no secret refers to it, so it is "
        "ignored (settings are KANARI_<FIELD>, nested with __: KANARI_CHANNELS__PORTAL__INTERVAL)"
    ]


def test_a_secret_reference_in_the_environment_short_form(valid_config: ConfigDir) -> None:
    moved = valid_config.path / "elsewhere-passord"
    private_file(moved, b"another-password\n")
    result = valid_config.check(KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD=f"file:{moved}")
    assert result.errors == []
    assert result.config is not None
    assert result.config.settings.channels.portal is not None
    assert result.config.settings.channels.portal.integrasjon_passord.value() == "another-password"


def test_malformed_json_in_an_environment_variable(valid_config: ConfigDir) -> None:
    assert only(valid_config, KANARI_SIGNING='{"key_file": 5') == (
        "environment: KANARI_SIGNING: cannot use the KANARI_ variables: error parsing value for field "
        '"signing" from source "_EnvironmentSource"; fix: give nested settings one per variable '
        "(KANARI_CHANNELS__PORTAL__INTERVAL=10m) or as JSON"
    )


# ---- never a secret ----------------------------------------------------------------------------------


def _set(data: dict[str | int, Any], path: tuple[str | int, ...], value: object) -> None:
    for part in path[:-1]:
        data = data.setdefault(part, {}) if isinstance(data, dict) else data[part]
    data[path[-1]] = value


SECRET = "hunter2-Sekret-9q"


@pytest.mark.parametrize("path", [*secret_paths(ProbeSettings)], ids=lambda path: ".".join(map(str, path)))
@pytest.mark.parametrize(
    "written",
    [SECRET, {"env": SECRET}, {"file": "x", "value": SECRET}, 12345678],
    ids=["as-value", "as-env-name", "beside-a-ref", "as-number"],
)
def test_no_secret_field_of_kanari_yaml_echoes_its_value(
    valid_config: ConfigDir, path: tuple[str | int, ...], written: object
) -> None:

    document = yaml.safe_load((valid_config.path / "kanari.yaml").read_text())
    if path[0] == "metrics":
        document["metrics"] = {"basic_auth_username": "prometheus"}
    _set(document, path, written)
    (valid_config.path / "kanari.yaml").write_text(yaml.safe_dump(document))
    result = valid_config.check()
    text = "\n".join([*(error.render() for error in result.errors), *result.warnings])
    assert result.errors, "a secret given as a value must be refused"
    assert SECRET not in text
    assert "12345678" not in text
    assert ".".join(map(str, path)) in text


@pytest.mark.parametrize("path", [*secret_paths(VendorsFile)], ids=lambda path: ".".join(map(str, path)))
def test_no_secret_field_of_vendors_yaml_echoes_its_value(
    valid_config: ConfigDir, path: tuple[str | int, ...]
) -> None:

    document = yaml.safe_load((valid_config.path / "vendors.yaml").read_text())
    _set(document, path, SECRET)
    (valid_config.path / "vendors.yaml").write_text(yaml.safe_dump(document))
    result = valid_config.check()
    assert result.errors
    assert SECRET not in "\n".join(error.render() for error in result.errors)


def test_secret_paths_cover_every_secret() -> None:
    assert sorted(".".join(map(str, path)) for path in secret_paths(ProbeSettings)) == [
        "channels.portal.integrasjon_passord",
        "ledger_postgres.password",
        "metrics.basic_auth_password",
    ]
    assert [".".join(map(str, path)) for path in secret_paths(VendorsFile)] == [
        "vendors.0.readback.auth.token"
    ]


@pytest.mark.parametrize(
    "variable", ["KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD", "KANARI_METRICS__BASIC_AUTH_PASSWORD"]
)
def test_a_secret_given_as_an_environment_value_is_refused_unechoed(
    valid_config: ConfigDir, variable: str
) -> None:
    extra = {"KANARI_METRICS__BASIC_AUTH_USERNAME": "prometheus"}
    problems = "\n".join(valid_config.problems(**{variable: SECRET}, **extra))
    assert f"environment variable {variable}" in problems
    assert SECRET not in problems


def test_printed_check_output_never_shows_secret_values(
    valid_config: ConfigDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:

    for name, value in valid_config.environ.items():
        monkeypatch.setenv(name, value)
    valid_config.edit(
        "kanari.yaml", "integrasjon_passord: {file: secrets/fiks-passord}", f"integrasjon_passord: {SECRET}"
    )
    assert main(["config", "check", "--config", str(valid_config.path)]) == 1
    out = capsys.readouterr().out
    assert "channels.portal.integrasjon_passord" in out
    for secret in (SECRET, "fiks-password-value", "readback-token-value"):
        assert secret not in out


def test_config_dir_class_is_usable_standalone(tmp_path: Path) -> None:
    directory = ConfigDir(tmp_path, {})
    directory.write("kanari.yaml", "instance: x\n")
    assert directory.problems()


def test_a_key_in_two_files_is_parsed_once_and_still_checked_in_each(valid_config: ConfigDir) -> None:
    # Maskinporten's key is often the business certificate's: parsing (and checking) an RSA key costs
    # tens of milliseconds, so the same bytes give the same key object.
    loaded = valid_config.check().config
    assert loaded is not None
    assert loaded.keys is not None
    assert loaded.keys.maskinporten_key is loaded.keys.business_key
    (valid_config.path / "secrets" / "virksomhetssertifikat.key.pem").chmod(0o644)
    assert any("virksomhetssertifikat.key.pem" in problem for problem in valid_config.problems())
