"""A small, valid configuration directory to break one rule at a time.

:func:`valid_config` writes ``kanari.yaml``, ``vendors.yaml``, two municipality files, generated keys
(mode 0600) and secret files; every test changes one thing and asserts the exact message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from probe.config.loader import LoadResult, check_config

KANARI_YAML = """\
instance: kanari-test
listen: 127.0.0.1:9464
ledger: var/kanari.sqlite3
signing:
  key_file: secrets/marker.pem
  key_id: kanari-test-1
maskinporten:
  token_url: https://test.maskinporten.no/token
  audience: https://test.maskinporten.no/
  client_id: kanari-test
  key_file: secrets/maskinporten.pem
  key_id: kanari-test-1
channels:
  portal:
    base_url: https://api.fiks.test.ks.no/bekymringsmelding
    fiks_org_id: 00000000-0000-4000-8000-0000000000f1
    integrasjon_id: 00000000-0000-4000-8000-0000000000f2
    integrasjon_passord: {file: secrets/fiks-passord}
    interval: 15m
    deadline: 30m
    poll_interval: 30s
    normal_latency: 10m
  altinn:
    base_url: https://platform.tt02.altinn.no
    resource_id: kanari-test
    interval: 1h
    deadline: 8h
    poll_interval: 2m
    normal_latency: 4h
readback:
  poll_interval: 1m
"""
# Last in kanari.yaml, so the line numbers the tests assert for everything above stay as they were.
BUSINESS_CERTIFICATE_YAML = """\
business_certificate:
  certificate_chain_file: secrets/virksomhetssertifikat.pem
  key_file: secrets/virksomhetssertifikat.key.pem
"""
KANARI_YAML += BUSINESS_CERTIFICATE_YAML

VENDORS_YAML = """\
vendors:
  - id: fjordsys
    name: Fjordsystemer AS
    readback:
      base_url: https://readback.fjordsys.example
      auth:
        type: static
        token: {env: KANARI_TEST_READBACK_TOKEN}
    alert_receiver: {email: vakt@fjordsys.example}
  - id: plain
    name: Plain Saksbehandling AS
    alert_receiver: {email: vakt@plain.example}
"""

BERGEN = """\
kommunenummer: "4601"
name: Bergen
vendor: fjordsys
channels:
  portal: {}
  altinn: {}
"""

OSLO = """\
kommunenummer: "0301"
name: Oslo
vendor: plain
channels:
  portal:
    bydel: "01"
"""

ENVIRONMENT = {"KANARI_TEST_READBACK_TOKEN": "readback-token-value"}


@dataclasses.dataclass
class ConfigDir:
    """A configuration directory under test."""

    path: Path
    environ: dict[str, str]

    def write(self, name: str, text: str) -> Path:
        """Write (or overwrite) a file of the configuration, dedenting ``text``."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
        return target

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace ``old`` (which must be there) by ``new`` in a file."""
        target = self.path / name
        text = target.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {name}"
        target.write_text(text.replace(old, new, 1), encoding="utf-8")

    def check(self, *, with_secrets: bool = True, **environ: str) -> LoadResult:
        """``check_config`` on this directory with its environment (plus ``environ``)."""
        return self._check(environ, with_secrets)

    def problems(self, **environ: str) -> list[str]:
        """Every problem, rendered as ``kanari config check`` prints it."""
        return [error.render() for error in self._check(environ, with_secrets=True).errors]

    def _check(self, environ: Mapping[str, str], with_secrets: bool) -> LoadResult:
        return check_config(self.path, {**self.environ, **environ}, with_secrets=with_secrets)


@pytest.fixture(scope="session")
def rsa_pem() -> bytes:
    # Generating an RSA key takes a while; one per session is enough.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_file(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o600)


def certificate_pem(key_pem: bytes, *, not_before: dt.datetime, not_after: dt.datetime) -> bytes:
    """A self-signed certificate for the RSA key ``key_pem`` (a stand-in business certificate)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KANARI TEST VIRKSOMHET")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def business_certificate(key_pem: bytes, days_left: float = 365) -> bytes:
    """A business certificate for ``key_pem`` valid since yesterday for ``days_left`` more days."""
    now = dt.datetime.now(dt.UTC)
    return certificate_pem(
        key_pem, not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=days_left)
    )


def ed25519_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def valid_config(tmp_path: Path, rsa_pem: bytes) -> ConfigDir:
    """A valid configuration: two municipalities, two vendors, both channels, secrets present."""
    directory = ConfigDir(tmp_path / "config", dict(ENVIRONMENT))
    directory.write("kanari.yaml", KANARI_YAML)
    directory.write("vendors.yaml", VENDORS_YAML)
    directory.write("municipalities/4601-bergen.yaml", BERGEN)
    directory.write("municipalities/0301-oslo.yaml", OSLO)
    private_file(directory.path / "secrets" / "marker.pem", ed25519_pem())
    private_file(directory.path / "secrets" / "maskinporten.pem", rsa_pem)
    private_file(directory.path / "secrets" / "fiks-passord", b"fiks-password-value\n")
    private_file(directory.path / "secrets" / "virksomhetssertifikat.key.pem", rsa_pem)
    (directory.path / "secrets" / "virksomhetssertifikat.pem").write_bytes(business_certificate(rsa_pem))
    result = directory.check()
    assert result.errors == [], [error.render() for error in result.errors]
    return directory
