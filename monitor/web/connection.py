"""One client connection: TLS if configured, then requests framed by h11 one at a time, each
within its deadline, credentials checked before any body byte is read, and answers written in
bounded slices so that a client that stops reading costs a small buffer and is cut off."""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import cast

import h11

from monitor.web.limits import ServerLimits
from monitor.web.messages import (
    GZIP_MIN_BYTES,
    Authorize,
    Handler,
    Payload,
    Request,
    Response,
    Verdict,
    gzip_coding,
)

# Asked once per connection, so a changed certificate or TLS setting applies to the next one.
TlsProvider = Callable[[], ssl.SSLContext | None]
ALLOWED_METHODS = ("GET", "HEAD")
_GOODBYE_SECONDS = 2.0
# Why a request was refused, as counted in the rate-limited `http.requests_refused` event.
_REFUSAL_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    405: "method_not_allowed",
    413: "body_too_large",
    429: "too_many_checks",
    431: "header_too_large",
}


@dataclass(frozen=True)
class Service:
    """What every connection of one server shares."""

    handler: Handler
    authorize: Authorize | None
    tls: TlsProvider | None
    challenge: str
    open_paths: frozenset[str]
    limits: ServerLimits
    shed: Callable[[str], None]  # a connection was cut: "request_timeout", "send_timeout"
    refused: Callable[[str], None]  # a request was refused, by reason
    failed: Callable[[str, BaseException], None]  # something raised that should not have


