"""The benchmark's sandbox: ``python -m bench.sandbox``, a separate process so its CPU is not Kanari's.

It is the product's sandbox (:class:`probe.sandbox.world.World` served by uvicorn) with two differences
that only the benchmark needs: the world is built on the synthetic registry of :mod:`bench.registry`
(up to 10 000 municipalities), which ``kanari sandbox`` cannot be given, and it runs at the highest
speed the settings allow, so every hop delay is a few milliseconds and a canary's life is bounded by
Kanari's own polling, not by the simulated world. It writes ``sandbox.json`` into its state dir once it
accepts connections, and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import uvicorn

from bench.procstat import pin_to
from probe.config.registry import Registry
from probe.sandbox.app import create_app
from probe.sandbox.manifest import write_manifest
from probe.sandbox.server import base_url_for
from probe.sandbox.settings import REPOSITORY, load_settings
from probe.sandbox.world import World

# The highest speed SandboxSettings accepts: a 30-minute Altinn inbox poll takes 18 ms.
BENCH_SPEED = 100_000.0
SANDBOX_SETTINGS = REPOSITORY / "config" / "sandbox" / "sandbox.yaml"


def _bind(host: str) -> socket.socket:
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every keep-alive answer written in two pieces waits 40 ms for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.set_inheritable(True)
    return sock


async def serve(registry_file: Path, state_dir: Path, speed: float) -> None:
    """Build the world on the registry in ``registry_file`` and serve it until SIGTERM."""
    settings = load_settings(
        SANDBOX_SETTINGS if SANDBOX_SETTINGS.exists() else None,
        listen="127.0.0.1:0",
        speed=speed,
        state_dir=state_dir,
    )
    sock = _bind(settings.host)
    base_url = base_url_for(settings, int(sock.getsockname()[1]))
    world = World.build(settings, base_url, registry=Registry.load(registry_file))
    server = uvicorn.Server(
        uvicorn.Config(create_app(world), log_config=None, access_log=False, lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the benchmark sandbox stopped during start-up")
        await asyncio.sleep(0.01)
    write_manifest(world)
    await task


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", type=Path, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--speed", type=float, default=BENCH_SPEED)
    parser.add_argument("--cpu", type=int)
    arguments = parser.parse_args()
    pin_to(arguments.cpu)
    asyncio.run(serve(arguments.registry, arguments.state_dir, arguments.speed))


if __name__ == "__main__":
    main()
