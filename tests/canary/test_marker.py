"""The signed marker: wire format, verification failures, rotation, key files and the JWKS."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from probe.canary.marker import (
    MarkerPayload,
    MarkerSigner,
    MarkerVerifier,
    find_markers,
    jwks,
    public_keys_from_jwks,
)
from probe.config.keyfiles import generate_signing_key, load_public_key, load_signing_key
from probe.config.models import MAX_KEY_ID_LENGTH
from probe.errors import ConfigError, MarkerError
from probe.hops import Channel

from .conftest import CANARY_ID, NOW

DAY = 86_400.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_raw(key: Ed25519PrivateKey, payload: bytes | str) -> str:
    """A correctly signed marker around any payload bytes, to reach the payload checks."""
    raw = payload.encode() if isinstance(payload, str) else payload
    signed = f"KANARI1.{b64(raw)}"
    return f"{signed}.{b64(key.sign(signed.encode()))}"


def payload_json(**changes: object) -> str:
    """A payload's JSON with ``changes``; a field changed to ``...`` is left out."""
    fields: dict[str, object] = {"id": CANARY_ID, "ch": "portal", "kn": "0301", "iat": NOW, "kid": "kanari-1"}
    fields.update(changes)
    return json.dumps(
        {key: value for key, value in fields.items() if value is not ...}, separators=(",", ":")
    )


@pytest.fixture
def verifier(signing_key: Ed25519PrivateKey) -> MarkerVerifier:
    return MarkerVerifier({"kanari-1": signing_key.public_key()}, max_age_seconds=DAY)


# The wire format ----------------------------------------------------------------------------------------


def test_marker_has_the_exact_wire_format(signer: MarkerSigner, signing_key: Ed25519PrivateKey) -> None:
    marker = signer.sign(CANARY_ID, Channel.PORTAL, "0301", NOW)

    prefix, payload, signature = marker.split(".")
    assert prefix == "KANARI1"
    assert "=" not in marker
    assert unb64(payload) == (
        f'{{"id":"{CANARY_ID}","ch":"portal","kn":"0301","iat":{NOW},"kid":"kanari-1"}}'.encode()
    )
    # Ed25519 over the ASCII bytes of "KANARI1.<payload>", checked with the library directly.
    signing_key.public_key().verify(unb64(signature), f"KANARI1.{payload}".encode("ascii"))


def test_marker_round_trips(signer: MarkerSigner, verifier: MarkerVerifier) -> None:
    marker = signer.sign(CANARY_ID, Channel.ALTINN, "4601", NOW)

    assert verifier.verify(marker, NOW + 60) == MarkerPayload(
        canary_id=CANARY_ID, channel="altinn", kommunenummer="4601", issued_at=NOW, key_id="kanari-1"
    )


