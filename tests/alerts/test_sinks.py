"""Each sink type's request, byte for byte, and how one HTTP attempt reports what went wrong.

The requests are taken by an httpx.MockTransport, so the exact URL, headers and body bytes the
sender produces are compared (tests/alerts/test_delivery.py checks the same payloads against a
real receiver on loopback, by their meaning).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import anyio
import httpx
import pytest

from monitor.alerts.engine import Alert, AlertEvent, AlertName, FiringAlert, Reason, Status
from monitor.alerts.outbox import Notification
from monitor.alerts.sinks import Context, Sender, SendResult
from monitor.alerts.sinks.slack import Slack
from monitor.config.model import Severity, SinkConfig, SinkType
from monitor.errors import DeliveryFailure
from monitor.testing.clock import FakeClock
from tests.helpers import LogCapture
from tests.helpers.sinks import sink_config

T0 = 1_800_000_000.0
EXTERNAL = "http://monitor.test:9877"
SLACK_URL = "https://hooks.slack.test/services/T000/B000/SLACKsecretPATH"


ALERT = Alert(
    AlertName.EXPIRING_SOON,
    Severity.CRITICAL,
    "main",
    "a@x.io",
    "PixVerse token of a@x.io expires in 5h 0m",
    "Renew it.",
    {"expires_at": "2027-01-15T13:00:00Z", "ttl_seconds": "18000", "max_jobs": "4"},
)
STARTED = AlertEvent("n1", Status.FIRING, Reason.STARTED, ALERT, T0 - 60, None, T0, ALERT.severity)
CHANGED = AlertEvent(
    "n2", Status.FIRING, Reason.SEVERITY_CHANGED, ALERT, T0 - 60, None, T0, ALERT.severity
)
RESOLVED = AlertEvent(
    "n3", Status.RESOLVED, Reason.RESOLVED, ALERT, T0 - 60, T0, T0, ALERT.severity
)
FIRING = [FiringAlert(ALERT, T0 - 60, T0 - 60, Severity.CRITICAL)]


class Recorder:
    """A transport that keeps each request and answers with the status it is told."""

    def __init__(
        self, status: int = 200, headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.headers = headers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, headers=self.headers, stream=httpx.ByteStream(b"{}"))


def notification(event: AlertEvent, sink: str = "ops") -> Notification:
    """The notification of one event, under the event's id."""
    return Notification(event.id, sink, (event,))


async def one_request(target: SinkConfig, event: AlertEvent | None) -> httpx.Request:
    recorder = Recorder()
    sender = Sender(FakeClock(T0), EXTERNAL, transport=httpx.MockTransport(recorder))
    try:
        if event is None:
            resend = sender.resend(target, FIRING)
            assert resend is not None
            result = await sender.send(target, resend)
        else:
            result = await sender.send_once(target, notification(event))
    finally:
        await sender.aclose()
    assert result.ok, result
    (request,) = recorder.requests
    return request


# sha256 of each body as the sender wrote it before the sink types moved to modules of their
# own: receivers that verify the HMAC, or dedupe by body, see the same bytes as before.
AM = "http://am.test:9093"
SIGNED = "t=1800000000,v1=b7e5568ae97dc9d32dd557b0d8d52f1ff68f6d912d07c24de8df12ed617d6f03"
CASES = [
    (
        sink_config("ops", "https://hooks.test/hook?x=1", SinkType.WEBHOOK, secret="k3y"),
        STARTED,
        "https://hooks.test/hook?x=1",
        {"idempotency-key": "n1", "x-pixverse-monitor-signature": SIGNED},
        "23111b675092fc4e7e8ea745fcd19ecb2d3ef9060faca80a9a993e4888a92009",
    ),
    (
        sink_config("ops", "https://hooks.test/hook", SinkType.WEBHOOK),
        RESOLVED,
        "https://hooks.test/hook",
        {"idempotency-key": "n3"},
        "d24ab51123b4c8971c5616ca57b1fb819cef04c9d95c2e215e32fa7e0e19b6a8",
    ),
    (
        sink_config("ops", SLACK_URL, SinkType.SLACK),
        STARTED,
        SLACK_URL,
        {"idempotency-key": "n1"},
        "a5e21a0e5b071a6d8795c78712b26219890ecc1dca89b84c48530b9a857325c3",
    ),
    (
        sink_config("ops", AM, SinkType.ALERTMANAGER),
        STARTED,
        AM + "/api/v2/alerts",
        {"idempotency-key": "n1"},
        "061021bca2b5f85ddf19b346e09cc6db3d95020acfeac6a3b6d0dccb2addb85e",
    ),
    (  # the new severity only: the end of the old one is a notification of its own, held
        # back the sink's resolve_grace (Alertmanager.batches); the same body as a start
        sink_config("ops", AM, SinkType.ALERTMANAGER),
        CHANGED,
        AM + "/api/v2/alerts",
        {"idempotency-key": "n2"},
        "061021bca2b5f85ddf19b346e09cc6db3d95020acfeac6a3b6d0dccb2addb85e",
    ),
    (
        sink_config("ops", AM, SinkType.ALERTMANAGER),
        RESOLVED,
        AM + "/api/v2/alerts",
        {"idempotency-key": "n3"},
        "3d751cc10cc930d36a126cf7ebbdf7820fa95d0a76f0321755e1e6ff75d93811",
    ),
    (  # the periodic re-send: same body as the start, no idempotency key
        sink_config("ops", AM, SinkType.ALERTMANAGER),
        None,
        AM + "/api/v2/alerts",
        {},
        "061021bca2b5f85ddf19b346e09cc6db3d95020acfeac6a3b6d0dccb2addb85e",
    ),
]
IDS = [
    "webhook-signed",
    "webhook-resolved",
    "slack",
    "alertmanager-started",
    "alertmanager-severity-changed",
    "alertmanager-resolved",
    "alertmanager-resend",
]
OURS = {"content-type", "idempotency-key", "x-pixverse-monitor-signature"}


