"""Serving an ASGI app with uvicorn inside an asyncio program that runs other things too.

The socket is bound before serving, so ``HOST:0`` picks a free port that the caller can read at once
(tests, ``kanari demo``). Signal handling is left to the program (uvicorn's own would stop only itself).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


# Binding is done already; only uvicorn's own start-up remains, which takes milliseconds.
STARTUP_TIMEOUT = 10.0


class _EmbeddedServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """One uvicorn server on one bound socket."""

    def __init__(
        self,
        app: ASGIApp,
        listen: str,
        *,
        certificate_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        host, port = split_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.set_inheritable(True)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        self.scheme = "https" if certificate_file else "http"
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ssl_certfile=str(certificate_file) if certificate_file else None,
            ssl_keyfile=str(key_file) if key_file else None,
            timeout_graceful_shutdown=5,
        )
        self._server = _EmbeddedServer(config)

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    async def serve(self) -> None:
        """Serve until :meth:`stop` is called."""
        await self._server.serve(sockets=[self._socket])

    @property
    def started(self) -> bool:
        """True once the server accepts connections."""
        return bool(self._server.started)

    async def start(self) -> asyncio.Task[None]:
        """Start serving in a task and return it once the server accepts connections."""
        task = asyncio.create_task(self.serve())
        async with asyncio.timeout(STARTUP_TIMEOUT):
            # uvicorn exposes only a flag for "started", so poll it briefly.
            while not self._server.started:
                if task.done():
                    await task
                    raise RuntimeError(f"server on {self.url} stopped before it started")
                await asyncio.sleep(0.01)
        return task

    def stop(self) -> None:
        """Ask the server to finish."""
        self._server.should_exit = True
