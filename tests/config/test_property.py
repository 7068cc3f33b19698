"""Property: whatever is written into any of the three kinds of configuration file (arbitrary text,
arbitrary YAML, a valid document with one part replaced, removed or added), and whatever ``KANARI_``
variables are set, ``check_config`` answers with :class:`ConfigError` objects and never raises."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.config.loader import check_config
from probe.config.models import ProbeSettings
from probe.config.municipalities import MunicipalityFile
from probe.config.vendors import VendorsFile
from probe.errors import ConfigError
from tests.config.conftest import (
    BERGEN,
    ENVIRONMENT,
    KANARI_YAML,
    OSLO,
    VENDORS_YAML,
    ConfigDir,
    business_certificate,
    ed25519_pem,
    private_file,
)
from tests.conftest import examples

FILES = {
    "kanari.yaml": KANARI_YAML,
    "vendors.yaml": VENDORS_YAML,
    "municipalities/4601-bergen.yaml": BERGEN,
}


def _field_names() -> list[str]:
    names: set[str] = set()
    for model in (ProbeSettings, VendorsFile, MunicipalityFile):
        stack: list[Any] = [model]
        while stack:
            current = stack.pop()
            for name, field in getattr(current, "model_fields", {}).items():
                names.add(name)
                annotation = field.annotation
                for candidate in getattr(annotation, "__args__", (annotation,)):
                    if hasattr(candidate, "model_fields") and candidate is not current:
                        stack.append(candidate)
    return sorted(names)


# Keys a real file has, so generated mappings reach deep into the models, plus anything at all.
KEYS = st.one_of(st.sampled_from([*_field_names(), "portal", "altinn", "file", "env"]), st.text(max_size=12))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["0301", "4601", "fjordsys", "plain", "registered", "5m", "file:x", "env:X", "-1s"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, rsa_pem: bytes) -> Iterator[ConfigDir]:
    directory = ConfigDir(tmp_path_factory.mktemp("property") / "config", dict(ENVIRONMENT))
    for name, text in FILES.items():
        directory.write(name, text)
    directory.write("municipalities/0301-oslo.yaml", OSLO)
    private_file(directory.path / "secrets" / "marker.pem", ed25519_pem())
    private_file(directory.path / "secrets" / "maskinporten.pem", rsa_pem)
    private_file(directory.path / "secrets" / "fiks-passord", b"fiks-password-value\n")
    private_file(directory.path / "secrets" / "virksomhetssertifikat.key.pem", rsa_pem)
    (directory.path / "secrets" / "virksomhetssertifikat.pem").write_bytes(business_certificate(rsa_pem))
    assert directory.check().errors == []
    yield directory
    shutil.rmtree(directory.path, ignore_errors=True)


def checked_with(base: ConfigDir, name: str, text: str, environ: dict[str, str] | None = None) -> None:
    """Write ``text`` as ``name``, check, restore; fail on any exception or a non-ConfigError."""
    path = base.path / name
    original = FILES[name]
    try:
        path.write_text(text, encoding="utf-8")
        result = check_config(base.path, {**base.environ, **(environ or {})})
        assert all(isinstance(error, ConfigError) for error in result.errors)
        for error in result.errors:
            assert error.render()
        assert all(isinstance(warning, str) for warning in result.warnings)
    finally:
        path.write_text(original, encoding="utf-8")


def _mutate(data: Any, draw: Any) -> Any:
    """``data`` with one part, chosen by ``draw``, replaced, removed or given a new key."""
    if not isinstance(data, dict | list) or not data or draw(st.integers(0, 3)) == 0:
        return draw(VALUES)
    if isinstance(data, list):
        index = draw(st.integers(0, len(data) - 1))
        return [*data[:index], _mutate(data[index], draw), *data[index + 1 :]]
    key = draw(st.sampled_from(sorted(data, key=str)))
    action = draw(st.sampled_from(["replace", "remove", "add", "descend"]))
    changed = dict(data)
    if action == "remove":
        del changed[key]
    elif action == "add":
        changed[draw(KEYS)] = draw(VALUES)
    elif action == "replace":
        changed[key] = draw(VALUES)
    else:
        changed[key] = _mutate(data[key], draw)
    return changed


KINDS = sorted(FILES)
SLOW = settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(name=st.sampled_from(KINDS), text=st.text(max_size=300))
def test_arbitrary_text(base: ConfigDir, name: str, text: str) -> None:
    checked_with(base, name, text)


@SLOW
@given(name=st.sampled_from(KINDS), value=VALUES)
def test_arbitrary_yaml(base: ConfigDir, name: str, value: object) -> None:
    checked_with(base, name, yaml.safe_dump(value, allow_unicode=True))


@SLOW
@given(name=st.sampled_from(KINDS), data=st.data())
def test_a_valid_document_with_one_part_changed(base: ConfigDir, name: str, data: st.DataObject) -> None:
    document = yaml.safe_load(FILES[name])
    mutated = _mutate(document, data.draw)
    checked_with(base, name, yaml.safe_dump(mutated, allow_unicode=True))


@SLOW
@given(name=st.sampled_from(KINDS), data=st.data())
def test_a_valid_text_with_characters_changed(base: ConfigDir, name: str, data: st.DataObject) -> None:
    text = FILES[name]
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:position] + data.draw(st.text(max_size=3)) + text[position + cut :]
    checked_with(base, name, text)


@SLOW
@given(
    environ=st.dictionaries(
        st.sampled_from(
            [
                "KANARI_INTERVAL",
                "KANARI_CHANNELS",
                "KANARI_CHANNELS__PORTAL",
                "KANARI_CHANNELS__PORTAL__DEADLINE",
                "KANARI_CHANNELS__PORTAL__INTEGRASJON_PASSORD",
                "KANARI_SIGNING__KEY_ID",
                "KANARI_METRICS__BASIC_AUTH_PASSWORD",
                "KANARI_ALERTING__SLO_TARGET",
                "KANARI_REGISTRY",
            ]
        ),
        st.one_of(st.text(max_size=30), VALUES.map(yaml.safe_dump)),
        max_size=3,
    )
)
def test_arbitrary_environment_overrides(base: ConfigDir, environ: dict[str, str]) -> None:
    checked_with(base, "kanari.yaml", KANARI_YAML, {k: v.replace("\x00", "") for k, v in environ.items()})


def test_the_fixture_restores_the_files(base: ConfigDir) -> None:
    for name, text in FILES.items():
        assert (Path(base.path) / name).read_text(encoding="utf-8") == text