@pytest.mark.anyio
@pytest.mark.parametrize(("target", "event", "url", "headers", "digest"), CASES, ids=IDS)
async def test_requests_are_byte_identical(
    target: SinkConfig,
    event: AlertEvent | None,
    url: str,
    headers: dict[str, str],
    digest: str,
) -> None:
    request = await one_request(target, event)
    assert request.method == "POST"
    assert str(request.url) == url
    assert hashlib.sha256(request.content).hexdigest() == digest
    sent = {k: v for k, v in request.headers.items() if k in OURS}
    assert sent == {"content-type": "application/json", **headers}
    assert request.headers["user-agent"].startswith("pixverse-monitor/")


async def attempt(transport: httpx.AsyncBaseTransport, timeout: float = 2.0) -> SendResult:
    target = sink_config("ops", SLACK_URL, SinkType.SLACK)
    if timeout != 2.0:
        target = replace(target, timeout=timedelta(seconds=timeout))
    sender = Sender(FakeClock(T0), EXTERNAL, transport=transport)
    try:
        return await sender.send_once(target, notification(STARTED))
    finally:
        await sender.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "retryable", "reason"),
    [
        (200, False, None),
        (204, False, None),
        (301, False, DeliveryFailure.HTTP_OTHER),
        (400, False, DeliveryFailure.HTTP_4XX),
        (404, False, DeliveryFailure.HTTP_4XX),
        (408, True, DeliveryFailure.HTTP_408),
        (429, True, DeliveryFailure.HTTP_429),
        (500, True, DeliveryFailure.HTTP_5XX),
        (503, True, DeliveryFailure.HTTP_5XX),
    ],
)
async def test_an_answer_is_judged_by_the_one_retry_rule(
    status: int, retryable: bool, reason: DeliveryFailure | None
) -> None:
    result = await attempt(httpx.MockTransport(Recorder(status, {"Retry-After": "30"})))
    assert (result.ok, result.retryable, result.status, result.reason) == (
        reason is None,
        retryable,
        status,
        reason,
    )
    assert result.retry_after_seconds == (None if reason is None else 30.0)


@pytest.mark.anyio
async def test_an_unreadable_retry_after_is_ignored_and_logged(logs: LogCapture) -> None:
    """ "²" (one byte, 0xB2, read as Latin-1) passes str.isdigit(); float() then raised."""
    recorder = Recorder(429, [(b"Retry-After", b"\xb2")])
    result = await attempt(httpx.MockTransport(recorder))
    assert (result.retryable, result.reason) == (True, DeliveryFailure.HTTP_429)
    assert result.retry_after_seconds is None  # the backoff decides
    (ignored,) = logs.events("notification.retry_after_ignored")
    assert (ignored["sink"], ignored["value"]) == ("ops", repr("²"))


@pytest.mark.anyio
async def test_a_refused_connection_is_retried_and_never_shows_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    result = await attempt(httpx.MockTransport(refuse))
    assert (result.ok, result.retryable, result.reason) == (
        False,
        True,
        DeliveryFailure.CONNECTION_ERROR,
    )
    assert "ConnectError" in (result.error or "")
    assert "SLACKsecretPATH" not in (result.error or "")
    assert "SLACKsecretPATH" not in repr(result)


@pytest.mark.anyio
async def test_no_answer_in_time_is_a_timeout() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return httpx.Response(200)

    result = await attempt(httpx.MockTransport(hang), timeout=0.05)
    assert (result.ok, result.retryable, result.reason) == (False, True, DeliveryFailure.TIMEOUT)


def test_a_shaped_request_does_not_show_its_url() -> None:
    target = sink_config("ops", SLACK_URL, SinkType.SLACK)
    (shaped,) = Slack().requests(target, notification(STARTED), Context(EXTERNAL, T0))
    assert shaped.url == SLACK_URL
    assert "SLACKsecretPATH" not in repr(shaped)
