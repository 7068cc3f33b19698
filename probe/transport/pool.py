"""The connection pool under every upstream's client: httpx's own transport over a network backend that
answers httpcore's idle-connection checks cheaply, with idle connections dropped before servers drop them.

Every time a request is queued or finished, httpcore asks each pooled connection whether the server
closed it (``get_extra_info("is_readable")``). The anyio stream answers by rebuilding a dictionary of
socket attributes, with a ``getpeername`` system call, before polling the socket; that was a fifth of
Kanari's CPU. :class:`PooledTransport` gives httpx's transport a pool whose streams keep their socket and
only poll it.

This replaces a private attribute of httpx (``AsyncHTTPTransport._pool``). :class:`PooledTransport`
checks that the attribute is still what it replaces and fails loudly at construction if not, and
``tests/transport/test_pool.py`` runs a request through it, so an httpx upgrade that moves the pool
breaks a test instead of silently falling back to the slow path.
"""

from __future__ import annotations

import select
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# Pooled connections are dropped after this long idle. uvicorn, Node.js and Apache close idle keep-alive
# connections after 5 s, and httpx's own default is also 5 s: at equal timeouts about one request in 60
# at 5 s gaps went out on a connection the server was closing. A second's margin under the shortest
# common server timeout removes the race; a new connection costs one TCP (and TLS) handshake.
KEEPALIVE_EXPIRY = 4.0


def _socket_readable(sock: socket.socket | None) -> bool:
    """Whether ``sock`` has data (or EOF) waiting: httpcore's test of an idle pooled connection."""
    descriptor = -1 if sock is None else sock.fileno()
    if descriptor < 0:
        return True
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's anyio stream with its socket looked up once.

    Every time a request is queued or finished, httpcore asks each pooled connection whether the server
    closed it (``get_extra_info("is_readable")``). The anyio stream answers by rebuilding a dictionary of
    socket attributes, with a ``getpeername`` system call, before polling the socket; that was a fifth of
    Kanari's CPU. Here the socket is kept, and only the poll remains.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: socket.socket | None = None) -> None:
        self._inner = inner
        self._socket = sock if sock is not None else inner.get_extra_info("socket")

    # The signatures below are httpcore's network-stream and backend interface, timeouts included.
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        # TLS runs over the same socket, so its readability is still that socket's.
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout), self._socket)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, handing out :class:`_Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PooledTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (same pool, same error mapping) over :class:`_Backend`."""

    def __init__(self, context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=context, limits=limits)
        replaced = getattr(self, "_pool", None)
        if not isinstance(replaced, httpcore.AsyncConnectionPool):
            raise RuntimeError(
                "httpx.AsyncHTTPTransport no longer keeps its httpcore pool in _pool "
                f"(found {type(replaced).__name__}); probe/transport/pool.py must follow httpx"
            )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


def connection_limits(connections: int) -> httpx.Limits:
    """A pool of at most ``connections`` connections, each dropped after :data:`KEEPALIVE_EXPIRY` idle."""
    return httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=KEEPALIVE_EXPIRY
    )


def pooled_transport(context: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for an upstream's client, or ``None`` (httpx's default) when the environment names
    a proxy: a client given its own transport ignores ``HTTPS_PROXY`` and the like, and that must not
    change just because Kanari wants cheaper connection checks."""
    if urllib.request.getproxies():
        return None
    return PooledTransport(context, limits)
