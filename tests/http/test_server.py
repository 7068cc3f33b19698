"""The HTTP server every Kanari surface runs on: bound and listening before the app starts, so a client
given the URL early is served rather than refused; stopped cleanly."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from probe.http.server import HttpServer, split_listen

pytestmark = pytest.mark.anyio


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", hello)])


async def test_a_client_that_comes_before_the_app_is_served_once_it_starts() -> None:
    server = HttpServer("127.0.0.1:0")
    # Connected before uvicorn runs: the kernel holds the connection in the listening socket's backlog.
    reader, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), timeout=5)
    writer.write(b"GET / HTTP/1.1\r\nHost: kanari\r\nConnection: close\r\n\r\n")
    await server.start(APP)
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await server.close()
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert answer.endswith(b"hello")


async def test_the_port_is_known_before_start_and_released_after_close() -> None:
    server = HttpServer("127.0.0.1:0")
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    await server.start(APP)
    await server.close()
    async with httpx.AsyncClient(timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url)


def test_listen_addresses_are_split_for_ipv4_and_ipv6() -> None:
    assert split_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert split_listen("[::1]:0") == ("::1", 0)
