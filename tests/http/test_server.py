"""The HTTP server every Kanari surface runs on: bound and listening before the app starts, so a client
given the URL early is served rather than refused; stopped cleanly."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from probe.config.listen import parse_listen
from probe.errors import ListenError
from probe.http.server import HttpServer

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


async def test_cancelling_a_close_under_way_goes_through() -> None:
    """A second signal cancels the shutdown while the server is closing: the cancellation must reach
    the caller, not be taken for the server task's own end (which would wait out the whole grace)."""
    server = HttpServer("127.0.0.1:0")
    await server.start(APP)
    closing = asyncio.create_task(server.close())
    await asyncio.sleep(0)  # the close is under way, waiting for uvicorn to finish
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await server.close()  # closing again finishes the job


def test_listen_addresses_are_split_for_ipv4_and_ipv6() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:0") == ("::1", 0)


@pytest.mark.parametrize(
    ("listen", "parsed"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("kanari.internal.:1", ("kanari.internal.", 1)),
        ("[::]:9464", ("::", 9464)),
        ("[fe80::1%eth0]:9464", ("fe80::1%eth0", 9464)),
    ],
)
def test_listen_addresses_that_parse(listen: str, parsed: tuple[str, int]) -> None:
    assert parse_listen(listen) == parsed


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ("garbage", "'garbage' is not HOST:PORT (e.g. 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464)"),
        (
            "127.0.0.1:99999",
            "'127.0.0.1:99999': the port 99999 is out of range (1-65535, or 0 for a free one)",
        ),
        ("127.0.0.1:", "'127.0.0.1:': the port '' is not a number"),
        ("127.0.0.1:-1", "'127.0.0.1:-1': the port '-1' is not a number"),
        ("127.0.0.1:\u0669", "'127.0.0.1:\u0669': the port '\u0669' is not a number"),
        (":9464", "':9464': the host is missing (0.0.0.0:9464 listens on every interface)"),
        ("::1:9464", "'::1:9464': an IPv6 address goes in brackets, e.g. [::1]:9464"),
        ("[::1:9464", "'[::1:9464': an IPv6 address goes in brackets, e.g. [::1]:9464"),
        ("[localhost]:9464", "'[localhost]:9464': [localhost] is not an IPv6 address in brackets"),
        ("-bad-:9464", "'-bad-:9464': '-bad-' is not a host name or IP address"),
        ("a b:9464", "'a b:9464': 'a b' is not a host name or IP address"),
    ],
)
def test_malformed_listen_addresses_are_named(listen: str, message: str) -> None:
    with pytest.raises(ListenError) as raised:
        HttpServer(listen)
    assert str(raised.value).startswith(message)


def test_a_port_in_use_is_a_listen_error_naming_the_address() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    listen = f"127.0.0.1:{holder.getsockname()[1]}"
    try:
        with pytest.raises(ListenError) as raised:
            HttpServer(listen)
    finally:
        holder.close()
    assert str(raised.value) == (
        f"cannot listen on {listen}: address already in use; stop what listens there or choose another "
        "HOST:PORT"
    )


def test_an_address_not_of_this_machine_is_a_listen_error() -> None:
    with pytest.raises(ListenError) as raised:
        HttpServer("192.0.2.1:0")  # TEST-NET-1 (RFC 5737)
    assert str(raised.value) == (
        "cannot listen on 192.0.2.1:0: address not available (it is not an address of this machine)"
    )


def test_a_privileged_port_is_a_listen_error() -> None:
    try:
        server = HttpServer("127.0.0.1:1")
    except ListenError as error:
        raised = error
    else:
        server._socket.close()
        pytest.skip("this user may bind ports below 1024 (CAP_NET_BIND_SERVICE)")
    assert str(raised) == (
        "cannot listen on 127.0.0.1:1: permission denied (ports below 1024 need privileges); choose a port "
        "from 1024"
    )


def test_an_unknown_host_is_a_listen_error() -> None:
    # .invalid never resolves (RFC 6761).
    with pytest.raises(
        ListenError, match=r"^cannot listen on kanari\.invalid:9464: kanari\.invalid is not known"
    ):
        HttpServer("kanari.invalid:9464")