class Connection:
    """Serves one accepted connection until it closes, is cut, or `abort()` is called."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        service: Service,
        accepted: float,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._service = service
        self._limits = service.limits
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=service.limits.max_header_bytes
        )
        peer = writer.get_extra_info("peername")
        self._peer_address = str(peer[0]) if isinstance(peer, tuple) else ""
        self._peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
        # The deadline of the request being read; None while idle between requests. The first
        # request's runs from the accept, so it covers the TLS handshake too.
        self._deadline: float | None = accepted + self._limits.request_seconds
        self._waiting_from = accepted
        # For the server's choice of whom to close when full: since when this connection has
        # been without a complete request (None while a request is being answered) ...
        self.waiting_since: float | None = accepted
        # ... and since when it has been answering one.
        self.busy_since: float = accepted
        self.task: asyncio.Task[None] | None = None
        self._head = False  # the request being answered is a HEAD: no body goes back
        # Why a TimeoutError ends this connection: counted as shed by this reason, or, None,
        # an idle keep-alive connection closed quietly.
        self._cut_reason: str | None = None

    def abort(self) -> None:
        """Close at once without a goodbye, and stop whatever this connection was doing."""
        self._writer.transport.abort()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    async def serve(self) -> None:
        """Never raises: every way a connection can end is handled here."""
        graceful = False
        try:
            await self._start_tls()
            while await self._exchange():
                pass
            graceful = True
        except asyncio.CancelledError:
            pass  # evicted, or the server is closing: abort() did the rest
        except TimeoutError:
            if self._cut_reason is not None:
                self._service.shed(self._cut_reason)
        except (OSError, EOFError):
            pass  # reset, TLS refused, went away: nothing to tell anyone
        except Exception as exc:
            self._service.failed("connection", exc)
        if graceful:
            await self._linger()
        self._writer.transport.abort()

    async def _start_tls(self) -> None:
        context = self._service.tls() if self._service.tls is not None else None
        if context is None:
            return
        # TLS is started per connection rather than by the listener, so that a re-read web
        # config (a renewed certificate, TLS turned on) applies without a rebind.
        self._cut_reason = "request_timeout"
        async with asyncio.timeout_at(self._deadline):
            await self._writer.start_tls(context)

    async def _exchange(self) -> bool:
        """Read one request and answer it; True to read another on this connection."""
        try:
            event = await self._next_event()
            if isinstance(event, h11.ConnectionClosed):
                return False
            assert isinstance(event, h11.Request), event
            self._head = event.method == b"HEAD"
            request = self._request(event)
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if exc.error_status_hint in (400, 431) else 400
            request = (status, f"{exc}\n".encode())
        if isinstance(request, tuple):
            await self._refuse(*request)
            return False
        self._busy()
        if request.path not in self._service.open_paths and self._service.authorize:
            verdict = await self._service.authorize(request)
            if verdict is Verdict.DENY:
                await self._refuse(
                    401, b"unauthorized\n", {"WWW-Authenticate": self._service.challenge}
                )
                return False
            if verdict is Verdict.BUSY:
                await self._refuse(429, b"too many credential checks\n", {"Retry-After": "1"})
                return False
        if request.method not in ALLOWED_METHODS:
            await self._refuse(405, b"method not allowed\n", {"Allow": ", ".join(ALLOWED_METHODS)})
            return False
        if not await self._drop_body():
            return False
        self._busy()
        try:
            response = await self._service.handler(request)
        except Exception as exc:
            self._service.failed("handler", exc)
            response = Response(500, b"internal error\n")
        await self._respond(response, coding=request.headers.get("accept-encoding"))
        if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
            return False
        self._h11.start_next_cycle()
        self._head = False
        now = asyncio.get_running_loop().time()
        self._waiting_from = now
        self._waiting()
        # A pipelined request already here is on the clock now; otherwise the connection idles.
        self._deadline = now + self._limits.request_seconds if self._h11.trailing_data[0] else None
        return True

    async def _next_event(self) -> h11.Event:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA:
                self._h11.receive_data(await self._read())
                continue
            # PAUSED comes only before start_next_cycle(), which follows every answer.
            assert isinstance(event, h11.Event), event
            return event

    async def _read(self) -> bytes:
        loop = asyncio.get_running_loop()
        if self._deadline is None:  # idle between requests: the next one's first byte
            self._cut_reason = None
            async with asyncio.timeout(self._limits.idle_seconds):
                data = await self._reader.read(self._limits.chunk_bytes)
            self._deadline = loop.time() + self._limits.request_seconds
            return data
        self._cut_reason = "request_timeout"
        async with asyncio.timeout_at(self._deadline):
            return await self._reader.read(self._limits.chunk_bytes)

    def _request(self, event: h11.Request) -> Request | tuple[int, bytes]:
        """The request, or the (status, body) that refuses it."""
        names = [name for name, _ in event.headers]
        # h11 insists on exactly one Host in HTTP/1.1; we want it in 1.0 too.
        if b"host" not in names:
            return 400, b"missing Host header\n"
        # h11 would decode chunked bodies; we take none, so refuse rather than half-support.
        if b"transfer-encoding" in names:
            return 400, b"Transfer-Encoding is not accepted\n"
        size = len(event.method) + len(event.target) + 12
        size += sum(len(name) + len(value) + 4 for name, value in event.headers)
        if size > self._limits.max_header_bytes:
            return 431, b"request header too large\n"
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("ascii"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        length = int(headers.get("content-length", "0"))  # h11 validated it
        if length > self._limits.max_body_bytes:
            return 413, b"request body too large\n"
        target = event.target.decode("latin-1")
        path, _, query = target.partition("?")
        return Request(
            event.method.decode("ascii"), path, query, headers, self._peer, self._peer_address
        )

    async def _drop_body(self) -> bool:
        """Read the request body (under the request deadline) and drop it; False if the
        connection cannot go on."""
        self._waiting()
        try:
            while not isinstance(event := await self._next_event(), h11.EndOfMessage):
                if isinstance(event, h11.ConnectionClosed):
                    return False
        except h11.RemoteProtocolError:
            await self._refuse(400, b"incomplete request body\n")
            return False
        return True

    async def _refuse(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Answer with `status` and close; the rest of the request is never read."""
        self._service.refused(_REFUSAL_REASONS.get(status, str(status)))
        if self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        self._busy()
        await self._respond(Response(status, body, headers=headers or {}), close=True)

    async def _respond(
        self,
        response: Response,
        *,
        coding: str | None = None,
        close: bool = False,
    ) -> None:
        body = response.body if isinstance(response.body, Payload) else Payload(response.body)
        # nosniff: a browser takes every answer as the type it says, never as HTML it guessed.
        headers = [
            ("Content-Type", response.content_type),
            ("X-Content-Type-Options", "nosniff"),
            *response.headers.items(),
        ]
        data = body.data
        if len(body) >= GZIP_MIN_BYTES:
            token = gzip_coding(coding)
            if token is not None:
                data = await body.gzipped()
                headers.append(("Content-Encoding", token))
            headers.append(("Vary", "Accept-Encoding"))
        headers.append(("Content-Length", str(len(data))))
        headers.append(("Date", formatdate(usegmt=True)))
        if close:
            headers.append(("Connection", "close"))
        head = h11.Response(
            status_code=response.status,
            headers=headers,
            reason=HTTPStatus(response.status).phrase.encode(),
        )
        self._writer.write(self._h11.send(head))
        if not self._head:
            # Slices of the shared body, each sent before the next is queued: asyncio copies
            # whatever the socket does not take at once, and a whole body per connection is
            # what took a scrape flood to gigabytes.
            view = memoryview(data)
            step = self._limits.chunk_bytes
            for start in range(0, len(view), step):
                # h11 counts the slice against Content-Length and hands it back uncopied (it
                # takes any buffer, whatever its annotation says).
                chunk = cast(bytes, view[start : start + step])
                for part in self._h11.send_with_data_passthrough(h11.Data(data=chunk)) or ():
                    self._writer.write(part)
                await self._drain()
        self._writer.write(self._h11.send(h11.EndOfMessage()))
        await self._drain()

    async def _drain(self) -> None:
        self._cut_reason = "send_timeout"
        async with asyncio.timeout(self._limits.send_seconds):
            await self._writer.drain()

    async def _linger(self) -> None:
        """Close politely (flush, TLS close_notify) but never wait on the client for long; a
        closing connection is the first to go when the server is full."""
        self.waiting_since = -math.inf
        # What is still buffered gets the send timeout; with nothing left to send, waiting is
        # only for the peer's TLS close_notify, which many clients never send.
        unsent = self._writer.transport.get_write_buffer_size()
        self._writer.close()
        try:
            async with asyncio.timeout(self._limits.send_seconds if unsent else _GOODBYE_SECONDS):
                await self._writer.wait_closed()
        except (TimeoutError, asyncio.CancelledError, OSError):
            pass

    def _busy(self) -> None:
        self.waiting_since = None
        self.busy_since = asyncio.get_running_loop().time()

    def _waiting(self) -> None:
        self.waiting_since = self._waiting_from