@given(
    canary_id=st.uuids(),
    channel=st.sampled_from(list(Channel)),
    kommunenummer=st.from_regex(r"\A[0-9]{4}\Z"),
    issued_at=st.integers(min_value=0, max_value=2**40),
    # Key ids as the configuration allows them (probe.config.models.SigningSettings): every such marker
    # fits an Altinn propertyList value.
    key_id=st.from_regex(rf"\A[A-Za-z0-9._-]{{1,{MAX_KEY_ID_LENGTH}}}\Z"),
)
def test_any_signed_marker_verifies_and_is_found_in_text(
    canary_id: uuid.UUID, channel: Channel, kommunenummer: str, issued_at: int, key_id: str
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    marker = MarkerSigner(key, key_id).sign(str(canary_id), channel, kommunenummer, issued_at)

    payload = MarkerVerifier({key_id: key.public_key()}, max_age_seconds=10).verify(marker, issued_at)

    assert payload == MarkerPayload(str(canary_id), channel.value, kommunenummer, issued_at, key_id)
    assert find_markers(f"Kanari-markør: {marker}\nmer tekst") == [marker]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (("not-a-uuid", "portal", "0301", NOW), "id"),
        ((CANARY_ID, "fax", "0301", NOW), "ch"),
        ((CANARY_ID, "portal", "301", NOW), "kn"),
        ((CANARY_ID, "portal", "0301", -1), "iat"),
    ],
)
def test_signer_refuses_what_the_verifier_would_refuse(
    signer: MarkerSigner, arguments: tuple[str, str, str, int], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        signer.sign(*arguments)


def test_signer_refuses_a_marker_that_would_not_fit_an_altinn_property_value(
    signing_key: Ed25519PrivateKey,
) -> None:
    with pytest.raises(ValueError, match="longer than 300"):
        MarkerSigner(signing_key, "k" * 800).sign(CANARY_ID, "portal", "0301", NOW)
    with pytest.raises(ValueError, match="longer than 300"):
        MarkerSigner(signing_key, "k" * (MAX_KEY_ID_LENGTH + 9)).sign(CANARY_ID, "altinn", "0301", NOW)


def test_the_longest_key_id_configuration_allows_still_fits_altinn(signing_key: Ed25519PrivateKey) -> None:
    # The longest channel name, a ten-digit iat (until the year 2286): the worst case the bound covers.
    marker = MarkerSigner(signing_key, "k" * MAX_KEY_ID_LENGTH).sign(
        CANARY_ID, "altinn", "0301", 9_999_999_999
    )
    assert len(marker) <= 300


def test_signer_and_verifier_need_keys(signing_key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="key id"):
        MarkerSigner(signing_key, "")
    with pytest.raises(ValueError, match="public key"):
        MarkerVerifier({}, max_age_seconds=DAY)


# Verification failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "marker",
    [
        "",
        "KANARI1",
        "KANARI1.abc",
        "KANARI1..sig",
        "KANARI1.abc.",
        "KANARI1.a.b.c",
        "KANARI2.abc.def",
        "kanari1.abc.def",
        "Bearer KANARI1.abc.def",
        "KANARI1." + "a" * 2000 + ".b",
    ],
)
def test_wrong_shape_is_refused(verifier: MarkerVerifier, marker: str) -> None:
    with pytest.raises(MarkerError, match="not a Kanari marker"):
        verifier.verify(marker, NOW)


def test_non_string_is_refused(verifier: MarkerVerifier) -> None:
    with pytest.raises(MarkerError, match="not a Kanari marker"):
        verifier.verify(b"KANARI1.abc.def", NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "signature", "part"),
    [
        ("eyJp*ZCI", "AAAA", "payload"),
        ("eyJpZCI=", "AAAA", "payload"),  # padding is not part of the format
        ("eyJpZ", "AAAA", "payload"),  # a length no base64 text can have
        ("eyJpZCI6MX0", "AA+A", "signature"),
    ],
)
def test_bad_base64_is_refused(verifier: MarkerVerifier, payload: str, signature: str, part: str) -> None:
    with pytest.raises(MarkerError, match=f"{part} is not base64url"):
        verifier.verify(f"KANARI1.{payload}.{signature}", NOW)


@pytest.mark.parametrize("payload", [b"not json", b"\xff\xfe", b'{"id": '])
def test_payload_that_is_not_json_is_refused(
    verifier: MarkerVerifier, signing_key: Ed25519PrivateKey, payload: bytes
) -> None:
    with pytest.raises(MarkerError, match="payload is not JSON"):
        verifier.verify(signed_raw(signing_key, payload), NOW)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("[1, 2]", "not a JSON object"),
        ('"KANARI"', "not a JSON object"),
        (payload_json(id=...), "missing id"),
        (payload_json(iat=..., kid=...), "missing iat, kid"),
        (payload_json(extra=1), "unexpected extra"),
        (payload_json(id="not-a-uuid"), "id is not a UUID"),
        (payload_json(id=CANARY_ID.upper()), "id is not a UUID"),
        (payload_json(id=42), "id is not a UUID"),
        (payload_json(ch="fax"), "ch is not a channel"),
        (payload_json(ch=None), "ch is not a channel"),
        (payload_json(kn="301"), "kn is not a kommunenummer"),
        (payload_json(kn=301), "kn is not a kommunenummer"),
        (payload_json(iat=str(NOW)), "iat is not Unix seconds"),
        (payload_json(iat=float(NOW)), "iat is not Unix seconds"),
        (payload_json(iat=True), "iat is not Unix seconds"),
        (payload_json(iat=-5), "iat is not Unix seconds"),
        (payload_json(kid=""), "kid is not a key id"),
        (payload_json(kid=["kanari-1"]), "kid is not a key id"),
    ],
)
def test_payload_with_missing_or_wrongly_typed_fields_is_refused(
    verifier: MarkerVerifier, signing_key: Ed25519PrivateKey, payload: str, problem: str
) -> None:
    with pytest.raises(MarkerError, match=f"bad payload: {problem}"):
        verifier.verify(signed_raw(signing_key, payload), NOW)


