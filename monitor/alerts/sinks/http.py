"""One HTTP attempt to a sink, shaped by the sink's type; never raises, says how it went."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from monitor import __version__
from monitor.alerts.engine import AlertEvent, FiringAlert, Reason
from monitor.alerts.sinks.alertmanager import alertmanager_body
from monitor.alerts.sinks.slack import slack_body
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, signature, webhook_body
from monitor.clock import Clock
from monitor.config import Severity, SinkConfig, SinkType
from monitor.retry import retry_after_seconds
from monitor.secret import scrub
from monitor.upstream import RenewingClient, borrowed

_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    retryable: bool
    status: int | None
    retry_after_seconds: float | None
    error: str | None


class Sender:
    """One HTTP attempt per call, shaped for the sink's type."""

    def __init__(
        self,
        clock: Clock,
        external_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self.external_url = external_url
        tls = httpx.create_ssl_context()
        shared = borrowed(transport) if transport is not None else None

        def new_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=shared,
                verify=tls,
                headers={"User-Agent": f"pixverse-monitor/{__version__}"},
            )

        # Renewed after any attempt that ends without a whole answer: see RenewingClient.
        self._http = RenewingClient(new_client)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, sink: SinkConfig, event: AlertEvent) -> SendResult:
        url = sink.url.reveal()
        headers = {"Content-Type": "application/json", "Idempotency-Key": event.id}
        if sink.type is SinkType.WEBHOOK:
            body = webhook_body(event, sink.name, self.external_url)
            if sink.secret is not None:
                # Signed at each attempt: the timestamp tells the receiver how fresh it is.
                stamp = int(self._clock.time())
                headers[SIGNATURE_HEADER] = signature(sink.secret.reveal(), stamp, body)
        elif sink.type is SinkType.SLACK:
            body = slack_body(event)
        else:
            url += "/api/v2/alerts"
            now = self._clock.time()
            items = [(event.alert, event.starts_at_unix, event.ends_at_unix)]
            if event.reason is Reason.SEVERITY_CHANGED:
                # Alertmanager tells alerts apart by all labels, severity included: end the
                # one under the old severity rather than let it linger until it lapses.
                old = (
                    Severity.WARNING
                    if event.alert.severity is Severity.CRITICAL
                    else Severity.CRITICAL
                )
                items.append(
                    (dataclasses.replace(event.alert, severity=old), event.starts_at_unix, now)
                )
            body = alertmanager_body(items, now, self.external_url)
        return await self._post(sink, url, body, headers)

    async def post_firing(self, sink: SinkConfig, firing: Sequence[FiringAlert]) -> SendResult:
        """Alertmanager's periodic re-send of everything firing."""
        items = [(f.alert, f.starts_at_unix, None) for f in firing]
        body = alertmanager_body(items, self._clock.time(), self.external_url)
        headers = {"Content-Type": "application/json"}
        return await self._post(sink, sink.url.reveal() + "/api/v2/alerts", body, headers)

    async def _post(
        self, sink: SinkConfig, url: str, body: bytes, headers: dict[str, str]
    ) -> SendResult:
        try:
            async with (
                self._http.lease() as http,
                asyncio.timeout(sink.timeout.total_seconds()),
                http.stream("POST", url, content=body, headers=headers) as resp,
            ):
                received = 0
                async for chunk in resp.aiter_raw():
                    received += len(chunk)
                    if received > _RESPONSE_BYTES:
                        break
                status = resp.status_code
                retry_after = retry_after_seconds(
                    resp.headers.get("retry-after"), self._clock.time()
                )
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(False, True, None, None, f"no answer within {sink.timeout}")
        except Exception as exc:
            # httpx's errors, and whatever else making the request raised (a socket error):
            # the attempt failed and is retried. The URL may hold a credential (Slack):
            # never let it into the message.
            text = f"{type(exc).__name__}: {exc}".replace(url, sink.url_display)
            return SendResult(False, True, None, None, scrub(text))
        if 200 <= status < 300:
            return SendResult(True, False, status, None, None)
        retryable = status in (408, 429) or status >= 500
        return SendResult(False, retryable, status, retry_after, f"HTTP {status}")
