"""The canary's signed marker (DESIGN 3.5): how a receiving system tells a canary from a real report.

A marker is ``KANARI1.<payload>.<signature>``. Both parts are base64url without padding; the payload is
compact JSON (no spaces) with the keys in this order::

    {"id": "<canary uuid>", "ch": "<channel>", "kn": "<kommunenummer>",
     "iat": <unix seconds>, "kid": "<key id>"}

and the signature is Ed25519 over the ASCII bytes ``KANARI1.<payload>`` (the text exactly as written, so
re-encoding the JSON differently can never produce a marker that verifies). The public keys are served as a
JWKS so vendors can verify markers themselves: a receiving system may hide or auto-close a report only after
the signature verifies, because an unsigned "this is a test" flag would let anyone suppress a real report.

Keys rotate by ``kid``: the verifier holds the current public key and those still in use by canaries in
flight, and picks the one the payload names.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from probe.errors import MarkerError
from probe.hops import Channel

PREFIX = "KANARI1"

# Every marker-shaped token: the prefix, then two base64url runs separated by a dot. The runs stop at any
# character outside the alphabet, so a marker followed by a full stop, a backtick or a line break is found
# whole. Shape only: whether it is genuine is for :meth:`MarkerVerifier.verify` to say.
MARKER_PATTERN = re.compile(rf"(?<![A-Za-z0-9_-]){PREFIX}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

# A real marker is about 220 characters; anything far longer is refused before decoding it.
MAX_MARKER_LENGTH = 1024
# Every marker Kanari signs must fit an Altinn propertyList value (at most 300 characters).
MAX_SIGNED_LENGTH = 300
SIGNATURE_LENGTH = 64
RAW_PUBLIC_KEY_LENGTH = 32
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_KOMMUNENUMMER = re.compile(r"\d{4}")
_FIELDS = ("id", "ch", "kn", "iat", "kid")
_CHANNELS = frozenset(channel.value for channel in Channel)


@dataclasses.dataclass(frozen=True, slots=True)
class MarkerPayload:
    """What a verified marker says: which canary, on which route, when, signed with which key."""

    canary_id: str
    channel: str
    kommunenummer: str
    issued_at: int
    key_id: str


class MarkerSigner:
    """Signs markers with the probe's current Ed25519 key, published under ``key_id``."""

    def __init__(self, private_key: Ed25519PrivateKey, key_id: str) -> None:
        if not key_id:
            raise ValueError("a signing key needs a non-empty key id")
        self._key = private_key
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        """The ``kid`` every marker from this signer names."""
        return self._key_id

    def sign(self, canary_id: str, channel: str, kommunenummer: str, issued_at: int) -> str:
        """The marker of one canary. ``channel`` may be a :class:`~probe.hops.Channel` (a ``str``).

        Raises ``ValueError`` for inputs the verifier would refuse, so a bad marker is never sent.
        """
        payload = {
            "id": canary_id,
            "ch": str(channel),
            "kn": kommunenummer,
            "iat": issued_at,
            "kid": self._key_id,
        }
        problem = _payload_problem(payload)
        if problem:
            raise ValueError(f"cannot sign marker: {problem}")
        encoded = _b64encode(json.dumps(payload, separators=(",", ":")).encode("ascii"))
        signed = f"{PREFIX}.{encoded}"
        marker = f"{signed}.{_b64encode(self._key.sign(signed.encode('ascii')))}"
        if len(marker) > MAX_SIGNED_LENGTH:
            raise ValueError(f"cannot sign marker: longer than {MAX_SIGNED_LENGTH} characters (long key id)")
        return marker


