"""A small fault-injecting HTTP/TCP proxy on loopback (toxiproxy is not available here).

Each client connection carries one request: the proxy reads it, decides what to do from its current
:class:`Fault`, forwards it to the upstream on a fresh connection (or not), and answers with
``Connection: close``. Faults mirror what a network and an upstream really do: refuse, reset in the
middle of an answer, never answer, trickle, answer 429 or 5xx, answer malformed, oversized or
subtly different JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import socket
import struct
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass
class Request:
    method: str
    path: str
    head: bytes
    body: bytes


@dataclasses.dataclass
class Fault:
    """What to do with matching requests. ``kind``:

    ``pass``, ``reset`` (forward, then cut the answer half-way with a TCP RST), ``hang`` (forward, never
    answer), ``trickle`` (forward, answer ``chunk`` bytes every ``delay`` s), ``status`` (answer
    ``status`` without forwarding, with ``headers``), ``burst`` (``status`` for the next ``count``
    matching requests, then pass), ``malformed`` (forward, cut the JSON body in half), ``huge``
    (answer 200 with ``size`` bytes of JSON), ``rewrite`` (forward, pass the JSON body through
    ``transform``), ``answer`` (answer 200 with ``body`` without forwarding).
    """

    kind: str = "pass"
    status: int = 503
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    count: int = 0
    delay: float = 0.0
    chunk: int = 64
    size: int = 0
    transform: Callable[[Any], Any] | None = None
    body: bytes = b""
    match: str = ""  # regex on "METHOD path"; empty matches everything


class FaultProxy:
    """Listens on a free loopback port and forwards to ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.fault = Fault()
        self.seen: list[Request] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def matched(self, request: Request) -> bool:
        return (
            not self.fault.match
            or re.search(self.fault.match, f"{request.method} {request.path}") is not None
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.seen.append(request)
            fault = self.fault if self.matched(request) else Fault()
            if fault.kind == "burst":
                if fault.count > 0:
                    fault.count -= 1
                    await _answer(writer, fault.status, b'{"error": "burst"}', fault.headers)
                    return
                fault = Fault()
            if fault.kind == "status":
                await _answer(writer, fault.status, b'{"error": "injected"}', fault.headers)
                return
            if fault.kind == "answer":
                await _answer(writer, 200, fault.body, {})
                return
            if fault.kind == "huge":
                await _answer(writer, 200, b"[" + b"0," * (fault.size // 2) + b"0]", {})
                return
            status, headers, body = await self._forward(request)
            if fault.kind == "hang":
                await asyncio.sleep(3600)
                return
            if fault.kind == "malformed" and body:
                body = body[: max(1, len(body) // 2)]
            if fault.kind == "rewrite" and fault.transform is not None and body:
                body = json.dumps(fault.transform(json.loads(body))).encode()
            payload = _response_bytes(status, headers, body)
            if fault.kind == "reset":
                writer.write(payload[: len(payload) // 2])
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if fault.kind == "trickle":
                for start in range(0, len(payload), fault.chunk):
                    writer.write(payload[start : start + fault.chunk])
                    await writer.drain()
                    await asyncio.sleep(fault.delay)
                return
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            head = re.sub(rb"(?im)^connection:.*\r\n", b"", request.head)
            head = head.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
            writer.write(head + request.body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        head_bytes, _, body = raw.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, separator, value = line.partition(": ")
            if separator:
                headers.append((name, value))
        if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
            body = _dechunk(body)
        kept = [
            (k, v)
            for k, v in headers
            if k.lower() not in {"content-length", "transfer-encoding", "connection"}
        ]
        return status, kept, body


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    first = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return Request(first[0], first[1], head, body)


def _response_bytes(status: int, headers: list[tuple[str, str]] | dict[str, str], body: bytes) -> bytes:
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in items]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    if not any(k.lower() == "content-type" for k, _ in items):
        lines.append("Content-Type: application/json")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str]) -> None:
    writer.write(_response_bytes(status, headers, body))
    await writer.drain()


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)
