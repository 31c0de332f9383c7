"""What every sink type that speaks HTTP shares: the request it shapes, the one attempt that
POSTs it (bounded in time and in what is read back; never raises, says how it went and why),
how a refusal asks for a later retry, and how a request is shown with its secrets masked."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
import orjson
import structlog

from monitor.alerts.sinks.channel import Channel, SendResult, Transport
from monitor.config import SinkConfig
from monitor.errors import DeliveryFailure
from monitor.retry import RetryAfter, read_retry_after, retryable_status
from monitor.secret import MASK, scrub
from monitor.timefmt import MAX_DURATION

log = structlog.get_logger("monitor.delivery")

# Receivers answer with a line or two; a sink that streams more is not read further.
_RESPONSE_BYTES = 64 * 1024
# Headers whose value is a credential: shown masked by `describe`.
_SECRET_HEADERS = frozenset({"authorization"})


@dataclass(frozen=True, slots=True)
class SinkRequest:
    """What a sink type makes of a notification: where to POST, and what."""

    url: str = field(repr=False)  # may carry a credential (a Slack webhook URL does)
    body: bytes
    headers: Mapping[str, str] = field(repr=False)  # may carry one (Authorization)


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver answered, as far as it was read (the first 64 KiB, uncompressed: the
    sender asks for `Accept-Encoding: identity`): enough to find a rate-limit answer."""

    status: int
    headers: httpx.Headers
    body: bytes


def json_headers(idempotency_key: str | None) -> dict[str, str]:
    """The headers of every JSON POST; the key is the notification id, the same at each retry,
    so that a receiver can drop a repeat."""
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


def header_retry_after(answer: Answer, now: float) -> RetryAfter:
    """The rate-limit answer of most HTTP receivers: a `Retry-After` header."""
    return read_retry_after(answer.headers.get("retry-after"), now)


def body_retry_after(answer: Answer, now: float, *path: str) -> RetryAfter:
    """A rate-limit answer given in a JSON body (Discord's `retry_after`, Telegram's
    `parameters.retry_after`: seconds, a number) at `path`, or else the `Retry-After`
    header. A number that is not finite and >= 0 is ignored, as an unreadable header is."""
    found = body_value(answer, *path)
    if isinstance(found, int | float) and not isinstance(found, bool):
        seconds = float(found)
        if math.isfinite(seconds) and seconds >= 0:
            return RetryAfter(min(seconds, MAX_DURATION.total_seconds()))
        return RetryAfter(None, repr(found)[:64])
    return header_retry_after(answer, now)


def body_text(answer: Answer, *path: str) -> str | None:
    """The text a JSON answer holds at `path` (Telegram's `description`, Discord's
    `message`), on one line and at most 200 characters; None when there is none."""
    found = body_value(answer, *path)
    if not isinstance(found, str) or not found.strip():
        return None
    return " ".join(found.split())[:200]


def body_int(answer: Answer, *path: str) -> int | None:
    """The integer a JSON answer holds at `path` (Discord's error `code`, the chat id a
    Telegram group moved to); None when there is none."""
    found = body_value(answer, *path)
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def body_value(answer: Answer, *path: str) -> object:
    """What a JSON answer holds at `path`, keys of nested objects; None when the body is not
    JSON or has nothing there."""
    try:
        found: object = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    return found


class HttpChannel(Channel[SinkRequest]):
    """The part of the protocol every HTTP sink type shares: one POST per request, and the
    `Retry-After` header as the rate-limit answer. A type whose channel answers differently
    overrides `retry_after`, with `body_retry_after` for a JSON body's `retry_after`."""

    def retry_after(self, answer: Answer, now: float) -> RetryAfter:
        return header_retry_after(answer, now)

    def refusal(self, answer: Answer) -> str:
        """Why the receiver refused, as the delivery logs and shows it: the status, and the
        reason a type's API gives in its answer when it overrides this."""
        return f"HTTP {answer.status}"

    async def send(
        self, sink: SinkConfig, request: SinkRequest, transport: Transport
    ) -> SendResult:
        return await post(transport, sink, request, self.retry_after, self.refusal)

    def describe(self, sink: SinkConfig, request: SinkRequest) -> str:
        lines = [f"POST {masked_url(sink, request.url)}"]
        for name, value in request.headers.items():
            shown = MASK if name.lower() in _SECRET_HEADERS else value
            lines.append(f"{name}: {shown}")
        lines += ["", request.body.decode("utf-8", "replace")]
        return scrub("\n".join(lines))


def masked_url(sink: SinkConfig, url: str) -> str:
    """A request URL as it may be shown: the sink's URL (which may be a credential) as
    `url_display`, whatever the type added after it kept."""
    base = sink.url.reveal()
    return sink.url_display + url[len(base) :] if url.startswith(base) else sink.url_display


async def post(
    transport: Transport,
    sink: SinkConfig,
    request: SinkRequest,
    retry_after: Callable[[Answer, float], RetryAfter] = header_retry_after,
    refusal: Callable[[Answer], str] = lambda answer: f"HTTP {answer.status}",
) -> SendResult:
    """One POST, the whole exchange bounded by the sink's timeout. An attempt that ends
    without a whole answer renews the HTTP client (see RenewingClient)."""
    try:
        async with (
            transport.http.lease() as client,
            asyncio.timeout(sink.timeout.total_seconds()),
            client.stream(
                "POST", request.url, content=request.body, headers=request.headers
            ) as response,
        ):
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > _RESPONSE_BYTES:
                    break
                chunks.append(chunk)
            answer = Answer(response.status_code, response.headers, b"".join(chunks))
    except (TimeoutError, httpx.TimeoutException):
        return SendResult(
            False, True, None, None, f"no answer within {sink.timeout}", DeliveryFailure.TIMEOUT
        )
    except Exception as exc:
        # httpx's errors, and whatever else making the request raised (a socket error): the
        # attempt failed and is retried. The URL may hold a credential (Slack): never let it
        # into the message.
        text = scrub(f"{type(exc).__name__}: {exc}".replace(request.url, sink.url_display))
        return SendResult(False, True, None, None, text, DeliveryFailure.CONNECTION_ERROR)
    status = answer.status
    if 200 <= status < 300:
        return SendResult(True, False, status, None, None)
    asked = retry_after(answer, transport.clock.time())
    if asked.ignored is not None:
        log.warning("notification.retry_after_ignored", sink=sink.name, value=asked.ignored)
    return SendResult(
        False,
        retryable_status(status),
        status,
        asked.seconds,
        # The receiver's words may echo what was sent to it: never a credential.
        sink.url.scrub_from(scrub(refusal(answer))),
        DeliveryFailure.of_status(status),
    )
