"""The idle-connection race, against a real server over a link with real latency.

uvicorn (like Node.js and Apache) closes an idle keep-alive connection after 5 s. A client that keeps
idle connections as long reuses one the server is closing whenever its request and the server's close
cross on the wire: with 25 ms one way, any request sent between 4.95 and 5 s after the previous answer
finds the connection gone ("Server disconnected without sending a response"). Kanari's pool drops idle
connections after 4 s, and retries an idempotent request once on a fresh connection, so none fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from probe.clock import SystemClock
from probe.errors import UpstreamError
from probe.http.server import HttpServer
from probe.transport.pool import KEEPALIVE_EXPIRY, connection_limits, pooled_transport
from probe.transport.upstream import Upstream

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SERVER_IDLE_TIMEOUT = 5.0  # uvicorn's default timeout_keep_alive, which HttpServer keeps
ONE_WAY_LATENCY = 0.025
LANES = 60
ROUNDS = 6  # 360 requests in all, 300 of them after an idle gap


class LatencyLink:
    """A TCP relay on loopback that delivers every byte, and every close, ``latency`` seconds late."""

    def __init__(self, upstream: tuple[str, int], latency: float) -> None:
        self._upstream = upstream
        self._latency = latency
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _connect(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [client_writer, server_writer]
        for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
            task = asyncio.create_task(self._pump(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    with contextlib.suppress(OSError):
                        writer.close()
                    return
                with contextlib.suppress(OSError):
                    writer.write(data)

        delivery = asyncio.create_task(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + self._latency, data))
        except OSError:
            pass
        queue.put_nowait((loop.time() + self._latency, b""))
        await delivery


async def answer(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def test_no_request_fails_at_idle_gaps_around_the_servers_keepalive_timeout() -> None:
    assert KEEPALIVE_EXPIRY < SERVER_IDLE_TIMEOUT
    server = HttpServer("127.0.0.1:0")
    await server.start(Starlette(routes=[Route("/answer", answer)]))
    link = LatencyLink(("127.0.0.1", server.port), ONE_WAY_LATENCY)
    await link.start()
    limits = connection_limits(LANES)
    client = httpx.AsyncClient(
        transport=pooled_transport(ssl.create_default_context(), limits), limits=limits
    )
    upstream = Upstream(
        "readback", client, SystemClock(), concurrency=LANES, timeout=10.0, max_response_bytes=1024
    )
    failures: list[UpstreamError] = []

    async def lane(index: int) -> None:
        for _ in range(ROUNDS):
            try:
                await upstream.json("GET", f"http://127.0.0.1:{link.port}/answer", backoff_key=str(index))
            except UpstreamError as error:
                failures.append(error)
            # The idle gap is the scenario under test, not a wait for a condition: the lanes spread
            # over the last 60 ms before the server's timeout, where a request and the close cross.
            await asyncio.sleep(SERVER_IDLE_TIMEOUT - 0.001 * (index % 60))

    try:
        await asyncio.gather(*(lane(index) for index in range(LANES)))
    finally:
        await client.aclose()
        await link.close()
        await server.close()
    assert [error.reason.value for error in failures] == []
