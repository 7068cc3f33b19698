"""The guides in docs/ say what the code does: the vendor guide's verification example runs against real
markers, quoted texts match the code, every link resolves, every alert has its runbook link."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import random
import re
import textwrap
import time
import urllib.request
import uuid
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from probe.canary.content import SENDER_NAME, TEST_BANNER, CanarySubject, altinn_property_list, portal_report
from probe.canary.identity import synthetic_fnr
from probe.canary.marker import MARKER_PATTERN, MarkerSigner, jwks
from probe.config.municipalities import Contact
from probe.config.onboarding import render_file
from probe.config.registry import packaged_registry
from probe.hops import Channel
from probe.render.links import kebab
from tests.conftest import ROOT
from tests.render.test_runbooks import anchors, github_anchor

DOCS = ROOT / "docs"
GUIDES = ("municipalities.md", "vendors.md", "operations.md", "registry.md")


def code_blocks(name: str, language: str) -> list[str]:
    """The code blocks of ``language`` in a guide, dedented (some sit inside list items)."""
    text = (DOCS / name).read_text(encoding="utf-8")
    found = re.findall(rf"^( *)```{language}\n(.*?)^ *```", text, flags=re.MULTILINE | re.DOTALL)
    return [
        textwrap.dedent("\n".join(line[len(indent) :] for line in block.splitlines()))
        for indent, block in found
    ]


def vendor_example() -> dict[str, Any]:
    """The namespace of the vendor guide's verification code block."""
    [source] = [block for block in code_blocks("vendors.md", "python") if "def verify_marker" in block]
    namespace: dict[str, Any] = {"__name__": "vendor_example"}
    exec(compile(source, "docs/vendors.md", "exec"), namespace)
    return namespace


@pytest.fixture
def signer() -> tuple[MarkerSigner, dict[str, Any]]:
    key = Ed25519PrivateKey.generate()
    published = json.loads(json.dumps(jwks({"kanari-test": key.public_key()})))  # as served over HTTP
    return MarkerSigner(key, "kanari-test"), published


def subject(marker: str, canary_id: str, channel: Channel = Channel.PORTAL) -> CanarySubject:
    return CanarySubject(
        canary_id=canary_id,
        channel=channel,
        kommunenummer="4601",
        kommunenavn="Bergen",
        bydelsnummer="00",
        bydelsnavn="Bergen",
        marker=marker,
        created_at=time.time(),
        child_fnr=synthetic_fnr(random.Random(1), dt.date(2019, 2, 15)),
    )


def test_the_verification_example_accepts_a_real_canary(signer: tuple[MarkerSigner, dict[str, Any]]) -> None:
    example = vendor_example()
    marker_signer, published = signer
    keys = example["load_keys"](published)
    canary_id = str(uuid.uuid4())
    marker = marker_signer.sign(canary_id, Channel.PORTAL, "4601", int(time.time()))
    report = portal_report(subject(marker, canary_id))
    [found] = re.findall(example_regex(), report["melding"]["melding"])
    payload = example["verify_marker"](found, keys, "4601", "portal")
    assert payload == {
        "id": canary_id,
        "ch": "portal",
        "kn": "4601",
        "iat": payload["iat"],
        "kid": "kanari-test",
    }
    altinn_marker = marker_signer.sign(canary_id, Channel.ALTINN, "4601", int(time.time()))
    properties = altinn_property_list(subject(altinn_marker, canary_id, Channel.ALTINN))
    assert example["verify_marker"](properties["kanariMarker"], keys, "4601", "altinn")["id"] == canary_id


