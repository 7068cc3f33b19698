"""When each configured key stops working (``Keys.expiries``, the source of
``kanari_key_expiry_timestamp_seconds``): the earliest notAfter of its certificate chain; no entry for a
key without a certificate."""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from tests.config.conftest import ConfigDir, certificate_pem


def test_only_keys_with_a_certificate_expire(valid_config: ConfigDir) -> None:
    result = valid_config.check()
    assert result.config is not None
    keys = result.config.keys
    assert keys is not None
    assert keys.business_chain is not None
    expiries = keys.expiries()
    # The marker key (Ed25519) and the Maskinporten key registered by kid have no expiry.
    assert set(expiries) == {"business_certificate"}
    assert expiries["business_certificate"] == keys.business_chain[0].not_valid_after_utc.timestamp()


def test_a_chain_expires_with_its_earliest_certificate(valid_config: ConfigDir, rsa_pem: bytes) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = certificate_pem(
        rsa_pem, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=300)
    )
    # An issuer that lapses before the leaf: the chain stops validating then.
    issuer = certificate_pem(
        rsa_pem, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=20)
    )
    (valid_config.path / "secrets" / "virksomhetssertifikat.pem").write_bytes(leaf + issuer)
    bundle = certificate_pem(
        rsa_pem, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=90)
    )
    (valid_config.path / "secrets" / "ca.pem").write_bytes(bundle)
    valid_config.edit("kanari.yaml", "readback:\n", "http:\n  ca_bundle: secrets/ca.pem\nreadback:\n")
    result = valid_config.check()
    assert result.errors == [], [error.render() for error in result.errors]
    assert result.config is not None
    assert result.config.keys is not None
    expiries = result.config.keys.expiries()
    issuer_expiry = x509.load_pem_x509_certificate(issuer).not_valid_after_utc.timestamp()
    bundle_expiry = x509.load_pem_x509_certificate(bundle).not_valid_after_utc.timestamp()
    assert expiries == {"business_certificate": issuer_expiry, "ca_bundle": bundle_expiry}
