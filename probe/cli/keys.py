"""``kanari keys generate``: the Ed25519 key that signs canary markers, and its public half for rotation."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from probe.canary.marker import jwks
from probe.cli.exits import Exit
from probe.config.keyfiles import generate_signing_key, load_signing_key
from probe.errors import ConfigError, KanariError


def add_commands(commands: Any) -> None:
    """Register ``keys generate``."""
    keys = commands.add_parser("keys", help="marker signing keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser(
        "generate", help="write a new Ed25519 signing key (mode 0600) and its public key beside it"
    )
    generate.add_argument("--out", type=Path, required=True, help="where to write the private key (PEM)")
    generate.add_argument("--key-id", default="kanari-1", help="the kid to publish it under")
    generate.set_defaults(handler=command_generate)


def public_key_path(private_key_path: Path) -> Path:
    """Where the public half goes: ``marker.pem`` → ``marker.pub.pem``, the file a later rotation lists
    under ``signing.previous_public_keys``."""
    stem = private_key_path.name.removesuffix(".pem")
    return private_key_path.with_name(f"{stem}.pub.pem")


def command_generate(arguments: argparse.Namespace) -> int:
    """Write a key and its public half, then print the JWKS entry vendors will see, so it can be checked
    at once. Refuses before writing anything when either file exists."""
    out: Path = arguments.out
    public = public_key_path(out)
    try:
        if public.exists():
            raise ConfigError(
                str(public),
                "public_key_file",
                "exists",
                "refusing to overwrite an existing file",
                "choose another --out; an existing public key may still verify markers in flight",
            )
        generate_signing_key(out)
        key = load_signing_key(out, "--out")
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        try:
            _write_public_key(public, pem)
        except ConfigError:
            out.unlink()  # the key was never used: leave nothing half-written
            raise
    except KanariError as error:
        print(f"kanari keys generate: {error}", file=sys.stderr)
        return Exit.USAGE
    print(f"wrote {out} (private, mode 0600) and {public} (public)")
    print(f"set signing.key_file to {out} and signing.key_id to {arguments.key_id!r};")
    print(f"after the next rotation, list {public} under signing.previous_public_keys")
    print(json.dumps(jwks({arguments.key_id: key.public_key()}), indent=2))
    return Exit.OK


def _write_public_key(path: Path, pem: bytes) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
    except OSError as error:
        raise ConfigError(
            str(path), "public_key_file", str(path), f"cannot write public key file: {error.strerror}"
        ) from None
