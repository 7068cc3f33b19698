"""Read-back matching accepts a registration only with a marker Kanari signed for that very canary.

The threat: a real report dressed up as a canary (a copied or forged marker) must never be taken for
one, or a vendor that hides canaries from case workers would hide a real child's report. So a forged,
altered, expired, wrongly keyed or borrowed marker is rejected (counted in
``kanari_marker_rejections_total``) and the canary is not registered; a key rotation with two
published keys keeps earlier markers valid.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probe.canary.marker import MarkerSigner
from probe.config.keyfiles import load_signing_key
from probe.hops import Channel, Hop, Verdict
from tests.e2e.harness import harness
from tests.reliability.proxy import Fault

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

READBACK = r"/canaries\?since="


def payload_of(marker: str) -> dict[str, Any]:
    encoded = marker.split(".")[1]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return payload


def resign(key: Ed25519PrivateKey, key_id: str, **changes: object) -> Callable[[str], str]:
    def remake(marker: str) -> str:
        payload = payload_of(marker) | changes
        return MarkerSigner(key, key_id).sign(
            payload["id"], payload["ch"], payload["kn"], int(payload["iat"])
        )

    return remake


def altered(marker: str) -> str:
    prefix, _payload, signature = marker.split(".")
    payload = payload_of(marker) | {"kn": "0301"}
    text = json.dumps(payload, separators=(",", ":")).encode()
    return ".".join((prefix, base64.urlsafe_b64encode(text).rstrip(b"=").decode(), signature))


def rewriting(change: Callable[[str], str]) -> Fault:
    def transform(answer: dict[str, Any]) -> dict[str, Any]:
        for entry in answer.get("canaries", []):
            entry["marker"] = change(entry["marker"])
        return answer

    return Fault("rewrite", transform=transform, match=READBACK)


def state_key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_signing_key(tmp_path / "sandbox" / "kanari-marker-ed25519.pem")


CASES: dict[str, Callable[[Path], Callable[[str], str]]] = {
    "forged": lambda tmp: resign(Ed25519PrivateKey.generate(), "kanari-test"),
    "altered": lambda tmp: altered,
    "expired": lambda tmp: resign(state_key(tmp), "kanari-test", iat=1_600_000_000),
    "unknown key": lambda tmp: resign(state_key(tmp), "kanari-somebody-else"),
    "another canary's": lambda tmp: resign(
        state_key(tmp), "kanari-test", id="00000000-0000-4000-8000-000000000000"
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_bad_marker_is_rejected_and_the_canary_not_registered(tmp_path: Path, case: str) -> None:
    async with harness(tmp_path, "4601", proxies=("readback:nordlys",)) as probe:
        probe.proxies["readback:nordlys"].fault = rewriting(CASES[case](tmp_path))
        await probe.run_for(120)
        labels = {"channel": "portal", "vendor": "nordlys"}
        assert probe.value("kanari_marker_rejections_total", **labels) >= 1
        judged = [r for r in probe.records(Channel.PORTAL) if r.verdict is not None]
        assert judged
        assert all(Hop.REGISTERED not in r.hops for r in judged)
        assert {(r.verdict, r.blamed_hop) for r in judged} == {(Verdict.LOST, Hop.REGISTERED)}


async def test_key_rotation_keeps_markers_of_the_previous_key_valid(tmp_path: Path) -> None:
    previous = Ed25519PrivateKey.generate()
    public_file = tmp_path / "previous.pub.pem"
    public_file.write_bytes(
        previous.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    rotation = {
        "signing": {"previous_public_keys": [{"key_id": "kanari-old", "public_key_file": str(public_file)}]}
    }
    async with harness(tmp_path, "4601", settings=rotation, proxies=("readback:nordlys",)) as probe:
        assert {key["kid"] for key in probe.runtime.jwks["keys"]} == {"kanari-test", "kanari-old"}
        # The vendor holds markers signed with the previous key: still ours, still accepted.
        probe.proxies["readback:nordlys"].fault = rewriting(resign(previous, "kanari-old"))
        await probe.run_for(120)
        judged = [r for r in probe.records(Channel.PORTAL) if r.verdict is not None]
        assert judged
        assert {r.verdict for r in judged} == {Verdict.DELIVERED}
        assert probe.value("kanari_marker_rejections_total", channel="portal", vendor="nordlys") == 0
