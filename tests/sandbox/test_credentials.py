"""The state dir: secrets at mode 0600, reuse across restarts, consistency repairs, TLS files."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from probe.sandbox.certs import new_key, orgnr_of, verify_chain
from probe.sandbox.credentials import KANARI_ORGNR, load_or_create
from probe.sandbox.manifest import load_manifest, write_manifest
from probe.sandbox.settings import SandboxSettings
from probe.sandbox.world import World

SECRETS = (
    "maskinporten-client.key.pem",
    "maskinporten-recipient.key.pem",
    "fiks-integrasjon-passord",
    "readback-fjordsys.token",
    "readback-vidde.token",
    "readback-kystdata.token",
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_dir_files_and_modes(tmp_path: Path) -> None:
    world = World.build(SandboxSettings(state_dir=tmp_path, tls=True), "https://127.0.0.1:8443")
    manifest_path = write_manifest(world)
    for name in SECRETS:
        assert mode(tmp_path / name) == 0o600, name
    assert not (tmp_path / "readback-nordlys.token").exists()  # Maskinporten-scoped read-back
    assert not (tmp_path / "readback-papirlos.token").exists()  # no read-back API
    assert mode(tmp_path / "internal") == 0o700
    for key in (tmp_path / "internal").glob("*.key.pem"):
        assert mode(key) == 0o600, key
    assert mode(tmp_path / "ca.pem") == 0o644
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == "*"
    chain = x509.load_pem_x509_certificates((tmp_path / "maskinporten-client.chain.pem").read_bytes())
    assert len(chain) == 2
    assert KANARI_ORGNR in orgnr_of(chain[0])
    assert verify_chain(chain, world.credentials.business_ca.certificate, world.clock.now()) == chain[0]
    client_pem = (tmp_path / "maskinporten-client.key.pem").read_bytes()
    client_key = serialization.load_pem_private_key(client_pem, None)
    assert chain[0].public_key() == client_key.public_key()
    manifest = load_manifest(tmp_path)
    assert manifest == load_manifest(manifest_path)
    assert manifest.tls
    assert manifest.ca_file == (tmp_path / "ca.pem").resolve()
    text = manifest_path.read_text()
    for name in SECRETS:
        secret = (tmp_path / name).read_text().strip()
        assert secret not in text


def test_credentials_are_reused_and_repaired(tmp_path: Path) -> None:
    first = load_or_create(tmp_path, ["fjordsys"], ["fjordsys"], tls=False)
    again = load_or_create(tmp_path, ["fjordsys"], ["fjordsys"], tls=False)
    assert again.integrasjon_passord == first.integrasjon_passord
    assert again.readback_tokens == first.readback_tokens
    assert again.client_chain == first.client_chain
    assert again.client_key.public_key() == first.client_key.public_key()
    # Someone replaces the client key: the chain is reissued for the new key.
    replacement = new_key()
    (tmp_path / "maskinporten-client.key.pem").write_bytes(
        replacement.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "fiks-integrasjon-passord").write_text("")
    repaired = load_or_create(tmp_path, ["fjordsys"], ["fjordsys"], tls=False)
    assert repaired.client_chain[0].public_key() == replacement.public_key()
    assert repaired.integrasjon_passord
    assert repaired.integrasjon_passord != first.integrasjon_passord
    (tmp_path / "maskinporten-recipient.key.pem").write_text("not a key")
    assert load_or_create(tmp_path, ["fjordsys"], [], tls=False).recipient_key is not None
