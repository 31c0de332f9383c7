"""An ntfy server on loopback, for the tests: it takes a publish as ntfy does (the topic from
the path, Title/Priority/Tags/Click from headers, RFC 2047 encoded words decoded, Bearer
tokens on a protected topic) and keeps the message, and it refuses or notes what a real
ntfy would take differently (a priority it does not know, a body over its 4,096 bytes or not
UTF-8, which ntfy would turn into an attachment). It can answer 429 as ntfy does."""

from __future__ import annotations

import threading
import time
from collections import deque
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson

from tests.helpers.loopback import LoopbackServer

MESSAGE_LIMIT = 4096  # ntfy's default message-size-limit
PRIORITIES = {"min": 1, "low": 2, "default": 3, "high": 4, "max": 5, "urgent": 5}
_ALIASES = {
    "title": ("x-title", "title", "t"),
    "priority": ("x-priority", "priority", "prio", "p"),
    "tags": ("x-tags", "tags", "tag", "ta"),
    "click": ("x-click", "click"),
}


class FakeNtfy(LoopbackServer):
    """`messages` as ntfy would store them; `problems` with what a real ntfy would not have
    taken as sent. With `token`, every topic is protected: Bearer `token` is required."""

    methods = ("POST", "PUT")

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.answers: list[int] = []
        self._limited: deque[str | None] = deque()
        self._lock = threading.Lock()

    def url(self, topic: str) -> str:
        return f"http://127.0.0.1:{self.port}/{topic}"

    def rate_limit(self, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next `times` publishes 429, as ntfy does past a visitor's limit."""
        with self._lock:
            self._limited.extend([retry_after] * times)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Take one publish (the server's handler calls this) as ntfy would."""
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            limited = self._limited.popleft() if self._limited else "no"
        if limited != "no":
            extra = {"Retry-After": limited} if limited is not None else {}
            error = {"code": 42901, "http": 429, "error": "limit reached: too many requests"}
            return self._answer(handler, 429, error, extra)
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return self._answer(handler, 401, {"code": 40101, "http": 401, "error": "unauthorized"})
        topic = handler.path.split("?")[0].strip("/")
        message: dict[str, Any] = {"id": f"m{len(self.messages)}", "topic": topic}
        problems = []
        for name, aliases in _ALIASES.items():
            raw = next((headers[a] for a in aliases if a in headers), None)
            if raw is None:
                continue
            if not raw.isascii():
                problems.append(f"{name} header is not ASCII: {raw!r}")
            message[name] = str(make_header(decode_header(raw)))
        priority = message.get("priority", "default")
        if not (priority in PRIORITIES or priority in {"1", "2", "3", "4", "5"}):
            return self._answer(handler, 400, {"code": 40007, "error": "invalid priority"})
        message["priority"] = PRIORITIES.get(priority) or int(priority)
        message["tags"] = [t.strip() for t in message.get("tags", "").split(",") if t.strip()]
        click = message.get("click")
        if click is not None and not click.startswith(("http://", "https://")):
            problems.append(f"click is not a URL: {click!r}")
        if len(body) > MESSAGE_LIMIT:
            problems.append(f"a message of {len(body)} bytes would become an attachment")
        try:
            message["message"] = body.decode("utf-8")
        except UnicodeDecodeError:
            problems.append("a message that is not UTF-8 would become an attachment")
        message["headers"] = headers
        with self._lock:
            self.problems.extend(problems)
            self.messages.append(message)
        self._answer(
            handler, 200, {"id": message["id"], "time": int(time.time()), "event": "message"}
        )

    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = orjson.dumps(body) + b"\n"
        with self._lock:
            self.answers.append(status)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
