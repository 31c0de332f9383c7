"""HTTP at the byte level for the server's tests: the server run in the test's loop, raw
sockets that send exactly the bytes a test writes, and responses parsed back with h11 (a
client-side h11, not the code under test)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import h11

from monitor.web import HttpServer
from monitor.web.messages import Handler, Request, Response

DEADLINE_SECONDS = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes  # empty when read with keep_body=False
    size: int  # of the body as sent
    sha256: str  # of the body as sent


class RawClient:
    """One TCP (or TLS) connection driven by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def connect(
        cls,
        port: int,
        *,
        host: str = "127.0.0.1",
        local_address: str | None = None,
        context: ssl.SSLContext | None = None,
    ) -> RawClient:
        reader, writer = await asyncio.open_connection(
            host,
            port,
            ssl=context,
            server_hostname="localhost" if context is not None else None,
            local_addr=(local_address, 0) if local_address else None,
        )
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(
        self, method: bytes = b"GET", timeout: float = DEADLINE_SECONDS, *, keep_body: bool = True
    ) -> Answer:
        """Read one response (to a request made with `method`); without `keep_body` only its
        size and digest are kept (a hundred big bodies need not sit in the test's memory)."""
        # h11 needs to know what the request was (a HEAD answer has no body).
        if self._h11.our_state is h11.IDLE:
            self._h11.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
            self._h11.send(h11.EndOfMessage())
        deadline = time.monotonic() + timeout
        response: h11.Response | None = None
        body = bytearray()
        digest = hashlib.sha256()
        size = 0
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                remaining = deadline - time.monotonic()
                data = await asyncio.wait_for(self.reader.read(65536), max(remaining, 0.001))
                self._h11.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                digest.update(event.data)
                size += len(event.data)
                if keep_body:
                    body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                headers = {k.decode().lower(): v.decode() for k, v in response.headers}
                if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
                    self._h11.start_next_cycle()
                return Answer(response.status_code, headers, bytes(body), size, digest.hexdigest())
            else:
                raise AssertionError(f"unexpected {event!r}")

    async def closed_by_server(self, timeout: float = DEADLINE_SECONDS) -> bool:
        """True once the server has closed the connection (EOF or reset), reading and
        dropping anything before; False if it is still open after `timeout`."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                remaining = deadline - time.monotonic()
                data = await asyncio.wait_for(self.reader.read(65536), max(remaining, 0.001))
                if not data:
                    return True
        except (ConnectionError, ssl.SSLError):
            return True
        except TimeoutError:
            return False
        return False

    def close(self) -> None:
        self.writer.transport.abort()


def request(path: str = "/metrics", method: str = "GET", *headers: str) -> bytes:
    """A request head with Host, and `headers` ("Name: value") as given."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


async def echo(request: Request) -> Response:
    """A handler answering with what it was asked."""
    return Response(200, f"{request.method} {request.path}\n".encode())


@contextlib.asynccontextmanager
async def serving(handler: Handler = echo, **options: Any) -> AsyncIterator[HttpServer]:
    """An HttpServer on 127.0.0.1 (a free port) for the length of the block."""
    server = HttpServer(handler, "127.0.0.1", 0, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def slow_scrape(
    port: int,
    *,
    stall_seconds: float = 0.0,
    coding: str = "identity",
    authorization: str | None = None,
    context: ssl.SSLContext | None = None,
    keep_body: bool = True,
) -> Answer:
    """GET /metrics, then read nothing for `stall_seconds` (what the server has sent by then
    sits in buffers), then the whole answer."""
    client = await RawClient.connect(port, context=context)
    try:
        headers = [f"Accept-Encoding: {coding}"]
        if authorization is not None:
            headers.append(f"Authorization: {authorization}")
        await client.send(request("/metrics", "GET", *headers))
        if stall_seconds:
            await asyncio.sleep(stall_seconds)
        return await client.answer(timeout=60, keep_body=keep_body)
    finally:
        client.close()
