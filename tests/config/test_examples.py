"""No valid configuration is rejected: the committed example (``config/``) and the demo configuration
(``config/sandbox/``) pass ``config check`` once their secrets exist, and pass as committed without them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from probe.config.keyfiles import generate_signing_key
from probe.config.loader import check_config
from probe.sandbox.assignment import VENDORS
from probe.sandbox.credentials import load_or_create
from probe.sandbox.democonfig import MARKER_KEY_FILE
from tests.config.conftest import business_certificate, private_file
from tests.conftest import ROOT


@pytest.mark.parametrize("directory", ["config", "config/sandbox"])
def test_committed_configurations_pass_without_their_secrets(directory: str) -> None:
    result = check_config(ROOT / directory, {}, with_secrets=False)
    assert [error.render() for error in result.errors] == []


def test_demo_configuration_passes_with_the_sandbox_state(tmp_path: Path) -> None:
    # config/sandbox names its secrets as ../../var/sandbox/...: lay out the same shape under tmp_path
    # and create the state the way a starting sandbox does.
    config = tmp_path / "config" / "sandbox"
    shutil.copytree(ROOT / "config" / "sandbox", config)
    state = tmp_path / "var" / "sandbox"
    load_or_create(
        state,
        [vendor.id for vendor in VENDORS],
        [vendor.id for vendor in VENDORS if vendor.readback == "static"],
        tls=False,
    )
    generate_signing_key(state / MARKER_KEY_FILE)
    result = check_config(config, {})
    assert [error.render() for error in result.errors] == []
    assert result.config is not None
    assert len(result.config.routes) == 714
    assert result.warnings == [
        "municipalities/1580-haram.yaml:4: organisasjonsnummer 999158005 is not in the registry; verify it "
        "in Enhetsregisteret"
    ]


def test_example_configuration_passes_with_its_secrets(tmp_path: Path, rsa_pem: bytes) -> None:
    # config/kanari.yaml names ../secrets/*.pem and two environment variables.
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    (tmp_path / "secrets").mkdir()
    generate_signing_key(tmp_path / "secrets" / "marker-ed25519.pem")
    private_file(tmp_path / "secrets" / "maskinporten.pem", rsa_pem)
    private_file(tmp_path / "secrets" / "virksomhetssertifikat.pem", rsa_pem)
    (tmp_path / "secrets" / "virksomhetssertifikat-chain.pem").write_bytes(business_certificate(rsa_pem))
    environ = {"KANARI_FIKS_INTEGRASJON_PASSORD": "fiks-passord", "KANARI_READBACK_ANOTHER_VENDOR": "token"}
    result = check_config(config, environ)
    assert [error.render() for error in result.errors] == []
    assert result.warnings == []
    assert result.config is not None
    assert sorted(route.name for route in result.config.routes) == [
        "altinn/0301",
        "altinn/4601",
        "portal/0301",
        "portal/1580",
        "portal/4601",
    ]
