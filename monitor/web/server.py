"""The HTTP/1.1 server for /metrics and the health endpoints: h11 framing on the asyncio loop,
TLS per connection, and hard limits on what clients may hold (see `ServerLimits`).

On the loop on purpose: /healthz answering proves the loop that runs polls and alerts is alive.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import structlog

from monitor.web.connection import Connection, Service, TlsProvider
from monitor.web.limits import ServerLimits
from monitor.web.messages import Authorize, Handler
from monitor.web.throttle import Throttle

log = structlog.get_logger(__name__)

# asyncio takes one number for two things: how many connections the kernel queues before we
# accept them, and how many we accept per loop iteration. We want a deep queue (a burst of
# connects must not overflow it: an overflow drops a real scrape's handshake and costs it a
# one-second retransmit) and a small batch (an accepted connection holds a file descriptor
# until it is admitted or refused: a flood must not run the daemon out of them), which is
# ServerLimits.accept_batch.
LISTEN_QUEUE = 4096  # the kernel caps it at net.core.somaxconn
# How long close() lets aborted connections wind up; they do not wait on their clients.
_CLOSE_GRACE_SECONDS = 1.0


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
        limits: ServerLimits | None = None,
    ) -> None:
        self._host = host or None
        self._port = port
        self.limits = limits or ServerLimits()
        self._server: asyncio.Server | None = None
        self._open: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._shed = Throttle(
            log.warning, "http.connections_shed", max_connections=self.limits.max_connections
        )
        self._refused = Throttle(log.info, "http.requests_refused")
        self._failures = Throttle(log.error, "http.request_failed")
        self._service = Service(
            handler=handler,
            authorize=authorize,
            tls=tls,
            challenge=challenge,
            open_paths=open_paths,
            limits=self.limits,
            shed=self._shed.note,
            refused=self._refused.note,
            failed=self._failed,
        )

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def cap_connections(self, max_connections: int) -> None:
        """A new cap on open connections (what the descriptor limit leaves them changed with a
        reload); past it, the usual ones are closed as new ones come."""
        self.limits = replace(self.limits, max_connections=max_connections)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept,
            self._host,
            self._port,
            limit=self.limits.chunk_bytes,
            backlog=self.limits.accept_batch,
        )
        for listening in self._server.sockets:
            # listen() again on a duplicate of the descriptor deepens the queue of the one
            # socket both name, leaving asyncio's batch as it is.
            with socket.fromfd(listening.fileno(), listening.family, listening.type) as dup:
                dup.listen(LISTEN_QUEUE)

    async def close(self) -> None:
        """Stop listening and drop every connection at once: shutdown never waits on a
        client, however slowly it reads."""
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=_CLOSE_GRACE_SECONDS)
        await self._server.wait_closed()
        self._server = None
        for throttle in (self._shed, self._refused, self._failures):
            throttle.close()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function, not a coroutine: asyncio calls it as the connection is made, so a
        # connection is admitted (and another closed to make room) before the next accept.
        loop = asyncio.get_running_loop()
        while len(self._open) >= self.limits.max_connections:
            self._make_room()
        connection = Connection(reader, writer, self._service, loop.time())
        self._open.add(connection)
        task = loop.create_task(self._serve(connection))
        connection.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, connection: Connection) -> None:
        try:
            await connection.serve()
        finally:
            self._open.discard(connection)

    def _make_room(self) -> None:
        """Close the connection that has waited longest without a complete request (or idled
        longest); when every one is answering a request, the one answering longest."""
        waiting = [c for c in self._open if c.waiting_since is not None]
        if waiting:
            victim = min(waiting, key=lambda c: c.waiting_since or 0.0)
        else:
            victim = min(self._open, key=lambda c: c.busy_since)
        victim.abort()
        self._open.discard(victim)
        self._shed.note("evicted")

    def _failed(self, where: str, exc: BaseException) -> None:
        self._failures.note(f"{where}_{type(exc).__name__}", exc_info=exc)
