"""A small HTTP/1.1 server on the asyncio event loop, for /metrics and the health endpoints.

On the loop on purpose: /healthz answering proves the loop that runs polls and alerts is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
IDLE_TIMEOUT_SECONDS = 60.0
TLS_HANDSHAKE_SECONDS = 10.0
GZIP_MIN_BYTES = 1024
# Compress big bodies off the loop so a scrape of many accounts never stalls polling.
GZIP_THREAD_MIN_BYTES = 256 * 1024

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    peer: str


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]
# Asked once per connection, so a changed certificate or TLS setting applies to the next one.
TlsProvider = Callable[[], ssl.SSLContext | None]
Authorize = Callable[[Request], Awaitable[bool]]


class HttpServer:
    """Serves `handler` on host:port (port 0 picks a free one); optionally over TLS, and with
    every path but `open_paths` behind `authorize` (401 with `challenge` when it says no)."""

    def __init__(
        self,
        handler: Handler,
        host: str,
        port: int,
        *,
        tls: TlsProvider | None = None,
        authorize: Authorize | None = None,
        challenge: str = "Basic",
        open_paths: frozenset[str] = frozenset(),
    ) -> None:
        self._handler = handler
        self._host = host or None
        self._port = port
        self._tls = tls
        self._authorize = authorize
        self._challenge = challenge
        self._open_paths = open_paths
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEADER_BYTES
        )

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._connections):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            # TLS is started per connection rather than by the listener, so that a re-read
            # web config (a renewed certificate, TLS turned on) applies without a rebind.
            context = self._tls() if self._tls is not None else None
            if context is not None:
                await writer.start_tls(context, ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS)
            while await self._exchange(reader, writer, peer_text):
                pass
        except ssl.SSLError as exc:
            log.debug("http.tls_failed", peer=peer_text, reason=exc.reason)
        except (OSError, asyncio.IncompleteReadError):
            pass  # connection reset, handshake timed out, or the client went away
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> bool:
        """Answer one request; True to keep the connection for another."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_SECONDS)
        except asyncio.LimitOverrunError:
            await self._write(writer, Response(431, b"request header too large\n"), False, "GET")
            return False
        except (TimeoutError, asyncio.IncompleteReadError):
            return False
        request = _parse_head(head, peer)
        if request is None:
            await self._write(writer, Response(400, b"bad request\n"), False, "GET")
            return False
        version_11 = head.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1")
        connection = request.headers.get("connection", "").lower()
        keep_alive = (version_11 and connection != "close") or connection == "keep-alive"
        if "transfer-encoding" in request.headers:
            await self._write(
                writer, Response(400, b"chunked requests unsupported\n"), False, "GET"
            )
            return False
        length_text = request.headers.get("content-length", "0")
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            await self._write(writer, Response(413, b"request body too large\n"), False, "GET")
            return False
        if int(length_text):
            await reader.readexactly(int(length_text))
        if not await self._allowed(request):
            log.debug("http.unauthorized", peer=peer, path=request.path)
            response = Response(
                401, b"unauthorized\n", headers={"WWW-Authenticate": self._challenge}
            )
        elif request.method not in ("GET", "HEAD"):
            response = Response(405, b"method not allowed\n", headers={"Allow": "GET, HEAD"})
        else:
            try:
                response = await self._handler(request)
            except Exception:
                log.exception("http.handler_failed", path=request.path)
                response = Response(500, b"internal error\n")
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        await self._write(writer, response, keep_alive, request.method, gzip_ok=gzip_ok)
        return keep_alive

    async def _allowed(self, request: Request) -> bool:
        if self._authorize is None or request.path in self._open_paths:
            return True
        try:
            return await self._authorize(request)
        except Exception:
            log.exception("http.authorize_failed", path=request.path)
            return False  # fail closed

    @staticmethod
    async def _write(
        writer: asyncio.StreamWriter,
        response: Response,
        keep_alive: bool,
        method: str,
        *,
        gzip_ok: bool = False,
    ) -> None:
        body = response.body
        headers = {"Content-Type": response.content_type, **response.headers}
        if gzip_ok and len(body) >= GZIP_MIN_BYTES:
            if len(body) >= GZIP_THREAD_MIN_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, 1)
            else:
                body = gzip.compress(body, 1)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        reason = _REASONS.get(response.status, "")
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(body)
        await writer.drain()


def _parse_head(head: bytes, peer: str) -> Request | None:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, peer)
