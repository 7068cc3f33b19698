"""Serving an ASGI app with uvicorn inside an asyncio program that runs other things too.

The socket is bound and listening first, so ``HOST:0`` picks a free port that the caller can read at
once (tests, ``kanari demo``) and use before the app exists (the sandbox's world needs its own URL).
Signal handling is left to the program: uvicorn's own would stop only itself. Both the probe and the
sandbox serve through this one module.

A malformed address or one that cannot be bound (in use, not permitted, not this machine's) is a
:class:`~probe.errors.ListenError` naming the address and the problem: it happens in the constructor,
before the caller has started anything else, so a probe that cannot listen has sent nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from probe.config.listen import parse_listen
from probe.errors import ListenError

# Binding is done already; only uvicorn's own start-up remains, which takes milliseconds.
STARTUP_TIMEOUT = 10.0
# uvicorn's own default backlog.
BACKLOG = 2048


# What an operator reads for the errors a bind can meet; anything else keeps the system's words.
_BIND_REASONS = {
    errno.EADDRINUSE: "address already in use; stop what listens there or choose another HOST:PORT",
    errno.EACCES: "permission denied (ports below 1024 need privileges); choose a port from 1024",
    errno.EADDRNOTAVAIL: "address not available (it is not an address of this machine)",
}


def _bound_socket(listen: str) -> socket.socket:
    """A socket bound to ``listen`` and listening, or a :class:`ListenError` naming it and why not."""
    host, port = parse_listen(listen)
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ListenError(f"cannot listen on {listen}: {host} is not known ({error.strerror})") from None
    try:
        bound = socket.socket(family, kind, protocol)
    except OSError as error:
        raise ListenError(f"cannot listen on {listen}: {error.strerror}") from None
    try:
        # Only lets a restarted probe take its port back from connections still in TIME_WAIT; a port
        # another socket listens on stays refused (EADDRINUSE).
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        bound.bind(address)
        # Listening at once: a client told the URL before uvicorn starts (``kanari demo`` and
        # ``kanari run`` print it first) waits in the backlog instead of being refused.
        bound.listen(BACKLOG)
    except OSError as error:
        bound.close()
        reason = _BIND_REASONS.get(error.errno or 0, error.strerror or str(error))
        raise ListenError(f"cannot listen on {listen}: {reason}") from None
    return bound


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """One bound socket, served by uvicorn once :meth:`start` gets the app."""

    def __init__(self, listen: str) -> None:
        host, _ = parse_listen(listen)
        self._socket = _bound_socket(listen)
        self._socket.set_inheritable(True)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        self.scheme = "http"
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    async def start(
        self,
        app: ASGIApp,
        *,
        certificate_file: Path | None = None,
        key_file: Path | None = None,
        access_log: bool = False,
    ) -> asyncio.Task[None]:
        """Serve ``app`` in a task (HTTPS with the given files) and return it once accepting."""
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=access_log,
            lifespan="off",
            ssl_certfile=str(certificate_file) if certificate_file else None,
            ssl_keyfile=str(key_file) if key_file else None,
            timeout_graceful_shutdown=5,
        )
        self.scheme = "https" if certificate_file else "http"
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        async with asyncio.timeout(STARTUP_TIMEOUT):
            # uvicorn exposes only a flag for "started", so poll it briefly.
            while not self._server.started:
                if self._task.done():
                    await self._task
                    raise RuntimeError(f"server on {self.url} stopped before it started")
                await asyncio.sleep(0.005)
        return self._task

    def stop(self) -> None:
        """Ask the server to finish (open requests complete first)."""
        if self._server is not None:
            self._server.should_exit = True

    async def wait(self) -> None:
        """Until the server has stopped."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Stop serving, wait for it, release the socket."""
        self.stop()
        if self._task is not None:
            # asyncio.wait, not await: the server task's own end is not an error here, and a
            # cancellation of the caller (a second signal: stop at once) must go through. The socket
            # stays open until the server no longer uses it (or the process ends).
            await asyncio.wait([self._task])
            if not self._task.cancelled():
                self._task.result()  # a server that failed says so
        self._socket.close()