def test_unknown_key_id_is_refused(verifier: MarkerVerifier, signing_key: Ed25519PrivateKey) -> None:
    marker = MarkerSigner(signing_key, "somebody-else").sign(CANARY_ID, "portal", "0301", NOW)

    with pytest.raises(MarkerError, match="unknown key id 'somebody-else'"):
        verifier.verify(marker, NOW)


def test_forged_marker_is_refused(verifier: MarkerVerifier) -> None:
    """Signed by another key that claims the real kid."""
    forger = MarkerSigner(Ed25519PrivateKey.generate(), "kanari-1")

    with pytest.raises(MarkerError, match=r"bad signature \(forged or altered\)"):
        verifier.verify(forger.sign(CANARY_ID, "portal", "0301", NOW), NOW)


def test_altered_payload_is_refused(signer: MarkerSigner, verifier: MarkerVerifier) -> None:
    """The payload of another route grafted onto a genuine signature."""
    _, _, signature = signer.sign(CANARY_ID, "portal", "0301", NOW).split(".")
    altered = b64(payload_json(kn="4601").encode())

    with pytest.raises(MarkerError, match=r"bad signature \(forged or altered\)"):
        verifier.verify(f"KANARI1.{altered}.{signature}", NOW)


def test_payload_reencoded_with_spaces_is_refused(signer: MarkerSigner, verifier: MarkerVerifier) -> None:
    """The signature covers the payload text as written, not its meaning."""
    _, payload, signature = signer.sign(CANARY_ID, "portal", "0301", NOW).split(".")
    respaced = b64(json.dumps(json.loads(unb64(payload))).encode())

    with pytest.raises(MarkerError, match="bad signature"):
        verifier.verify(f"KANARI1.{respaced}.{signature}", NOW)


def test_altered_signature_is_refused(signer: MarkerSigner, verifier: MarkerVerifier) -> None:
    prefix, payload, signature = signer.sign(CANARY_ID, "portal", "0301", NOW).split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 0x01

    with pytest.raises(MarkerError, match=r"bad signature \(forged or altered\)"):
        verifier.verify(f"{prefix}.{payload}.{b64(bytes(raw))}", NOW)


def test_truncated_signature_is_refused(signer: MarkerSigner, verifier: MarkerVerifier) -> None:
    marker = signer.sign(CANARY_ID, "portal", "0301", NOW)

    with pytest.raises(MarkerError, match=r"bad signature \(wrong length\)"):
        verifier.verify(marker[:-8], NOW)


def test_expired_marker_is_refused_and_the_last_valid_second_passes(
    signer: MarkerSigner, verifier: MarkerVerifier
) -> None:
    marker = signer.sign(CANARY_ID, "portal", "0301", NOW)

    assert verifier.verify(marker, NOW + DAY).issued_at == NOW
    with pytest.raises(MarkerError, match=r"expired \(issued 86401 s ago\)"):
        verifier.verify(marker, NOW + DAY + 1)


def test_marker_from_the_future_is_refused_beyond_the_skew(signing_key: Ed25519PrivateKey) -> None:
    verifier = MarkerVerifier({"kanari-1": signing_key.public_key()}, DAY, max_future_skew_seconds=60)
    marker = MarkerSigner(signing_key, "kanari-1").sign(CANARY_ID, "portal", "0301", NOW)

    assert verifier.verify(marker, NOW - 60).issued_at == NOW
    with pytest.raises(MarkerError, match=r"issued in the future \(61 s ahead\)"):
        verifier.verify(marker, NOW - 61)


def test_default_future_skew_is_five_minutes(signer: MarkerSigner, verifier: MarkerVerifier) -> None:
    marker = signer.sign(CANARY_ID, "portal", "0301", NOW)

    verifier.verify(marker, NOW - 300)
    with pytest.raises(MarkerError, match="future"):
        verifier.verify(marker, NOW - 301)


