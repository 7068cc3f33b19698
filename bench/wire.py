"""The two HTTP clients the floors make their calls with, behind one small interface.

- :class:`H11Wire`: the least an HTTP/1.1 client can do. ``h11`` (the protocol state machine httpcore
  itself is built on) over asyncio streams, persistent connections pooled per host and port, no
  redirects, no cookies, no header normalisation beyond what the protocol needs. It is the honest
  floor's transport: whatever Kanari spends on HTTP above this is overhead a hand-written client could
  avoid.
- :class:`HttpxWire`: an ``httpx.AsyncClient`` built by Kanari's own :func:`probe.runtime.http_client`
  (its pooled transport, its limits). The same protocol logic over it isolates what Kanari's engine,
  ledger and metrics cost, with the HTTP stack held equal.

Both count every request by kind (:func:`bench.workload.kind_of`) before it leaves, so the benchmark can
check that every upstream call was counted on each side.
"""

from __future__ import annotations

import asyncio
import collections
import urllib.parse
from collections.abc import Callable
from typing import Protocol

import h11
import httpx

from bench.workload import kind_of

# Bytes read from a socket at a time: one read holds a typical answer (status histories, read-back lists).
READ_SIZE = 65_536
# uvicorn closes a connection idle for 5 s; one idle longer than this is closed by the client instead of
# being reused, so no request meets a connection the server is closing (as Kanari's transport does).
IDLE_LIMIT = 4.0


class Wire(Protocol):
    """What the floors need from an HTTP client."""

    requests: collections.Counter[str]

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request; its status code and body."""

    async def close(self) -> None:
        """Close every connection."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = h11.Connection(our_role=h11.CLIENT)
        self.idle_since = 0.0


class H11Wire:
    """HTTP/1.1 with ``h11`` over pooled persistent connections (plain HTTP: the benchmark's loopback)."""

    def __init__(self) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self._idle: dict[tuple[str, int], list[_Connection]] = collections.defaultdict(list)

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request on an idle connection to the host, or a new one."""
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.requests[kind_of(method, parts.path)] += 1
        pool = self._idle[(host, port)]
        loop = asyncio.get_running_loop()
        connection = None
        while pool:
            candidate = pool.pop()
            if loop.time() - candidate.idle_since < IDLE_LIMIT:
                connection = candidate
                break
            candidate.writer.close()
        if connection is None:
            connection = _Connection(*await asyncio.open_connection(host, port))
        fields = [("Host", parts.netloc), ("Content-Length", str(len(body))), *headers.items()]
        protocol = connection.protocol
        out = protocol.send(h11.Request(method=method, target=target, headers=fields))
        if body:
            out = (out or b"") + (protocol.send(h11.Data(data=body)) or b"")
        out = (out or b"") + (protocol.send(h11.EndOfMessage()) or b"")
        connection.writer.write(out)
        status, chunks = 0, []
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await connection.reader.read(READ_SIZE))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
            connection.idle_since = loop.time()
            pool.append(connection)
        else:
            connection.writer.close()
        return status, b"".join(chunks)

    async def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            for connection in pool:
                connection.writer.close()
            pool.clear()


class HttpxWire:
    """httpx clients built and used as Kanari's upstreams are: one per upstream (told apart by the first
    two segments of the path here, where every upstream is one sandbox), with Kanari's own transport and
    limits, and at most ``concurrency`` requests under way on each."""

    def __init__(self, client: Callable[[], httpx.AsyncClient], concurrency: int) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self._client = client
        self._clients: dict[str, tuple[httpx.AsyncClient, asyncio.Semaphore]] = {}
        self._concurrency = concurrency

    async def call(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request through the upstream's client."""
        parsed = httpx.URL(url)
        self.requests[kind_of(method, parsed.path)] += 1
        upstream = "/".join(parsed.path.split("/")[:3])
        if upstream not in self._clients:
            self._clients[upstream] = (self._client(), asyncio.Semaphore(self._concurrency))
        client, gate = self._clients[upstream]
        # As Kanari's Upstream: at most ``concurrency`` requests under way, so httpx's pool never queues
        # (its cost per queued request grows with the queue).
        async with gate:
            response = await client.request(method, url, headers=headers, content=body or None)
        return response.status_code, response.content

    async def close(self) -> None:
        """Close every client."""
        for client, _ in self._clients.values():
            await client.aclose()
