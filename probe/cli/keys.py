"""``kanari keys generate``: the Ed25519 key that signs canary markers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from probe.canary.marker import generate_signing_key, jwks, load_signing_key
from probe.errors import KanariError

EXIT_OK, EXIT_USAGE = 0, 2


def add_commands(commands: Any) -> None:
    """Register ``keys generate``."""
    keys = commands.add_parser("keys", help="marker signing keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="write a new Ed25519 signing key (mode 0600)")
    generate.add_argument("--out", type=Path, required=True, help="where to write the private key (PEM)")
    generate.add_argument("--key-id", default="kanari-1", help="the kid to publish it under")
    generate.set_defaults(handler=command_generate)


def command_generate(arguments: argparse.Namespace) -> int:
    """Write a key, then print the JWKS entry vendors will see, so it can be checked at once."""
    try:
        generate_signing_key(arguments.out)
        key = load_signing_key(arguments.out, "--out")
    except (KanariError, FileExistsError) as error:
        print(f"kanari keys generate: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {arguments.out}; set signing.key_file to it and signing.key_id to {arguments.key_id!r}")
    print(json.dumps(jwks({arguments.key_id: key.public_key()}), indent=2))
    return EXIT_OK
