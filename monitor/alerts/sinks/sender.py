"""The channel of each sink type, and the sender that puts them to work with the resources
they share: the HTTP client (renewed after an exchange that broke off) and the clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from monitor import __version__
from monitor.alerts.engine import AlertEvent, FiringAlert
from monitor.alerts.outbox import Batch, Notification
from monitor.alerts.sinks.alertmanager import Alertmanager
from monitor.alerts.sinks.apprise import Apprise
from monitor.alerts.sinks.channel import Channel, Context, SendResult, Transport
from monitor.alerts.sinks.discord import Discord
from monitor.alerts.sinks.email import Email
from monitor.alerts.sinks.ntfy import Ntfy
from monitor.alerts.sinks.slack import Slack
from monitor.alerts.sinks.teams import Teams
from monitor.alerts.sinks.telegram import Telegram
from monitor.alerts.sinks.webhook import Webhook
from monitor.clock import Clock
from monitor.config import SinkConfig, SinkType
from monitor.upstream import RenewingClient, borrowed, verified_tls

# One module per type, one channel each.
CHANNELS: dict[SinkType, Channel[Any]] = {
    channel.type: channel
    for channel in (
        Webhook(),
        Slack(),
        Alertmanager(),
        Ntfy(),
        Telegram(),
        Discord(),
        Teams(),
        Email(),
        Apprise(),
    )
}


def channel_of(sink: SinkConfig) -> Channel[Any]:
    return CHANNELS[sink.type]


class Sender:
    """Shapes and sends for every sink type. `external_url` is where people reach this
    monitor (links in the payloads); it may change on reload."""

    def __init__(
        self,
        clock: Clock,
        external_url: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._clock = clock
        self.external_url = external_url
        shared = borrowed(transport) if transport is not None else None

        def new_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=shared,
                verify=verified_tls(),
                # Answers are read for a status and a rate-limit answer, never more than a
                # few KiB: compressed, they could not be read as they come.
                headers={
                    "User-Agent": f"pixverse-monitor/{__version__}",
                    "Accept-Encoding": "identity",
                },
            )

        self._transport = Transport(RenewingClient(new_client), clock)

    async def aclose(self) -> None:
        await self._transport.http.aclose()

    def context(self) -> Context:
        return Context(self.external_url, self._clock.time())

    def batches(self, sink: SinkConfig, events: Sequence[AlertEvent], now: float) -> list[Batch]:
        return channel_of(sink).batches(sink, events, now)

    def supersede(
        self, sink: SinkConfig, held: tuple[AlertEvent, ...], new: Sequence[AlertEvent]
    ) -> tuple[AlertEvent, ...]:
        return channel_of(sink).supersede(held, new)

    def requests(self, sink: SinkConfig, notification: Notification) -> list[Any]:
        """The requests a notification is sent as, shaped now."""
        return channel_of(sink).requests(sink, notification, self.context())

    async def send(self, sink: SinkConfig, request: Any) -> SendResult:
        """One attempt at one request made by `requests` or `resend`."""
        return await channel_of(sink).send(sink, request, self._transport)

    def resend_seconds(self, sink: SinkConfig) -> float | None:
        return channel_of(sink).resend_seconds

    def resend(self, sink: SinkConfig, firing: Sequence[FiringAlert]) -> Any | None:
        return channel_of(sink).resend(sink, firing, self.context())

    def describe(self, sink: SinkConfig, request: Any) -> str:
        return channel_of(sink).describe(sink, request)

    async def send_once(self, sink: SinkConfig, notification: Notification) -> SendResult:
        """Every request of `notification`, one attempt each, no outbox (`notify-test`): how
        the first that failed went, else the last."""
        result = SendResult(False, False, None, None, "nothing to send")
        for request in self.requests(sink, notification):
            result = await self.send(sink, request)
            if not result.ok:
                break
        return result