def test_errors_never_carry_key_material(signing_key: Ed25519PrivateKey, verifier: MarkerVerifier) -> None:
    public_x = jwks({"k": signing_key.public_key()})["keys"][0]["x"]
    private_raw = b64(
        signing_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    )
    forger = MarkerSigner(Ed25519PrivateKey.generate(), "kanari-1")
    for marker in ("nonsense", forger.sign(CANARY_ID, "portal", "0301", NOW), signed_raw(signing_key, "[]")):
        with pytest.raises(MarkerError) as caught:
            verifier.verify(marker, NOW)
        assert public_x not in str(caught.value)
        assert private_raw not in str(caught.value)


# Key rotation -------------------------------------------------------------------------------------------


def test_rotation_verifies_markers_of_every_published_key() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = MarkerVerifier({"2025": old.public_key(), "2026": new.public_key()}, DAY)
    old_marker = MarkerSigner(old, "2025").sign(CANARY_ID, "portal", "0301", NOW)
    new_marker = MarkerSigner(new, "2026").sign(CANARY_ID, "portal", "0301", NOW)

    assert verifier.verify(old_marker, NOW).key_id == "2025"
    assert verifier.verify(new_marker, NOW).key_id == "2026"
    # Each key is found by its kid: the new key under the old kid does not verify.
    with pytest.raises(MarkerError, match="bad signature"):
        verifier.verify(MarkerSigner(new, "2025").sign(CANARY_ID, "portal", "0301", NOW), NOW)
    # Once the old key is retired, its markers name an unknown kid.
    with pytest.raises(MarkerError, match="unknown key id '2025'"):
        MarkerVerifier({"2026": new.public_key()}, DAY).verify(old_marker, NOW)


# Finding markers in text --------------------------------------------------------------------------------


def test_find_markers_pulls_every_marker_out_of_free_text(signer: MarkerSigner) -> None:
    first = signer.sign(CANARY_ID, "portal", "0301", NOW)
    second = signer.sign(str(uuid.uuid4()), "altinn", "4601", NOW)
    text = f"Hei.\nKanari-markør: {first}\nSe `{second}`. Slutt."

    assert find_markers(text) == [first, second]


@pytest.mark.parametrize("text", ["", "ingen markør her", "KANARI1.abc", "XKANARI1.abc.def", "KANARI1..def"])
def test_find_markers_ignores_what_is_not_marker_shaped(text: str) -> None:
    assert find_markers(text) == []


# Key files ----------------------------------------------------------------------------------------------


def test_generated_key_is_private_pkcs8_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "marker.pem"
    old_umask = os.umask(0)  # a permissive umask must not widen the file
    try:
        generate_signing_key(path)
    finally:
        os.umask(old_umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_signing_key(path)
    marker = MarkerSigner(key, "k").sign(CANARY_ID, "portal", "0301", NOW)
    assert MarkerVerifier({"k": key.public_key()}, DAY).verify(marker, NOW).key_id == "k"


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "marker.pem"
    generate_signing_key(path)
    before = path.read_bytes()

    with pytest.raises(ConfigError, match="refusing to overwrite") as caught:
        generate_signing_key(path)

    assert caught.value.file == str(path)
    assert caught.value.field == "key_file"
    assert path.read_bytes() == before


def test_key_cannot_be_written_where_there_is_no_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot create key file"):
        generate_signing_key(tmp_path / "missing" / "marker.pem")


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        (0o644, "readable by others"),
        (0o604, "readable by others"),
        (0o444, "readable by others"),
        (0o664, "readable by others"),
        (0o660, "writable by its group"),
        (0o620, "writable by its group"),
        (0o650, "writable by its group"),
    ],
)
def test_key_others_can_read_or_the_group_write_is_refused(tmp_path: Path, mode: int, problem: str) -> None:
    path = tmp_path / "marker.pem"
    generate_signing_key(path)
    path.chmod(mode)

    with pytest.raises(ConfigError) as caught:
        load_signing_key(path)

    error = caught.value
    assert (error.file, error.field, error.value) == (str(path), "key_file", str(path))
    assert f"{problem} (mode {oct(mode)})" in error.message
    assert (
        error.hint == f"chmod 600 {path} (or 0440 with the file's group, as a Kubernetes Secret is mounted)"
    )
    assert "PRIVATE KEY" not in str(error)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o440])
