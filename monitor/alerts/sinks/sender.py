"""Sending a notification to a sink: shaped by the module of the sink's type, then one attempt
through the HTTP client every sink shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from monitor import __version__
from monitor.alerts.engine import AlertEvent, FiringAlert
from monitor.alerts.sinks import alertmanager, slack, webhook
from monitor.alerts.sinks.http import SendResult, SinkRequest, post
from monitor.clock import Clock
from monitor.config import SinkConfig, SinkType
from monitor.upstream import RenewingClient, borrowed, verified_tls

Shape = Callable[[SinkConfig, AlertEvent, str, float], SinkRequest]

# One module per type; each turns (sink, event, external URL, now) into a request.
_SHAPES: dict[SinkType, Shape] = {
    SinkType.WEBHOOK: webhook.request,
    SinkType.SLACK: slack.request,
    SinkType.ALERTMANAGER: alertmanager.request,
}


class Sender:
    """One HTTP attempt per call, shaped for the sink's type. `external_url` is where people
    reach this monitor (links in the payloads); it may change on reload."""

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
                headers={"User-Agent": f"pixverse-monitor/{__version__}"},
            )

        self._http = RenewingClient(new_client)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, sink: SinkConfig, event: AlertEvent) -> SendResult:
        request = _SHAPES[sink.type](sink, event, self.external_url, self._clock.time())
        return await post(self._http, self._clock, sink, request)

    async def post_firing(self, sink: SinkConfig, firing: Sequence[FiringAlert]) -> SendResult:
        """Alertmanager's periodic re-send of everything firing."""
        request = alertmanager.resend_request(sink, firing, self.external_url, self._clock.time())
        return await post(self._http, self._clock, sink, request)
