"""``kanari sandbox`` and ``kanari demo``: the simulated world, alone or with the probe watching it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import platformdirs

from probe.cli.common import load_or_explain, run_until_signalled
from probe.cli.exits import Exit
from probe.cli.probing import listen_address
from probe.clock import SystemClock
from probe.config.keyfiles import generate_signing_key
from probe.config.loader import KanariConfig
from probe.errors import ConfigError, KanariError
from probe.ledger.lock import reset as reset_ledger
from probe.runtime import build_runtime
from probe.sandbox import democonfig
from probe.sandbox.democonfig import DEMO_SPEED, MARKER_KEY_FILE
from probe.sandbox.harness import demo_overrides, latency_warnings, tailor
from probe.sandbox.manifest import Manifest
from probe.sandbox.server import SandboxServer, print_urls, serve
from probe.sandbox.settings import load_settings
from probe.service import ProbeService

DEMO_CONFIG = Path("config/sandbox")
# The demo's state directory holds its configuration (config/), the sandbox's keys and secrets, and the
# ledger, each under these names.
SANDBOX_STATE = "sandbox"
DEMO_LEDGER = "ledger/kanari.sqlite3"


def add_commands(commands: Any) -> None:
    """Register ``sandbox`` and ``demo``."""
    sandbox = commands.add_parser(
        "sandbox", help="run the simulated world (KS, Altinn, Maskinporten, vendors)"
    )
    sandbox.add_argument(
        "--listen", type=listen_address, help="HOST:PORT (default 127.0.0.1:8700; port 0 picks a free one)"
    )
    sandbox.add_argument("--speed", type=float, help="time compression: every delay is divided by this")
    sandbox.add_argument(
        "--state-dir", type=Path, help="where keys, secrets and sandbox.json go (var/sandbox)"
    )
    sandbox.add_argument("--seed", type=int, help="seed of the delay draws")
    sandbox.add_argument("--tls", action="store_true", help="serve HTTPS with a generated local CA")
    sandbox.add_argument(
        "--config", type=Path, default=DEMO_CONFIG / "sandbox.yaml", help="sandbox settings file"
    )
    sandbox.set_defaults(handler=command_sandbox)

    demo = commands.add_parser("demo", help="the sandbox and the probe together, over loopback (make run)")
    demo.add_argument(
        "--config",
        type=Path,
        help="demo configuration directory (default: the one shipped with Kanari, written into the state "
        "directory at every start)",
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        help=f"where the demo's configuration, sandbox keys and ledger go (default {default_state_dir()})",
    )
    demo.add_argument(
        "--listen", type=listen_address, help="HOST:PORT of the probe's HTTP surface (default 127.0.0.1:9464)"
    )
    demo.add_argument(
        "--sandbox-listen",
        type=listen_address,
        default="127.0.0.1:8700",
        help="HOST:PORT of the sandbox and its admin API",
    )
    demo.add_argument("--interval", type=float, help="seconds between canaries on every route")
    demo.add_argument("--deadline", type=float, help="seconds a canary has to reach its final hop")
    demo.add_argument("--municipalities", help="comma-separated kommunenummer (default: all 357)")
    demo.add_argument(
        "--speed", type=float, default=DEMO_SPEED, help=f"sandbox time compression (default {DEMO_SPEED:g})"
    )
    demo.set_defaults(handler=command_demo)


def command_sandbox(arguments: argparse.Namespace) -> int:
    """``kanari sandbox``."""
    config_file = arguments.config if arguments.config.exists() else None
    try:
        settings = load_settings(
            config_file,
            listen=arguments.listen,
            speed=arguments.speed,
            state_dir=arguments.state_dir,
            seed=arguments.seed,
            tls=arguments.tls or None,
        )
    except ConfigError as error:
        print(f"kanari sandbox: {error}", file=sys.stderr)
        return Exit.USAGE

    async def main(stop: asyncio.Event) -> int:
        task = asyncio.create_task(serve(settings))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        stopping.cancel()
        await asyncio.gather(task, stopping, return_exceptions=True)
        # A sandbox that could not start (its address in use) ended on its own: say so, do not exit 0.
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure
        return Exit.OK

    try:
        return run_until_signalled(main)
    except KanariError as error:
        print(f"kanari sandbox: {error}", file=sys.stderr)
        return Exit.USAGE


def command_demo(arguments: argparse.Namespace) -> int:
    """``kanari demo``: start the sandbox, point the probe at it, print where to look."""
    try:
        return run_until_signalled(lambda stop: demo(arguments, stop))
    except KanariError as error:
        print(f"kanari demo: {error}", file=sys.stderr)
        return Exit.USAGE


def default_state_dir() -> Path:
    """Where ``kanari demo`` keeps its state unless told: the user's data directory
    (``$XDG_DATA_HOME/kanari/demo``, else ``~/.local/share/kanari/demo``), never the current directory."""
    return Path(platformdirs.user_data_dir("kanari", appauthor=False)) / "demo"


def demo_state(arguments: argparse.Namespace) -> tuple[Path, Path]:
    """The demo's state directory and configuration directory, its ledger emptied under the ledger's lock
    first: a state directory another demo or probe is using is refused (exit 2) before anything in it is
    written. Without ``--config`` the configuration shipped with the package
    (:mod:`probe.sandbox.democonfig`) is written into the state directory, so the demo runs from any
    directory and always matches the installed Kanari."""
    state_dir: Path = (arguments.state_dir or default_state_dir()).absolute()
    config_dir = arguments.config or state_dir / "config"
    try:
        # The sandbox world lives in memory: canaries of an earlier demo cannot be followed, so start
        # from an empty ledger rather than report them all as unknown.
        reset_ledger(state_dir / DEMO_LEDGER)
        if arguments.config is None:
            democonfig.write(config_dir, state=f"../{SANDBOX_STATE}", ledger=f"../{DEMO_LEDGER}")
    except OSError as error:
        raise ConfigError(
            "--state-dir", "state_dir", str(state_dir), f"cannot write the demo's state: {error.strerror}"
        ) from None
    return state_dir, config_dir


async def demo(arguments: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run sandbox and probe until ``stop``."""
    state_dir, config_dir = demo_state(arguments)
    sandbox_file = config_dir / "sandbox.yaml"
    settings = load_settings(
        sandbox_file if sandbox_file.exists() else None,
        listen=arguments.sandbox_listen,
        speed=arguments.speed,
        state_dir=state_dir / SANDBOX_STATE,
    )
    server = SandboxServer(settings)
    sandbox = await server.start()
    try:
        marker_key = settings.state_dir / MARKER_KEY_FILE
        if not marker_key.exists():
            generate_signing_key(marker_key)
        ledger = state_dir / DEMO_LEDGER
        overrides = demo_overrides(sandbox.manifest, str(ledger))
        overrides["signing"] = {"key_file": str(marker_key)}
        loaded = load_or_explain(config_dir, overrides)
        if loaded is None:
            return Exit.USAGE
        config = tailor(
            loaded,
            sandbox.manifest,
            municipalities=arguments.municipalities,
            interval=arguments.interval,
            deadline=arguments.deadline,
        )
        for warning in latency_warnings(config, sandbox.manifest):
            print(f"warning: {warning}", file=sys.stderr)
        service = ProbeService(build_runtime(config, SystemClock()), arguments.listen)
        # The status page first: it is where a person starts looking.
        print(f"status page    {service.url}/status", flush=True)
        print_urls(sandbox)
        print_demo(service.url, sandbox.manifest, config)
        await service.run(stop)
    finally:
        await server.stop()
    return Exit.OK


def print_demo(probe_url: str, manifest: Manifest, config: KanariConfig) -> None:
    """Where to look, and how to break something."""
    example = next(iter(sorted({route.kommunenummer for route in config.routes})), "4601")
    print(
        f"probe          {probe_url}  ({len(config.routes)} routes)\n"
        f"metrics        {probe_url}/metrics\n"
        f"marker keys    {probe_url}/.well-known/kanari/keys.json\n"
        f"break a route  curl -X POST {manifest.admin_url} -H 'Content-Type: application/json' "
        f'-d \'{{"fault": "vendor.receipt_without_store", "municipality": "{example}"}}\'\n'
        f"heal it        curl -X DELETE {manifest.admin_url}\n"
        "stop           Ctrl+C",
        flush=True,
    )
