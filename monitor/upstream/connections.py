"""An httpx client that never keeps a connection a broken request left behind: after any
request that did not end cleanly, later requests go to a fresh client, and the old one is
closed, with every connection it holds, once its last request is over.

Why: httpcore 1.0 does not shield its clean-up from asyncio cancellation, so a request
cancelled at an unlucky moment (a timeout, or a poll abandoning its other request) leaves
its connection checked out of the pool for good, the socket in CLOSE-WAIT
(encode/httpcore#1093). Against a server that closes after each answer, every such leak
costs a slot until the pool is full and every request times out. Renewing the client after
an unclean end bounds the damage to one poll, whatever httpcore gets wrong. The upstream
client and the sinks' sender both use it, and the TLS settings every client shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Callable

import httpx
import structlog

log = structlog.get_logger("monitor.http")


@functools.cache
def verified_tls() -> ssl.SSLContext:
    """The TLS settings of every client (certificates verified against the CA bundle), made
    once per process and only when a client first needs them: loading the bundle costs about
    50 ms of CPU and 1 to 2 MB each time. A bundle updated on disk is read at the next start."""
    return httpx.create_ssl_context()


def tls_for(base_url: str) -> ssl.SSLContext:
    """The TLS settings of a client whose every request goes to `base_url` (none follows a
    redirect): `verified_tls()` for https; for http, where TLS is never spoken, a context
    that trusts no certificate at all, so that the bundle is not loaded for nothing."""
    if base_url.lower().startswith("https:"):
        return verified_tls()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, and trusts no one


class RenewingClient:
    """Hands out the current httpx.AsyncClient for one request at a time (`lease`); the
    first is made for the first request."""

    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._current: httpx.AsyncClient | None = None
        self._closed = False
        self._leases: dict[int, int] = {}  # id(client) -> requests in flight on it
        self._retired: dict[int, httpx.AsyncClient] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.renewals = 0

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[httpx.AsyncClient]:
        """The client to make one request with. Leaving the block with an exception (a
        cancellation, a timeout, an error mid-answer) retires that client."""
        if self._current is None:
            self._current = self._factory()
        client = self._current
        key = id(client)
        self._leases[key] = self._leases.get(key, 0) + 1
        clean = False
        try:
            yield client
            clean = True
        finally:
            self._leases[key] -= 1
            if not clean and client is self._current:
                self._current = self._factory()
                self._retired[key] = client
                self.renewals += 1
                log.debug("http.client_renewed", renewals=self.renewals)
            if key in self._retired and self._leases[key] == 0:
                del self._leases[key]
                # Closed in a task of its own: this block may be running in a cancelled
                # task, where a second cancellation could cut the close short.
                task = asyncio.get_running_loop().create_task(self._retired.pop(key).aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    @property
    def is_closed(self) -> bool:
        return self._closed if self._current is None else self._current.is_closed

    async def aclose(self) -> None:
        """Close the current client and every retired one, requests in flight or not."""
        self._closed = True
        if self._current is not None:
            await self._current.aclose()
        for client in list(self._retired.values()):
            await client.aclose()
        self._retired.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class _Borrowed(httpx.AsyncBaseTransport):
    """A transport lent to the clients RenewingClient makes: closing one of them must not
    close it for the next (tests inject one transport for many clients)."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        pass


def borrowed(transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    return _Borrowed(transport)
