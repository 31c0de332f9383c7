"""The one HTTP attempt every sink type shares: POST what the type shaped, bounded in time and
in what is read back. Never raises; says how it went and, when it failed, why."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import structlog

from monitor.clock import Clock
from monitor.config import SinkConfig
from monitor.errors import DeliveryFailure
from monitor.retry import read_retry_after, retryable_status
from monitor.secret import scrub
from monitor.upstream import RenewingClient

log = structlog.get_logger("monitor.delivery")

# Receivers answer with a line or two; a sink that streams more is not read further.
_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SinkRequest:
    """What a sink type makes of a notification: where to POST, and what."""

    url: str = field(repr=False)  # may carry a credential (a Slack webhook URL does)
    body: bytes
    headers: Mapping[str, str]


def json_headers(idempotency_key: str | None) -> dict[str, str]:
    """The headers of every JSON POST; the key is the notification id, the same at each retry,
    so that a receiver can drop a repeat."""
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one attempt went. `reason` is None exactly when `ok`."""

    ok: bool
    retryable: bool
    status: int | None
    retry_after_seconds: float | None
    error: str | None
    reason: DeliveryFailure | None = None


async def post(
    http: RenewingClient, clock: Clock, sink: SinkConfig, request: SinkRequest
) -> SendResult:
    """One POST, the whole exchange bounded by the sink's timeout. An attempt that ends
    without a whole answer renews the HTTP client (see RenewingClient)."""
    try:
        async with (
            http.lease() as client,
            asyncio.timeout(sink.timeout.total_seconds()),
            client.stream(
                "POST", request.url, content=request.body, headers=request.headers
            ) as response,
        ):
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > _RESPONSE_BYTES:
                    break
            status = response.status_code
            retry_after = read_retry_after(response.headers.get("retry-after"), clock.time())
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
    if 200 <= status < 300:
        return SendResult(True, False, status, None, None)
    if retry_after.ignored is not None:
        log.warning("notification.retry_after_ignored", sink=sink.name, value=retry_after.ignored)
    return SendResult(
        False,
        retryable_status(status),
        status,
        retry_after.seconds,
        f"HTTP {status}",
        DeliveryFailure.of_status(status),
    )
