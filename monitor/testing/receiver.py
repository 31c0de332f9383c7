"""A webhook receiver on loopback that records what it gets and can be told to fail: the test
suite's stand-in for a real receiver, and the one `demo` prints from."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at_unix: float
    answered: int  # the status it was answered with; 0 when the connection was reset

    def json(self) -> Any:
        return orjson.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """A stopped receiver refuses: kept-alive connections are cut too."""
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up is not the receiver's problem


class WebhookReceiver:
    """Records every POST; `respond` queues status codes (and headers) for the next ones."""

    def __init__(self, on_receive: Callable[[Received], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._on_receive = on_receive
        self._script: deque[tuple[int, dict[str, str], float, bool]] = deque()
        self.received: list[Received] = []
        self._server: _Server | None = None
        self._port = 0

    def respond(
        self,
        status: int,
        times: int = 1,
        *,
        headers: dict[str, str] | None = None,
        delay_seconds: float = 0.0,
        reset: bool = False,
    ) -> None:
        """Answer the next `times` requests so, after `delay_seconds`; `reset` aborts the
        connection with a TCP RST instead of answering (recorded with status 0)."""
        with self._lock:
            self._script.extend([(status, headers or {}, delay_seconds, reset)] * times)

    def reset(self) -> None:
        """Drop the answers still queued by `respond`: every request gets 200 from now on."""
        with self._lock:
            self._script.clear()

    def accepted(self, path: str | None = None) -> list[Received]:
        """What was answered 2xx, in order; only what was POSTed to `path` when given."""
        with self._lock:
            return [
                r
                for r in self.received
                if 200 <= r.answered < 300 and (path is None or r.path == path)
            ]

    def alerts(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every Alertmanager-style payload accepted (at `path`), in order."""
        found = []
        for received in self.accepted(path):
            try:
                body = received.json()
            except orjson.JSONDecodeError:
                continue
            if isinstance(body, dict) and isinstance(body.get("alerts"), list):
                found.extend(body["alerts"])
        return found

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> WebhookReceiver:
        """Listen (again) on the same port as before, if there was one."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self._port), Handler)
        self._port = int(self._server.server_address[1])
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Stop listening: senders now get connection refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        with self._lock:
            status, headers, delay, reset = (
                self._script.popleft() if self._script else (200, {}, 0.0, False)
            )
        if delay:
            time.sleep(delay)
        record = Received(
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            time.time(),
            0 if reset else status,
        )
        with self._lock:
            self.received.append(record)
        if reset:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                linger = struct.pack("ii", 1, 0)  # close() then sends a RST
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                handler.connection.close()
            return
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            return
        if self._on_receive is not None and 200 <= status < 300:
            self._on_receive(record)
