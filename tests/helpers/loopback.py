"""A fake of an HTTP service on loopback: a threaded HTTP/1.1 server on 127.0.0.1 at a free
port, serving while entered. Each fake says only what a request gets."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class LoopbackServer:
    """Subclasses implement `handle`, which answers one request through its handler; requests
    of the `methods` listed reach it, any other is refused as the http.server default does."""

    methods: ClassVar[tuple[str, ...]] = ("POST",)

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not serving: enter it first"
        return int(self._server.server_address[1])

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        fake = self

        def answer(handler: BaseHTTPRequestHandler) -> None:
            fake.handle(handler)

        def quiet(handler: BaseHTTPRequestHandler, format: str, *args: Any) -> None:
            pass

        attributes: dict[str, Any] = {"protocol_version": "HTTP/1.1", "log_message": quiet}
        attributes.update({f"do_{method}": answer for method in self.methods})
        handler = type("Handler", (BaseHTTPRequestHandler,), attributes)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
