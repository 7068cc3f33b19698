"""Configuration the real services' contracts need: the business certificate that signs the ASiC-E, a
marker key id that fits Altinn's propertyList, confidential Altinn mail and its resources, the portal's
report version and time zone, and a separate test-environment recipient."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from probe.config.models import MAX_KEY_ID_LENGTH
from probe.config.routes import Route
from probe.hops import Channel
from tests.config.conftest import ConfigDir, business_certificate
from tests.config.test_validation import only


def route_of(config: ConfigDir, channel: Channel, kommunenummer: str) -> Route:
    result = config.check()
    assert result.errors == [], [error.render() for error in result.errors]
    assert result.config is not None
    return next(r for r in result.config.routes if r.key == (channel, kommunenummer))


def test_a_key_id_that_would_overflow_altinns_property_value_is_an_error(valid_config: ConfigDir) -> None:
    long_id = "k" * (MAX_KEY_ID_LENGTH + 1)
    valid_config.edit(
        "kanari.yaml", "  key_id: kanari-test-1\nmaskinporten", f"  key_id: {long_id}\nmaskinporten"
    )
    assert only(valid_config) == (
        f"kanari.yaml:6: signing.key_id: a key id of {MAX_KEY_ID_LENGTH + 1} characters would make "
        "the marker longer than the 300 characters Altinn allows in a propertyList value; use at most "
        f"{MAX_KEY_ID_LENGTH} characters (value: '{long_id}')"
    )


def test_the_portal_needs_the_business_certificate(valid_config: ConfigDir) -> None:
    text = (valid_config.path / "kanari.yaml").read_text()
    valid_config.write("kanari.yaml", text.split("business_certificate:")[0])
    problem = only(valid_config)
    assert problem.startswith(
        "kanari.yaml:14: business_certificate: the portal channel needs the business certificate"
    )
    assert "fix: add business_certificate:" in problem


def test_a_business_certificate_for_another_key_is_an_error(valid_config: ConfigDir, rsa_pem: bytes) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (valid_config.path / "secrets" / "virksomhetssertifikat.pem").write_bytes(business_certificate(other))
    assert only(valid_config) == (
        "kanari.yaml:33: business_certificate.certificate_chain_file: the first certificate is not for "
        "business_certificate.key_file (value: 'secrets/virksomhetssertifikat.pem'); fix: put the business "
        "certificate of that key first, then its issuers"
    )


def test_an_expired_business_certificate_is_an_error_and_one_expiring_soon_a_warning(
    valid_config: ConfigDir, rsa_pem: bytes
) -> None:
    certificate = valid_config.path / "secrets" / "virksomhetssertifikat.pem"
    certificate.write_bytes(business_certificate(rsa_pem, days_left=-1))
    problem = only(valid_config)
    assert problem.startswith(
        "kanari.yaml:33: business_certificate.certificate_chain_file: the certificate is not valid now"
    )
    certificate.write_bytes(business_certificate(rsa_pem, days_left=10.5))
    result = valid_config.check()
    assert result.errors == []
    expiring = [w for w in result.warnings if "expires" in w]
    assert len(expiring) == 1
    assert expiring[0].startswith(
        "kanari.yaml:33: business_certificate.certificate_chain_file: the certificate expires on "
    )
    assert expiring[0].endswith("(10 days left); renew it and register the new one")


@pytest.mark.parametrize("number", ["964338530", "12345678", "9643385311", "abcdefghi"])
def test_a_test_recipient_that_is_not_an_organisation_number_is_an_error(
    valid_config: ConfigDir, number: str
) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml",
        "altinn: {}",
        f"altinn: {{recipient_organisasjonsnummer: '{number}'}}",
    )
    problem = only(valid_config)
    assert problem.startswith(
        "municipalities/4601-bergen.yaml:6: channels.altinn.recipient_organisasjonsnummer: "
    )
    assert f"(value: '{number}')" in problem


def test_a_test_recipient_receives_the_altinn_canary(valid_config: ConfigDir) -> None:
    valid_config.edit(
        "municipalities/4601-bergen.yaml",
        "altinn: {}",
        "altinn: {recipient_organisasjonsnummer: '311429132'}",
    )
    route = route_of(valid_config, Channel.ALTINN, "4601")
    assert route.orgnr == "311429132"


def test_altinn_canaries_are_confidential_unless_a_route_says_otherwise(valid_config: ConfigDir) -> None:
    assert route_of(valid_config, Channel.ALTINN, "4601").confidential is True
    valid_config.edit("municipalities/4601-bergen.yaml", "altinn: {}", "altinn: {confidential: false}")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:6: channels.altinn.confidential: Altinn refuses ordinary mail on a "
        "resource for confidential mail (error 1060), and kanari.yaml names no other resource "
        "(value: False); "
        "fix: set channels.altinn.ordinary_resource_id in kanari.yaml, or remove confidential: false"
    )
    valid_config.edit(
        "kanari.yaml",
        "    resource_id: kanari-test",
        "    resource_id: kanari-test\n    ordinary_resource_id: kanari-ordinary",
    )
    assert route_of(valid_config, Channel.ALTINN, "4601").confidential is False


def test_the_report_version_is_negotiated_unless_a_portal_route_pins_it(valid_config: ConfigDir) -> None:
    assert route_of(valid_config, Channel.PORTAL, "4601").api_version == "auto"
    valid_config.edit("municipalities/4601-bergen.yaml", "portal: {}", "portal: {api_version: v1}")
    assert route_of(valid_config, Channel.PORTAL, "4601").api_version == "v1"
    valid_config.edit("municipalities/4601-bergen.yaml", "altinn: {}", "altinn: {api_version: v1}")
    assert only(valid_config) == (
        "municipalities/4601-bergen.yaml:6: channels.altinn.api_version: only the portal channel has "
        "api_version (value: 'v1'); fix: move it to channels.portal.api_version, or remove it"
    )


def test_the_time_zone_must_be_a_real_one(valid_config: ConfigDir) -> None:
    valid_config.edit("kanari.yaml", "    fiks_org_id", "    time_zone: Europe/Bergen\n    fiks_org_id")
    problem = only(valid_config)
    assert problem.startswith(
        "kanari.yaml:16: channels.portal.time_zone: must be an IANA time zone such as Europe/Oslo"
    )
    assert "(value: 'Europe/Bergen')" in problem
