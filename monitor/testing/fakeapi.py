"""A fake useapi.net PixVerse API on loopback: accounts, live capacity and scripted faults.

Real HTTP on 127.0.0.1, in a thread, so the code under test talks to it exactly as it would
to the real service. The tests use it, and so does `pixverse-monitor demo`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from monitor.testing.fakeaccounts import ALL_EXPIRY_FIELDS, FakeAccount, make_jwt
from monitor.testing.fakefeatures import FakePlan, FakeSubscription, features_answer

# The accounts are defined beside; the tests take them from here, with the server.
__all__ = [
    "ACCOUNT",
    "ACCOUNTS",
    "ALL_EXPIRY_FIELDS",
    "AVAILABLE",
    "ENDPOINTS",
    "FEATURES",
    "FakeAccount",
    "FakeUpstream",
    "Fault",
    "RecordedRequest",
    "make_jwt",
]

ACCOUNTS = "/v2/pixverse/accounts"
AVAILABLE = "/v2/pixverse/scheduler/available"
ACCOUNT = "/v2/account"
FEATURES = "/v2/pixverse/features"
ENDPOINTS = (ACCOUNTS, AVAILABLE, ACCOUNT, FEATURES)


@dataclass(frozen=True)
class Fault:
    """A scripted answer that replaces the normal one: any status with any body, late, slow,
    cut short, or not at all; or (`status=None`) the normal answer, `delay_seconds` late."""

    status: int | None = 500
    body: bytes | None = None  # None: a useapi.net-style JSON error
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0  # before answering: longer than the client timeout = a timeout
    drop_connection: bool = False  # close without answering
    reset: bool = False  # abort the connection with a TCP RST instead of answering
    # Send the answer (head and body) in pieces of `drip_bytes`, this long apart: a server
    # that is alive but never finishes.
    drip_seconds: float = 0.0
    drip_bytes: int = 1
    # Announce the whole body but send only this many bytes of it, then close.
    truncate_to: int | None = None
    close: bool = False  # `Connection: close`, and close after answering


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request (timeouts under test) are expected, not news.
        pass


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    authorized: bool
    user_agent: str
    at_unix: float
    query: str = ""
    connection: int = 0  # which connection it came on: 1 for the first accepted, and so on


class FakeUpstream:
    """The fake API. Change accounts and queue faults while it runs; it is thread-safe."""

    def __init__(
        self,
        token: str = "fake-useapi-token",  # noqa: S107 - a fake, by design
        accounts: Iterable[FakeAccount] = (),
        subscription: FakeSubscription | None = None,
        *,
        close_after_each_answer: bool = False,
    ) -> None:
        """`close_after_each_answer`: every answer says `Connection: close` and the connection
        is closed after it, as some proxies do."""
        self.token = token
        self.close_after_each_answer = close_after_each_answer
        self.clock_offset_seconds: float | None = 0.0  # Date: true time + this; None: no Date
        self._lock = threading.Lock()
        self._accounts: dict[str, FakeAccount] = {a.email: a for a in accounts}
        self._subscription = subscription or FakeSubscription()
        self._faults: dict[str, deque[Fault]] = {e: deque() for e in ENDPOINTS}
        self._persistent: dict[str, Fault | None] = dict.fromkeys(ENDPOINTS)
        self._raw: dict[str, bytes | None] = dict.fromkeys(ENDPOINTS)
        self.requests: list[RecordedRequest] = []
        self._accepted = 0
        self._open: set[int] = set()  # connections accepted and not yet closed
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scenario -----------------------------------------------------------------------

    def set_accounts(self, accounts: Iterable[FakeAccount]) -> None:
        with self._lock:
            self._accounts = {a.email: a for a in accounts}

    def put(self, account: FakeAccount) -> None:
        with self._lock:
            self._accounts[account.email] = account

    def update(self, email: str, **changes: Any) -> None:
        with self._lock:
            self._accounts[email] = replace(self._accounts[email], **changes)

    def remove(self, email: str) -> None:
        with self._lock:
            del self._accounts[email]

    def accounts(self) -> list[FakeAccount]:
        with self._lock:
            return list(self._accounts.values())

    def set_plan(self, email: str, **changes: Any) -> None:
        """Change fields of one account's plan (it gets the default plan if it had none)."""
        with self._lock:
            account = self._accounts[email]
            self._accounts[email] = replace(
                account, plan=replace(account.plan or FakePlan(), **changes)
            )

    def set_subscription(self, **changes: Any) -> None:
        with self._lock:
            self._subscription = replace(self._subscription, **changes)

    def open_connections(self) -> int:
        """Connections accepted and not closed yet: how a test sees a client let go."""
        with self._lock:
            return len(self._open)

    def count(self, endpoint: str) -> int:
        """How many requests reached `endpoint`."""
        with self._lock:
            return sum(r.path == endpoint for r in self.requests)

    def fail_next(self, endpoint: str, *faults: Fault) -> None:
        """Answer the next requests to `endpoint` (ACCOUNTS, AVAILABLE, ACCOUNT or FEATURES)
        with these faults."""
        with self._lock:
            self._faults[endpoint].extend(faults)

    def fail_always(self, endpoint: str, fault: Fault | None) -> None:
        """Answer every request to `endpoint` with `fault` until called with None."""
        with self._lock:
            self._persistent[endpoint] = fault

    def serve_raw(self, endpoint: str, body: bytes | None) -> None:
        """Answer 200 with exactly these bytes (None: back to the generated payload)."""
        with self._lock:
            self._raw[endpoint] = body

    def secrets_served(self) -> list[str]:
        """Every token, password and API token this fake knows: none may leak anywhere."""
        with self._lock:
            values = [self.token]
            for account in self._accounts.values():
                values += [account.password, account.token_value()]
            return values

    # -- server -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeUpstream:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            number = 0

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._accepted += 1
                    self.number = fake._accepted
                    fake._open.add(self.number)

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with fake._lock:
                        fake._open.discard(self.number)

            def do_GET(self) -> None:
                fake._answer(self, self.number)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _QuietServer6 if ":" in host else _QuietServer
        self._server = server((host, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns at once
            name="fake-upstream",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler, connection: int) -> None:
        path, _, query = handler.path.partition("?")
        authorized = handler.headers.get("Authorization") == f"Bearer {self.token}"
        with self._lock:
            user_agent = handler.headers.get("User-Agent", "")
            recorded = RecordedRequest(path, authorized, user_agent, time.time(), query, connection)
            self.requests.append(recorded)
            subscription = self._subscription
            queue = self._faults.get(path, deque())
            fault = queue.popleft() if queue else self._persistent.get(path)
            raw = self._raw.get(path)
            # /features looks one account up: at 10,000 accounts, copying them all is slow.
            features = features_answer(query, self._accounts) if path == FEATURES else None
            accounts = list(self._accounts.values()) if features is None else []
        if fault is not None:
            if fault.status is not None:
                self._answer_fault(handler, fault, fault.status)
                return
            time.sleep(fault.delay_seconds)  # late, then answered as usual
        if not authorized:
            self._send(handler, 401, orjson.dumps({"error": "Unauthorized", "code": 401}))
            return
        if raw is not None:
            self._send(handler, 200, raw)
            return
        if path == ACCOUNTS:
            if not accounts:
                body = orjson.dumps({"error": "Configuration not found", "code": 404})
                self._send(handler, 404, body)
                return
            self._send(handler, 200, orjson.dumps({a.email: a.entry() for a in accounts}))
        elif path == AVAILABLE:
            payload = {"executing": [], "available": [a.capacity_row() for a in accounts]}
            self._send(handler, 200, orjson.dumps(payload))
        elif path == ACCOUNT:
            self._send(handler, 200, orjson.dumps(subscription.payload(len(accounts))))
        elif features is not None:
            self._send(handler, *features)
        else:
            self._send(handler, 404, orjson.dumps({"error": "Not found", "code": 404}))

    def _answer_fault(self, handler: BaseHTTPRequestHandler, fault: Fault, status: int) -> None:
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.reset:
            _reset(handler)
            return
        if fault.drop_connection:
            handler.close_connection = True
            handler.connection.close()
            return
        body = fault.body
        if body is None:
            body = orjson.dumps({"error": f"fake error {status}", "code": status})
        self._send(
            handler,
            status,
            body,
            fault.headers,
            drip=(fault.drip_seconds, max(1, fault.drip_bytes)),
            truncate_to=fault.truncate_to,
            close=fault.close,
        )

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        drip: tuple[float, int] = (0.0, 1),
        truncate_to: int | None = None,
        close: bool = False,
    ) -> None:
        close = close or self.close_after_each_answer
        lines = [f"HTTP/1.1 {status} {_reason(status)}", "Content-Type: application/json"]
        lines.append(f"Content-Length: {len(body)}")
        off = self.clock_offset_seconds
        dated = {} if off is None else {"Date": formatdate(time.time() + off, usegmt=True)}
        lines += [f"{name}: {value}" for name, value in {**dated, **(headers or {})}.items()]
        if close:
            lines.append("Connection: close")
            handler.close_connection = True
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        data += body if truncate_to is None else body[:truncate_to]
        pause, size = drip
        try:
            if pause > 0:
                for start in range(0, len(data), size):
                    handler.wfile.write(data[start : start + size])
                    handler.wfile.flush()
                    time.sleep(pause)
            else:
                handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (a timeout test)
            return
        if truncate_to is not None:
            handler.close_connection = True


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Whatever"


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Abort the connection: SO_LINGER with a zero timeout makes close() send a RST."""
    handler.close_connection = True
    connection = handler.connection
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
