"""The pooled transport replaces a private attribute of httpx: these tests fail loudly if an httpx
upgrade moves it, instead of the probe silently falling back to anyio's slow idle-connection checks."""

from __future__ import annotations

import ssl

import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from probe.http.server import HttpServer
from probe.transport import pool
from probe.transport.pool import PooledTransport, connection_limits, pooled_transport

pytestmark = pytest.mark.anyio


def test_httpx_still_keeps_its_pool_where_the_transport_replaces_it() -> None:
    transport = httpx.AsyncHTTPTransport()
    assert isinstance(transport._pool, httpcore.AsyncConnectionPool)
    assert "_pool" in vars(transport)


def test_the_transport_runs_on_kanaris_backend_with_the_configured_limits() -> None:
    limits = connection_limits(7)
    transport = PooledTransport(ssl.create_default_context(), limits)
    assert isinstance(transport._pool._network_backend, pool._Backend)
    assert transport._pool._max_connections == 7
    assert transport._pool._keepalive_expiry == pool.KEEPALIVE_EXPIRY


def test_a_changed_httpx_is_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    original = httpx.AsyncHTTPTransport.__init__

    def moved(self: httpx.AsyncHTTPTransport, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        del self._pool

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "__init__", moved)
    with pytest.raises(RuntimeError, match="no longer keeps its httpcore pool in _pool"):
        PooledTransport(ssl.create_default_context(), connection_limits(1))


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_requests_go_through_kanaris_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[bool] = []
    readable = pool._socket_readable

    def counted(sock: object) -> bool:
        answer = readable(sock)  # type: ignore[arg-type]
        checks.append(answer)
        return answer

    monkeypatch.setattr(pool, "_socket_readable", counted)
    server = HttpServer("127.0.0.1:0")
    await server.start(Starlette(routes=[Route("/", hello)]))
    limits = connection_limits(2)
    transport = pooled_transport(ssl.create_default_context(), limits)
    assert isinstance(transport, PooledTransport)
    try:
        async with httpx.AsyncClient(transport=transport, limits=limits) as client:
            for _ in range(3):
                assert (await client.get(f"{server.url}/")).text == "hello"
    finally:
        await server.close()
    # The pool asked Kanari's stream whether its idle connection was still there before reusing it.
    assert checks
    assert not any(checks)


def test_a_configured_proxy_keeps_httpxs_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert pooled_transport(ssl.create_default_context(), connection_limits(1)) is None
