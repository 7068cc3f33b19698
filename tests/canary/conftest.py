"""Fixtures shared by the canary tests: signing keys, a signed subject, recipient certificates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from probe.canary.content import CanarySubject
from probe.canary.identity import synthetic_fnr
from probe.canary.marker import MarkerSigner
from probe.hops import Channel

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
CANARY_ID = "0b6f3c1e-8f1d-4c56-9a3e-5f2d7c9b1a42"


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signer(signing_key: Ed25519PrivateKey) -> MarkerSigner:
    return MarkerSigner(signing_key, "kanari-1")


def make_subject(signer: MarkerSigner, **changes: Any) -> CanarySubject:
    """A canary subject for Bergen, with ``changes`` applied and then signed."""
    unsigned = CanarySubject(
        canary_id=CANARY_ID,
        channel=Channel.PORTAL,
        kommunenummer="4601",
        kommunenavn="Bergen",
        bydelsnummer="02",
        bydelsnavn="Bergenhus",
        marker="",
        created_at=float(NOW),
        child_fnr=synthetic_fnr(random.Random(7), dt.date(2016, 5, 17)),
    )
    unsigned = dataclasses.replace(unsigned, **changes)
    marker = signer.sign(
        unsigned.canary_id, unsigned.channel, unsigned.kommunenummer, int(unsigned.created_at)
    )
    return dataclasses.replace(unsigned, marker=marker)


@pytest.fixture
def subject(signer: MarkerSigner) -> CanarySubject:
    return make_subject(signer)


# A Fiks IO recipient: the private key that decrypts and the certificate senders encrypt to.
Recipient = tuple[rsa.RSAPrivateKey, x509.Certificate]


def make_recipient(common_name: str) -> Recipient:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


@pytest.fixture(scope="session")
def recipient() -> Recipient:
    return make_recipient("Fiktiv fagsystem Fiks IO")


@pytest.fixture(scope="session")
def other_recipient() -> Recipient:
    return make_recipient("Fiktiv annen mottaker")