def test_key_the_owner_or_its_group_can_read_is_accepted(tmp_path: Path, mode: int) -> None:
    # 0440 with the pod's fsGroup is how Kubernetes mounts a Secret for a non-root container.
    path = tmp_path / "marker.pem"
    generate_signing_key(path)
    path.chmod(mode)

    assert isinstance(load_signing_key(path), Ed25519PrivateKey)


def test_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read key file"):
        load_signing_key(tmp_path / "absent.pem")


def test_garbled_key_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "marker.pem"
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWdhcmJhZ2U=\n-----END PRIVATE KEY-----\n")
    path.chmod(0o600)

    with pytest.raises(ConfigError, match="not an unencrypted PEM private key") as caught:
        load_signing_key(path)

    assert "c2VjcmV0" not in str(caught.value)


def test_key_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)

    with pytest.raises(ConfigError, match="not an Ed25519 private key"):
        load_signing_key(path)


def test_previous_public_key_loads_whatever_its_permissions(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    path = tmp_path / "old.pub.pem"
    path.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    path.chmod(0o644)

    assert load_public_key(path) == signing_key.public_key()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read public key file"),
        (b"not a key", "not a PEM public key"),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=1024)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            "not an Ed25519 public key",
        ),
    ],
)
def test_bad_public_key_file_is_a_config_error(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "old.pub.pem"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(ConfigError, match=problem) as caught:
        load_public_key(path)

    assert caught.value.field == "public_key_file"


# JWKS ---------------------------------------------------------------------------------------------------


def test_jwks_lists_every_key_sorted_by_kid() -> None:
    keys = {kid: Ed25519PrivateKey.generate().public_key() for kid in ("b", "a", "c")}

    document = jwks(keys)

    assert [entry["kid"] for entry in document["keys"]] == ["a", "b", "c"]
    for entry in document["keys"]:
        assert set(entry) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (entry["kty"], entry["crv"], entry["use"], entry["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
        assert "=" not in entry["x"]
        assert unb64(entry["x"]) == keys[entry["kid"]].public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    assert json.loads(json.dumps(document)) == document


def test_jwks_round_trips_into_a_verifier(signing_key: Ed25519PrivateKey, signer: MarkerSigner) -> None:
    served = json.loads(json.dumps(jwks({"kanari-1": signing_key.public_key()})))

    verifier = MarkerVerifier(public_keys_from_jwks(served), DAY)

    assert verifier.verify(signer.sign(CANARY_ID, "portal", "0301", NOW), NOW).canary_id == CANARY_ID


def test_jwks_reader_skips_keys_of_other_types(signing_key: Ed25519PrivateKey) -> None:
    document = jwks({"kanari-1": signing_key.public_key()})
    document["keys"].insert(0, {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"})

    assert list(public_keys_from_jwks(document)) == ["kanari-1"]


def _entry(**changes: object) -> dict[str, object]:
    """A JWKS key entry with ``changes``; a field changed to ``...`` is left out."""
    entry: dict[str, object] = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64(bytes(32)),
        "kid": "k",
        "use": "sig",
        "alg": "EdDSA",
    }
    entry.update(changes)
    return {key: value for key, value in entry.items() if value is not ...}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "not a JWKS"),
        ({"keys": "none"}, "not a JWKS"),
        ({}, "not a JWKS"),
        ({"keys": ["k"]}, "key 0 is not an object"),
        ({"keys": [_entry(kid=...)]}, "key 0 has no kid"),
        ({"keys": [_entry(kid="")]}, "key 0 has no kid"),
        ({"keys": [_entry(), _entry()]}, "kid 'k' appears twice"),
        ({"keys": [_entry(use="enc")]}, "not an EdDSA signing key"),
        ({"keys": [_entry(alg="ES256")]}, "not an EdDSA signing key"),
        ({"keys": [_entry(x=...)]}, "has no x"),
        ({"keys": [_entry(x="AA==")]}, "x is not base64url"),
        ({"keys": [_entry(x=b64(bytes(31)))]}, "x is not 32 bytes"),
        ({"keys": []}, "no Ed25519 keys"),
        ({"keys": [{"kty": "OKP", "crv": "X25519", "x": b64(bytes(32)), "kid": "x"}]}, "no Ed25519 keys"),
    ],
)
def test_bad_jwks_is_refused(document: object, problem: str) -> None:
    with pytest.raises(MarkerError, match=problem):
        public_keys_from_jwks(document)
