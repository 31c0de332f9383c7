"""Chat services on loopback, for the tests, each speaking its API as its docs describe it and
refusing what the real one would: a Telegram Bot API (the method path and token, `chat_id`,
forum topics, the HTML parse mode with only the tags and entities Telegram reads, 4,096
characters after parsing), a Discord webhook (the execute-webhook schema, embed limits,
`allowed_mentions`) and a Teams Workflows webhook (its `sig`, the Adaptive Card subset the
sink uses, the 28 KB limit). Each can answer 429 as its service does, and notes when each
request arrived, so that a test measures the wait a rate limit asked for."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from tests.helpers.loopback import LoopbackServer

TELEGRAM_LIMIT = 4096
# Telegram's HTML style: these tags (span only as a spoiler), these named entities.
TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
TELEGRAM_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
DISCORD_LIMITS = {"content": 2000, "embeds": 10, "title": 256, "description": 4096}
DISCORD_FIELD_LIMITS = {"fields": 25, "name": 256, "value": 1024, "footer": 2048, "total": 6000}
TEAMS_LIMIT = 28 * 1024
_TEAMS_ELEMENTS = {
    "TextBlock": {"type", "text", "wrap", "size", "weight", "color", "isSubtle", "separator"}
    | {"spacing", "maxLines", "horizontalAlignment", "fontType"},
    "FactSet": {"type", "facts", "spacing", "separator"},
    "ColumnSet": {"type", "columns", "spacing", "separator"},
}


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


DISCORD_MARKUP = ("*_~`[]()<|", "-+#>", True)  # anywhere, at a line's start, @everyone
TEAMS_MARKUP = ("*_~`[]()<{}|", "-+#>", False)


def render_markdown(text: str, markup: tuple[str, str, bool]) -> tuple[str, list[str]]:
    """What a reader sees of backslash-escaped markdown, and the markup a client would act on
    besides `**` (emphasis, a link, a mention, a heading or a list, a card function)."""
    anywhere, line_start, mentions = markup
    seen: list[str] = []
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and not text[i + 1].isalnum():
            out.append(text[i + 1])
            i += 2
            continue
        if text.startswith("**", i):
            i += 2
            continue
        if c in anywhere or (c in line_start and (i == 0 or text[i - 1] == "\n")):
            seen.append(c)
        if mentions and re.match(r"@(everyone|here)\b", text[i:]):
            seen.append(text[i : i + 9])
        out.append(c)
        i += 1
    return "".join(out), seen


class _ChatServer(LoopbackServer):
    """A chat service's fake on loopback, keeping what it was sent and how it answered."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.answers: list[int] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request
        self._limited: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rate_limit(self, retry_after: float, times: int = 1) -> None:
        """Answer the next `times` requests 429, asking for `retry_after` seconds."""
        with self._lock:
            self._limited.extend([retry_after] * times)

    def arrive(self) -> float | None:
        """A request came: note when; the Retry-After to refuse it with, if rate-limited."""
        with self._lock:
            self.arrivals.append(time.monotonic())
            return self._limited.popleft() if self._limited else None

    def answered(self, status: int) -> None:
        with self._lock:
            self.answers.append(status)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        limited = self.arrive()
        if limited is not None:
            status, answer, headers = self.limited(limited)
        else:
            status, answer, headers = self.take(handler.path, body)
        data = orjson.dumps(answer) if answer is not None else b""
        self.answered(status)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def keep(self, message: dict[str, Any], problems: list[str]) -> None:
        with self._lock:
            self.messages.append(message)
            self.problems.extend(problems)

    def limited(self, retry_after: float) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def take(self, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode: the text a reader sees, and what it would refuse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.text: list[str] = []
        self.errors: list[str] = []
        self.open: list[str] = []
        self.links: list[tuple[str, str]] = []
        self.bold: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"Unsupported start tag {tag!r}")
        if tag == "span" and dict(attrs).get("class") != "tg-spoiler":
            self.errors.append("a span that is not a spoiler")
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", ""))
        self.open.append(tag)
        if tag in {"b", "strong"}:
            self.bold.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"Can't find end tag corresponding to start tag {tag!r}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if re.search(r"[<>&]", data):
            self.errors.append(f"unescaped markup in {data[:40]!r}")
        self.text.append(data)
        if "a" in self.open and self.links:
            href, text = self.links[-1]
            self.links[-1] = (href, text + data)
        if ("b" in self.open or "strong" in self.open) and self.bold:
            self.bold[-1] += data

    def handle_entityref(self, name: str) -> None:
        if name not in TELEGRAM_ENTITIES:
            self.errors.append(f"Unsupported entity &{name};")
        self.handle_data_decoded({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(name, ""))

    def handle_charref(self, name: str) -> None:
        code = int(name[1:], 16) if name[:1] in "xX" else int(name)
        self.handle_data_decoded(chr(code))

    def handle_data_decoded(self, text: str) -> None:
        self.text.append(text)
        if "a" in self.open and self.links:
            href, was = self.links[-1]
            self.links[-1] = (href, was + text)
        if ("b" in self.open or "strong" in self.open) and self.bold:
            self.bold[-1] += text


class FakeBotApi(_ChatServer):
    """A Telegram Bot API for one bot (`token`) in the chats `chats` (id -> forum topics)."""

    def __init__(self, token: str, chats: dict[str, set[int]]) -> None:
        super().__init__()
        self.token = token
        self.chats = chats

    def limited(self, retry_after: float) -> tuple[int, Any, dict[str, str]]:
        seconds = int(retry_after)
        answer = {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds},
        }
        return 429, answer, {}

    def take(self, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        if match is None:
            return self._refuse(404, "Not Found")
        if match.group(1) != self.token:
            return self._refuse(401, "Unauthorized")
        if match.group(2) != "sendMessage":
            return self._refuse(404, "Not Found: method not found")
        request = orjson.loads(body)
        chat = request.get("chat_id")
        if not isinstance(chat, int | str) or str(chat) not in self.chats:
            return self._refuse(400, "Bad Request: chat not found")
        thread = request.get("message_thread_id")
        if thread is not None and thread not in self.chats[str(chat)]:
            return self._refuse(400, "Bad Request: message thread not found")
        if request.get("parse_mode") != "HTML":
            self.problems.append(f"parse_mode {request.get('parse_mode')!r}, not HTML")
        parsed = _TelegramHtml()
        parsed.feed(str(request.get("text", "")))
        parsed.close()
        if parsed.errors:
            return self._refuse(400, f"Bad Request: can't parse entities: {parsed.errors[0]}")
        text = "".join(parsed.text)
        if not text.strip():
            return self._refuse(400, "Bad Request: message text is empty")
        if utf16_length(text) > TELEGRAM_LIMIT:
            return self._refuse(400, "Bad Request: message is too long")
        message = {
            "chat_id": str(chat),
            "message_thread_id": thread,
            "text": text,
            "html": request["text"],
            "links": parsed.links,
            "bold": parsed.bold,
            "disable_web_page_preview": request.get("disable_web_page_preview"),
        }
        self.keep(message, [])
        result = {"message_id": len(self.messages), "chat": {"id": chat}, "text": text}
        return 200, {"ok": True, "result": result}, {}

    @staticmethod
    def _refuse(status: int, description: str) -> tuple[int, Any, dict[str, str]]:
        return status, {"ok": False, "error_code": status, "description": description}, {}


class FakeDiscord(_ChatServer):
    """A Discord webhook at /api/webhooks/`webhook_id`/`token`."""

    def __init__(self, webhook_id: str, token: str) -> None:
        super().__init__()
        self.path = f"/api/webhooks/{webhook_id}/{token}"

    @property
    def url(self) -> str:
        return self.base + self.path

    def limited(self, retry_after: float) -> tuple[int, Any, dict[str, str]]:
        answer = {"message": "You are being rate limited.", "retry_after": retry_after}
        answer["global"] = False
        header = str(max(1, round(retry_after)))  # whole seconds in the header
        return 429, answer, {"Retry-After": header, "X-RateLimit-Scope": "shared"}

    def take(self, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(path)
        if parts.path != self.path:
            return 404, {"message": "Unknown Webhook", "code": 10015}, {}
        request = orjson.loads(body)
        errors = discord_errors(request)
        if errors:
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}, {}
        problems = []
        if request.get("allowed_mentions") != {"parse": []}:
            problems.append(f"allowed_mentions {request.get('allowed_mentions')!r}")
        wait = parse_qs(parts.query).get("wait") == ["true"]
        self.keep({**request, "wait": wait}, problems)
        if not wait:
            return 204, None, {}
        return 200, {"id": str(len(self.messages)), "content": request.get("content", "")}, {}


def discord_errors(request: dict[str, Any]) -> list[str]:
    """What Discord refuses of an execute-webhook body, by its documented limits."""
    errors = []
    content = request.get("content") or ""
    embeds = request.get("embeds") or []
    if not content and not embeds:
        errors.append("Cannot send an empty message")
    if len(content) > DISCORD_LIMITS["content"]:
        errors.append(f"content: {len(content)} characters")
    if len(embeds) > DISCORD_LIMITS["embeds"]:
        errors.append(f"{len(embeds)} embeds")
    total = 0
    for index, embed in enumerate(embeds):
        for key in ("title", "description"):
            text = embed.get(key, "")
            total += utf16_length(text)
            if utf16_length(text) > DISCORD_LIMITS[key]:
                errors.append(f"embeds[{index}].{key}: {len(text)} characters")
        fields = embed.get("fields", [])
        if len(fields) > DISCORD_FIELD_LIMITS["fields"]:
            errors.append(f"embeds[{index}]: {len(fields)} fields")
        for field in fields:
            for key in ("name", "value"):
                text = field.get(key, "")
                total += utf16_length(text)
                if not text or utf16_length(text) > DISCORD_FIELD_LIMITS[key]:
                    errors.append(f"embeds[{index}].fields.{key}: {len(text)} characters")
        footer = embed.get("footer", {}).get("text", "")
        total += utf16_length(footer) + utf16_length(embed.get("author", {}).get("name", ""))
        if not isinstance(embed.get("color", 0), int):
            errors.append(f"embeds[{index}].color is not an integer")
    if total > DISCORD_FIELD_LIMITS["total"]:
        errors.append(f"embeds: {total} characters in all")
    return errors


class FakeTeams(_ChatServer):
    """A Teams Workflows webhook ("When a Teams webhook request is received"), whose URL is
    signed with `sig`."""

    def __init__(self, sig: str) -> None:
        super().__init__()
        self.sig = sig

    @property
    def url(self) -> str:
        query = f"api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}"
        return f"{self.base}/workflows/0a1b2c/triggers/manual/paths/invoke?{query}"

    def limited(self, retry_after: float) -> tuple[int, Any, dict[str, str]]:
        answer = {"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded."}}
        return 429, answer, {"Retry-After": str(int(retry_after))}

    def take(self, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        if parse_qs(urlsplit(path).query).get("sig") != [self.sig]:
            error = {"code": "DirectApiAuthorizationRequired", "message": "unauthorized"}
            return 401, {"error": error}, {}
        errors = teams_errors(body)
        if errors:
            return 400, {"error": {"code": "InvalidRequestContent", "message": errors[0]}}, {}
        self.keep(orjson.loads(body), [])
        return 202, None, {}


def teams_errors(body: bytes) -> list[str]:
    """What is outside the Workflows message and Adaptive Card subset the sink may send."""
    if len(body) > TEAMS_LIMIT:
        return [f"message of {len(body)} bytes is over 28 KB"]
    message = orjson.loads(body)
    if message.get("type") != "message" or len(message.get("attachments", [])) != 1:
        return ["not one attachment in a message"]
    (attachment,) = message["attachments"]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return [f"contentType {attachment.get('contentType')!r}"]
    card = attachment.get("content") or {}
    errors = []
    if card.get("type") != "AdaptiveCard":
        errors.append("content is not an AdaptiveCard")
    version = tuple(int(p) for p in str(card.get("version", "9")).split("."))
    if version > (1, 4):
        errors.append(f"card version {card.get('version')} above 1.4")
    for element in card.get("body", []):
        errors += _teams_element(element)
    for action in card.get("actions", []):
        url = str(action.get("url", ""))
        if action.get("type") != "Action.OpenUrl" or not url.startswith(("http://", "https://")):
            errors.append(f"action {action!r}")
    return errors


def _teams_element(element: dict[str, Any]) -> list[str]:
    kind = element.get("type")
    allowed = _TEAMS_ELEMENTS.get(str(kind))
    if allowed is None:
        return [f"element type {kind!r}"]
    errors = [f"{kind}.{key}" for key in element if key not in allowed]
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        errors.append("TextBlock without text")
    if kind == "FactSet":
        for fact in element.get("facts", []):
            texts = all(isinstance(v, str) for v in fact.values())
            if set(fact) != {"title", "value"} or not texts:
                errors.append(f"fact {fact!r}")
    if kind == "ColumnSet":
        for column in element.get("columns", []):
            for item in column.get("items", []):
                errors += _teams_element(item)
    return errors


def teams_texts(message: dict[str, Any]) -> list[str]:
    """Every text of the card a reader sees: TextBlocks, and each fact as "title: value"."""
    out = []
    for element in message["attachments"][0]["content"]["body"]:
        if element["type"] == "TextBlock":
            out.append(element["text"])
        elif element["type"] == "FactSet":
            out += [f"{fact['title']}: {fact['value']}" for fact in element["facts"]]
    return out