class MarkerVerifier:
    """Verifies markers against the published public keys, each found by its ``kid``.

    ``max_age_seconds`` bounds how old a marker may be (older ones are replays or leftovers);
    ``max_future_skew_seconds`` tolerates clocks that run a little apart between signer and verifier.
    """

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey],
        max_age_seconds: float,
        max_future_skew_seconds: float = 300,
    ) -> None:
        if not public_keys:
            raise ValueError("a marker verifier needs at least one public key")
        self._keys = dict(public_keys)
        self._max_age = max_age_seconds
        self._max_skew = max_future_skew_seconds

    def verify(self, marker: str, now: float) -> MarkerPayload:
        """The payload of ``marker`` if it is genuine and fresh at ``now`` (Unix seconds).

        Raises :class:`~probe.errors.MarkerError` saying what is wrong: shape, encoding, payload, unknown
        key, signature (forged or altered), expired, or issued in the future.
        """
        if not isinstance(marker, str) or len(marker) > MAX_MARKER_LENGTH:
            raise MarkerError("marker: not a Kanari marker (not a string, or too long)")
        parts = marker.split(".")
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
            raise MarkerError(f"marker: not a Kanari marker (expected {PREFIX}.<payload>.<signature>)")
        _, encoded_payload, encoded_signature = parts
        payload_bytes = _b64decode(encoded_payload, "payload")
        signature = _b64decode(encoded_signature, "signature")
        try:
            payload = json.loads(payload_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise MarkerError("marker: payload is not JSON") from None
        problem = _payload_problem(payload)
        if problem:
            raise MarkerError(f"marker: bad payload: {problem}")
        key = self._keys.get(payload["kid"])
        if key is None:
            # The kid comes from the marker, so it is shown bounded (it is an identifier, not key material).
            raise MarkerError(f"marker: unknown key id {payload['kid'][:64]!r}")
        if len(signature) != SIGNATURE_LENGTH:
            raise MarkerError("marker: bad signature (wrong length)")
        try:
            key.verify(signature, f"{PREFIX}.{encoded_payload}".encode("ascii"))
        except InvalidSignature:
            raise MarkerError("marker: bad signature (forged or altered)") from None
        issued_at: int = payload["iat"]
        if issued_at > now + self._max_skew:
            raise MarkerError(f"marker: issued in the future ({issued_at - now:.0f} s ahead)")
        if now - issued_at > self._max_age:
            raise MarkerError(f"marker: expired (issued {now - issued_at:.0f} s ago)")
        return MarkerPayload(
            canary_id=payload["id"],
            channel=payload["ch"],
            kommunenummer=payload["kn"],
            issued_at=issued_at,
            key_id=payload["kid"],
        )


def find_markers(text: str) -> list[str]:
    """Every marker-shaped token in ``text``, in order (not verified), e.g. from a report's body."""
    return MARKER_PATTERN.findall(text)


def _payload_problem(payload: object) -> str | None:
    """What is wrong with a decoded payload, or ``None`` when it has exactly the fields of DESIGN 3.5."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    missing = [field for field in _FIELDS if field not in payload]
    if missing:
        return f"missing {', '.join(missing)}"
    # KANARI1 fixes the field set; a new field means a new prefix, so anything else is refused.
    extra = sorted(str(field)[:32] for field in payload if field not in _FIELDS)
    if extra:
        return f"unexpected {', '.join(extra)}"
    for field, valid, expected in _FIELD_CHECKS:
        if not valid(payload[field]):
            return f"{field} is not {expected}"
    return None


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        # Only the canonical lower-case form, the one the signer writes.
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _is_unix_seconds(value: object) -> bool:
    # bool is an int in Python, and JSON true must not pass as a time.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_FIELD_CHECKS: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("id", _is_uuid, "a UUID"),
    ("ch", lambda value: isinstance(value, str) and value in _CHANNELS, "a channel"),
    ("kn", lambda value: isinstance(value, str) and bool(_KOMMUNENUMMER.fullmatch(value)), "a kommunenummer"),
    ("iat", _is_unix_seconds, "Unix seconds"),
    ("kid", lambda value: isinstance(value, str) and bool(value), "a key id"),
)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str, part: str) -> bytes:
    # Strict: only the base64url alphabet and no padding; the stdlib decoder alone would skip junk.
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise MarkerError(f"marker: {part} is not base64url")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise MarkerError(f"marker: {part} is not base64url") from None


def jwks(public_keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The public keys as a JWKS (RFC 8037 ``OKP``/``Ed25519``), sorted by ``kid`` so the document is
    stable; served at ``/.well-known/kanari/keys.json``."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": _b64encode(
                    public_keys[kid].public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                ),
                "kid": kid,
                "use": "sig",
                "alg": "EdDSA",
            }
            for kid in sorted(public_keys)
        ]
    }


def public_keys_from_jwks(document: object) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS by ``kid``: what a vendor (or a test) feeds :class:`MarkerVerifier`.

    Keys of other types are skipped, as RFC 7517 asks of keys a reader does not understand; a malformed
    Ed25519 key, a duplicate ``kid`` or a set without any Ed25519 key raises
    :class:`~probe.errors.MarkerError`.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise MarkerError("jwks: not a JWKS (expected an object with a 'keys' list)")
    found: dict[str, Ed25519PublicKey] = {}
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict):
            raise MarkerError(f"jwks: key {index} is not an object")
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        kid, x = entry.get("kid"), entry.get("x")
        if not isinstance(kid, str) or not kid:
            raise MarkerError(f"jwks: key {index} has no kid")
        if kid in found:
            raise MarkerError(f"jwks: kid {kid[:64]!r} appears twice")
        if entry.get("use", "sig") != "sig" or entry.get("alg", "EdDSA") != "EdDSA":
            raise MarkerError(f"jwks: key {kid[:64]!r} is not an EdDSA signing key")
        if not isinstance(x, str):
            raise MarkerError(f"jwks: key {kid[:64]!r} has no x")
        try:
            raw = _b64decode(x, "x")
        except MarkerError:
            raise MarkerError(f"jwks: key {kid[:64]!r}: x is not base64url") from None
        if len(raw) != RAW_PUBLIC_KEY_LENGTH:
            raise MarkerError(f"jwks: key {kid[:64]!r}: x is not 32 bytes")
        found[kid] = Ed25519PublicKey.from_public_bytes(raw)
    if not found:
        raise MarkerError("jwks: no Ed25519 keys")
    return found
