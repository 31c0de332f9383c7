"""apprise: the message, title and plain-text body, sent to each URL of the sink's
`url_file` with Apprise (an optional extra), in a thread, bounded by the sink's timeout.
One request per URL, so that a retry, or a restart, goes on with the URL that failed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Channel, Context, SendResult, Transport
from monitor.alerts.sinks.plaintext import text_of
from monitor.alerts.sinks.wording import digest, longest_rest_text
from monitor.config import SinkConfig, SinkType, apprise_scheme
from monitor.errors import DeliveryFailure
from monitor.secret import Secret, scrub

# Room for the body: whatever service a URL names, a message this long is shown whole by
# most (Telegram takes 4,096 characters, ntfy 4,096 bytes); Apprise splits or cuts the rest
# as each service needs.
MAX_BODY = 4000
# Apprise's notification types, by the loudest of the message.
_TYPE = {"CRITICAL": "failure", "WARNING": "warning", "RESOLVED": "success"}


@dataclass(frozen=True, slots=True)
class AppriseRequest:
    """The message to one URL of the sink (the `index`-th of `count`)."""

    url: Secret = field(repr=False)
    index: int
    count: int
    title: str
    body: str
    notify_type: str


class Apprise(Channel[AppriseRequest]):
    """Every service Apprise knows, by URL: one message per URL per notification."""

    type = SinkType.APPRISE

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[AppriseRequest]:
        worst = longest_rest_text(len(notification.events))
        said = digest(
            notification.events,
            context.now,
            context.external_url,
            fits=lambda shown: len(text_of(shown, worst, context.external_url + "/")) <= MAX_BODY,
        )
        body = text_of(said.shown, said.rest_text(), said.link)
        count = len(sink.apprise_urls)
        return [
            AppriseRequest(url, index, count, said.title, body, _TYPE[said.loudest])
            for index, url in enumerate(sink.apprise_urls, start=1)
        ]

    async def send(
        self, sink: SinkConfig, request: AppriseRequest, transport: Transport
    ) -> SendResult:
        at = where(request)
        try:
            # Apprise's API blocks: a thread, which the timeout stops waiting for (the
            # service's own requests are bounded by Apprise's timeouts as well).
            async with asyncio.timeout(sink.timeout.total_seconds()):
                sent = await asyncio.to_thread(_notify, request)
        except TimeoutError:
            text = f"{at}: no answer within {sink.timeout}"
            return SendResult(False, True, None, None, text, DeliveryFailure.TIMEOUT)
        except Exception as exc:
            # Whatever Apprise or its service's library raised: retried, its text masked.
            text = scrub(request.url.scrub_from(f"{at}: {type(exc).__name__}: {exc}"))[:200]
            return SendResult(False, True, None, None, text, DeliveryFailure.APPRISE_FAILED)
        if not sent:
            text = f"{at}: Apprise could not deliver it (its log says why)"
            return SendResult(False, True, None, None, text, DeliveryFailure.APPRISE_FAILED)
        return SendResult(True, False, None, None, None)

    def describe(self, sink: SinkConfig, request: AppriseRequest) -> str:
        lines = [
            f"APPRISE {apprise_scheme(request.url.reveal())} ({where(request)})",
            f"Type: {request.notify_type}",
            f"Title: {request.title}",
            "",
            request.body,
        ]
        return scrub("\n".join(lines))


def where(request: AppriseRequest) -> str:
    """Which URL of the sink a request is for, without the URL: "URL 2 of 3"."""
    return f"URL {request.index} of {request.count}"


def _notify(request: AppriseRequest) -> bool:
    """One message to one URL, in Apprise's blocking API (run in a thread)."""
    import apprise  # noqa: PLC0415 - an optional extra: only an apprise sink needs it

    service = apprise.Apprise()
    if not service.add(request.url.reveal()):
        return False
    return bool(
        service.notify(
            body=request.body,
            title=request.title,
            notify_type=apprise.NotifyType(request.notify_type),
            body_format=apprise.NotifyFormat.TEXT,
        )
    )
