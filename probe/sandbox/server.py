"""Running the sandbox with uvicorn: :func:`serve` for ``kanari sandbox``, :func:`running` for tests and
``kanari demo`` (in-process, on a given or a free port).

Both bind the socket first, so that with port 0 the real port is known before the world is built: the
world's URLs (and Maskinporten's issuer, which every assertion's ``aud`` must equal) depend on it. Then the
state dir is written (keys, secrets, ``sandbox.json``) and uvicorn serves on the bound socket.

Wiring for the CLI (``probe/cli/sandboxing.py``)::

    settings = load_settings(args.config, listen=args.listen, speed=args.speed,
                             state_dir=args.state_dir, seed=args.seed, tls=args.tls or None)
    asyncio.run(serve(settings))

``serve`` runs until cancelled (Ctrl+C cancels ``asyncio.run``'s main task) or SIGTERM, then shuts down
gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from probe.clock import Clock
from probe.http.server import HttpServer
from probe.sandbox.app import create_app
from probe.sandbox.manifest import Manifest, build_manifest, write_manifest
from probe.sandbox.settings import SandboxSettings
from probe.sandbox.world import World

log = logging.getLogger("probe.sandbox")


@dataclasses.dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving on a socket."""

    world: World
    base_url: str
    host: str
    port: int
    manifest_path: Path
    startup_seconds: float

    @property
    def manifest(self) -> Manifest:
        """What ``sandbox.json`` says."""
        return build_manifest(self.world)


def base_url_for(settings: SandboxSettings, port: int) -> str:
    """The URL clients use: ``public_base_url`` if set, else the listen address (a wildcard host is
    reported as the loopback address)."""
    if settings.public_base_url is not None:
        return settings.public_base_url
    host = settings.host
    if host in ("0.0.0.0", ""):  # noqa: S104 - a wildcard listen address is reported, not bound, here
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.tls else "http"
    return f"{scheme}://{host}:{port}"


class SandboxServer:
    """One sandbox on uvicorn, started and stopped inside the running event loop."""

    def __init__(self, settings: SandboxSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self._http: HttpServer | None = None

    async def start(self) -> RunningSandbox:
        """Bind, build the world, write the state dir, and serve; returns once accepting connections."""
        started = time.perf_counter()
        settings = self.settings
        # Bound before the world is built: with port 0 the world's URLs (and Maskinporten's issuer, which
        # every assertion's ``aud`` must equal) need the real port.
        self._http = HttpServer(settings.listen)
        base_url = base_url_for(settings, self._http.port)
        world = World.build(settings, base_url, self.clock)
        manifest_path = write_manifest(world)
        tls = world.credentials.tls
        await self._http.start(
            create_app(world),
            certificate_file=tls.certificate_file if tls else None,
            key_file=tls.key_file if tls else None,
            access_log=settings.access_log,
        )
        elapsed = time.perf_counter() - started
        return RunningSandbox(world, base_url, settings.host, self._http.port, manifest_path, elapsed)

    async def wait(self) -> None:
        """Until the server stops by itself."""
        if self._http is not None:
            await self._http.wait()

    def request_stop(self) -> None:
        """Ask uvicorn to stop (finishes open requests first)."""
        if self._http is not None:
            self._http.stop()

    async def stop(self) -> None:
        """Stop serving and wait for it."""
        if self._http is not None:
            await self._http.close()


@contextlib.asynccontextmanager
async def running(settings: SandboxSettings, clock: Clock | None = None) -> AsyncIterator[RunningSandbox]:
    """Run a sandbox for the duration of the block (``listen`` port 0 picks a free port)."""
    server = SandboxServer(settings, clock)
    try:
        yield await server.start()
    finally:
        await server.stop()


def print_urls(sandbox: RunningSandbox, out: TextIO | None = None) -> None:
    """One line per URL of interest (and the state file), for people and scripts (default: stdout)."""
    out = out if out is not None else sys.stdout
    world = sandbox.world
    urls = world.urls
    lines = [
        f"sandbox        {urls.base}  (started in {sandbox.startup_seconds:.2f} s, "
        f"speed {world.settings.speed:g})",
        f"maskinporten   {urls.maskinporten_token}",
        f"fiks           {urls.fiks}",
        f"altinn         {urls.altinn}",
        *(
            f"readback       {urls.readback(vendor.id)}"
            for vendor in world.vendors.values()
            if vendor.readback
        ),
        f"admin          {urls.admin}",
        f"health         {urls.health}",
        f"state          {sandbox.manifest_path}",
    ]
    if world.credentials.tls is not None:
        lines.append(f"tls ca         {world.credentials.tls.ca_file}")
    out.write("\n".join(lines) + "\n")
    out.flush()


async def serve(
    settings: SandboxSettings, clock: Clock | None = None, ready: asyncio.Event | None = None
) -> None:
    """Build the world, write the state dir, print the URLs and serve until cancelled or SIGTERM."""
    server = SandboxServer(settings, clock)
    sandbox = await server.start()
    print_urls(sandbox)
    loop = asyncio.get_running_loop()
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, server.request_stop)
        handled = True
    if ready is not None:
        ready.set()
    try:
        await server.wait()
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGTERM)
        await server.stop()
