"""The commands run in-process on the configuration of ``tests/config/conftest.py``, with the process
environment holding exactly that configuration's secrets."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from tests.config.conftest import ConfigDir, rsa_pem, valid_config

__all__ = ["busy", "configured", "rsa_pem", "valid_config"]


@pytest.fixture
def configured(valid_config: ConfigDir, monkeypatch: pytest.MonkeyPatch) -> ConfigDir:
    """``valid_config`` with its secrets in the environment and no other ``KANARI_`` variable."""
    for name in list(os.environ):
        if name.startswith("KANARI_"):
            monkeypatch.delenv(name)
    for name, value in valid_config.environ.items():
        monkeypatch.setenv(name, value)
    return valid_config


@pytest.fixture
def busy() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a port another socket listens on."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        yield f"127.0.0.1:{holder.getsockname()[1]}"
    finally:
        holder.close()