def test_the_verification_example_refuses_everything_else(
    signer: tuple[MarkerSigner, dict[str, Any]],
) -> None:
    example = vendor_example()
    marker_signer, published = signer
    keys = example["load_keys"](published)
    verify = example["verify_marker"]
    now = int(time.time())
    canary_id = str(uuid.uuid4())
    genuine = marker_signer.sign(canary_id, Channel.PORTAL, "4601", now)
    prefix, payload, signature = genuine.split(".")
    altered = json.loads(example["b64url_decode"](payload))
    altered["kn"] = "0301"
    encoded = base64.urlsafe_b64encode(json.dumps(altered, separators=(",", ":")).encode()).decode()
    forger = MarkerSigner(Ed25519PrivateKey.generate(), "kanari-test")
    refused = {
        "altered payload": f"{prefix}.{encoded.rstrip('=')}.{signature}",
        "forged signature": forger.sign(canary_id, Channel.PORTAL, "4601", now),
        "unknown key": MarkerSigner(Ed25519PrivateKey.generate(), "other").sign(
            canary_id, Channel.PORTAL, "4601", now
        ),
        "expired": marker_signer.sign(canary_id, Channel.PORTAL, "4601", now - 8 * 86400),
        "from the future": marker_signer.sign(canary_id, Channel.PORTAL, "4601", now + 3600),
        "another municipality": marker_signer.sign(canary_id, Channel.PORTAL, "0301", now),
        "another channel": marker_signer.sign(canary_id, Channel.ALTINN, "4601", now),
        "truncated": genuine[:-4],
        "not a marker": "KANARI1.this-is-a-test",
        "garbage": "KANARI1.!!!.???",
        "payload not an object": f"{prefix}.WzFd.{signature}",
    }
    assert verify(genuine, keys, "4601", "portal") is not None
    for why, marker in refused.items():
        assert verify(marker, keys, "4601", "portal") is None, why


def test_the_usage_example_runs_with_the_published_keys(
    signer: tuple[MarkerSigner, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = vendor_example()
    marker_signer, published = signer
    canary_id = str(uuid.uuid4())
    marker = marker_signer.sign(canary_id, Channel.PORTAL, "4601", int(time.time()))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url: io.BytesIO(json.dumps(published).encode()))
    [usage] = [block for block in code_blocks("vendors.md", "python") if "urlopen" in block]
    example["report"] = portal_report(subject(marker, canary_id))
    exec(compile(usage, "docs/vendors.md", "exec"), example)
    assert example["payload"]["id"] == canary_id


def example_regex() -> str:
    text = (DOCS / "vendors.md").read_text(encoding="utf-8")
    [quoted] = re.findall(r"`(\(\?<!\[A-Za-z0-9_-\]\)KANARI1[^`]*)`", text)
    return str(quoted)


def test_the_documented_regular_expression_is_the_codes() -> None:
    assert example_regex() == MARKER_PATTERN.pattern.replace("{PREFIX}", "KANARI1")


def test_the_municipality_guide_quotes_the_canary_as_sent() -> None:
    text = (DOCS / "municipalities.md").read_text(encoding="utf-8")
    assert f"**{TEST_BANNER}**" in text
    assert f"`{SENDER_NAME}`" in text
    assert "`Kanari-markør: KANARI1.<…>.<…>`" in text
    assert (DOCS / "vendors.md").read_text(encoding="utf-8").count(TEST_BANNER) == 1


def test_the_onboarding_example_is_what_kanari_onboard_writes() -> None:
    [example] = [block for block in code_blocks("municipalities.md", "yaml") if "kommunenummer" in block]
    written = render_file(
        packaged_registry()["4601"],
        "example-vendor",
        [Channel.PORTAL, Channel.ALTINN],
        None,
        [Contact(name="Barneverntjenesten i Bergen", email="barnevern.fagsystem@bergen.kommune.no")],
    )
    assert yaml.safe_load(example) == yaml.safe_load(written)


def test_every_alert_has_a_runbook_link_in_the_operations_guide() -> None:
    rules = yaml.safe_load((ROOT / "config/prometheus/alerts.yml").read_text(encoding="utf-8"))
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    for name in names:
        assert f"(runbooks.md#{kebab(name)})" in text, name


@pytest.mark.parametrize("name", [*GUIDES, "../README.md"])
def test_every_relative_link_resolves(name: str) -> None:
    path = (DOCS / name).resolve()
    text = path.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{name}: {target}"
        if anchor:
            headings = re.findall(r"^#{1,6} (.+)$", linked.read_text(encoding="utf-8"), flags=re.MULTILINE)
            available = anchors() if linked.name == "runbooks.md" else {github_anchor(h) for h in headings}
            assert anchor in available, f"{name}: {target}"


def test_readme_links_the_guides_once() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count("## Guides") == 1
    for guide in GUIDES:
        assert f"(docs/{guide})" in text
