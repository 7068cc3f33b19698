"""``kanari keys generate``: a private key only its owner can read, its public half beside it for the
next rotation, the JWKS entry printed, and nothing overwritten or half-written."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from probe.cli import main
from probe.cli.keys import public_key_path
from probe.config.keyfiles import load_public_key, load_signing_key


def test_writes_the_key_and_its_public_half_and_prints_the_jwks_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "marker-2026-11.pem"
    assert main(["keys", "generate", "--out", str(out), "--key-id", "kanari-2026-11"]) == 0
    public = tmp_path / "marker-2026-11.pub.pem"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    private_key = load_signing_key(out)
    assert load_public_key(public).public_bytes_raw() == private_key.public_key().public_bytes_raw()

    printed = capsys.readouterr().out
    assert f"wrote {out} (private, mode 0600) and {public} (public)" in printed
    assert "PRIVATE" not in printed
    assert out.read_text() not in printed
    document = json.loads(printed[printed.index("{") :])
    (entry,) = document["keys"]
    assert entry["kid"] == "kanari-2026-11"
    assert entry["kty"] == "OKP"
    assert entry["crv"] == "Ed25519"
    assert "d" not in entry  # the private scalar is never published


def test_public_key_path_sits_beside_the_private_key(tmp_path: Path) -> None:
    assert public_key_path(tmp_path / "marker.pem") == tmp_path / "marker.pub.pem"
    assert public_key_path(tmp_path / "marker") == tmp_path / "marker.pub.pem"


def test_refuses_an_existing_private_key_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "marker.pem"
    out.write_text("old key")
    assert main(["keys", "generate", "--out", str(out)]) == 2
    assert out.read_text() == "old key"
    assert not (tmp_path / "marker.pub.pem").exists()
    assert (
        f"kanari keys generate: {out}: key_file: refusing to overwrite an existing file (value: 'exists')"
        in capsys.readouterr().err
    )


def test_refuses_an_existing_public_key_before_writing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = tmp_path / "marker.pub.pem"
    public.write_text("old public key")
    assert main(["keys", "generate", "--out", str(tmp_path / "marker.pem")]) == 2
    assert not (tmp_path / "marker.pem").exists()
    assert public.read_text() == "old public key"
    assert (
        f"{public}: public_key_file: refusing to overwrite an existing file (value: 'exists')"
        in capsys.readouterr().err
    )


def test_a_missing_directory_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing" / "marker.pem"
    assert main(["keys", "generate", "--out", str(out)]) == 2
    assert f"{out}: key_file: cannot create key file: No such file or directory" in capsys.readouterr().err


def test_a_failed_public_key_write_removes_the_new_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A race (the public file appearing after the check) or a full disk: the fresh key was never used.
    public = tmp_path / "marker.pub.pem"
    real_open = os.open

    def racing_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if str(path) == str(public):
            public.write_text("appeared meanwhile")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", racing_open)
    assert main(["keys", "generate", "--out", str(tmp_path / "marker.pem")]) == 2
    assert not (tmp_path / "marker.pem").exists()
    assert public.read_text() == "appeared meanwhile"
    assert f"{public}: public_key_file: cannot write public key file: File exists" in capsys.readouterr().err
