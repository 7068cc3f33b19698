"""Fixtures of the rendering tests: the example configuration and the external checkers."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from probe.config.loader import KanariConfig, load_config
from tests.conftest import ROOT

CONFIG_DIR = ROOT / "config"


@pytest.fixture(scope="session")
def config() -> KanariConfig:
    """The example configuration in config/, loaded the way `kanari render` loads it."""
    return load_config(CONFIG_DIR, environ={}, with_secrets=False)


def tool(name: str, package: str) -> str:
    """The path of an external checker, or skip the test saying how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package}; CI installs it)")
    return path


@pytest.fixture
def promtool() -> str:
    return tool("promtool", "prometheus")


@pytest.fixture
def amtool() -> str:
    return tool("amtool", "prometheus-alertmanager")


def run(command: Sequence[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``command`` and return its result (never raises on a non-zero exit)."""
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
