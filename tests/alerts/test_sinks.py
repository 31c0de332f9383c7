"""Each sink type's request, byte for byte, and how one HTTP attempt reports what went wrong.

The requests are taken by an httpx.MockTransport, so the exact URL, headers and body bytes the
sender produces are compared (tests/alerts/test_delivery.py checks the same payloads against a
real receiver on loopback, by their meaning).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from email.header import decode_header, make_header

import anyio
import httpx
import orjson
import pytest

from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import Notification
from monitor.alerts.sinks import Context, Sender, SendResult, Transport
from monitor.alerts.sinks.http import Answer, SinkRequest, body_retry_after, post
from monitor.alerts.sinks.ntfy import header_value
from monitor.alerts.sinks.slack import Slack
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, Webhook, verify_signature
from monitor.config import parse_matcher
from monitor.config.model import Severity, SinkConfig, SinkType
from monitor.errors import DeliveryFailure
from monitor.retry import RetryAfter
from monitor.secret import Secret
from monitor.testing.fakeclock import FakeClock
from monitor.upstream import RenewingClient
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
STARTED = AlertEvent(
    "n1", AlertStatus.FIRING, Reason.STARTED, ALERT, T0 - 60, None, T0, ALERT.severity
)
CHANGED = AlertEvent(
    "n2", AlertStatus.FIRING, Reason.SEVERITY_CHANGED, ALERT, T0 - 60, None, T0, ALERT.severity
)
RESOLVED = AlertEvent(
    "n3", AlertStatus.RESOLVED, Reason.RESOLVED, ALERT, T0 - 60, T0, T0, ALERT.severity
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


# sha256 of each body: a change to any payload is a deliberate one (and docs/notifications.md
# shows it). The Alertmanager bodies are those of before the sink types moved to modules of
# their own; the webhook's carry a group (groupKey "{}:{}", no groupLabels), Slack's the
# message of docs/notifications.md.
AM = "http://am.test:9093"
SIGNED = "t=1800000000,v1=5569daecab8cc0eb3347b1f107c789b78a964af9d1c777981be43748c30229b7"
CASES = [
    (
        sink_config("ops", "https://hooks.test/hook?x=1", SinkType.WEBHOOK, secret="k3y"),
        STARTED,
        "https://hooks.test/hook?x=1",
        {"idempotency-key": "n1", "x-pixverse-monitor-signature": SIGNED},
        "44510fab3f58595474064bf2de421e5636a20db87d387457b13458d503270b8b",
    ),
    (
        sink_config("ops", "https://hooks.test/hook", SinkType.WEBHOOK),
        RESOLVED,
        "https://hooks.test/hook",
        {"idempotency-key": "n3"},
        "bf076ce059b3dcb5c31b54f18d63773af7f7d9dfa2d41c35c9ddbdc39100680a",
    ),
    (
        sink_config("ops", SLACK_URL, SinkType.SLACK),
        STARTED,
        SLACK_URL,
        {"idempotency-key": "n1"},
        "5a4d5a3f234d43f873b5ebeacacf1dad59ef1f30d8bb9f493a5d81644c5f2a0d",
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


# -- one notification per burst ------------------------------------------------------------


def burst(count: int, *, resolved: int = 0) -> tuple[AlertEvent, ...]:
    """`count` token alerts of one evaluation, critical and warning in turn, the last
    `resolved` of them resolutions; the team label on every other one."""
    events = []
    for i in range(count):
        severity = Severity.CRITICAL if i % 2 == 0 else Severity.WARNING
        alert = replace(
            ALERT,
            severity=severity,
            account=f"u{i:04d}@x.io",
            details={**ALERT.details, "expires_at": f"2027-01-{15 + i % 10}T13:00:00Z"},
            extra_labels=(("team", "studio"),) if i % 2 == 0 else (),
        )
        status = AlertStatus.RESOLVED if i >= count - resolved else AlertStatus.FIRING
        reason = Reason.RESOLVED if status is AlertStatus.RESOLVED else Reason.STARTED
        ends = T0 if status is AlertStatus.RESOLVED else None
        events.append(AlertEvent(f"e{i}", status, reason, alert, T0 - 60, ends, T0, severity))
    return tuple(events)


def test_a_webhook_notification_of_450_alerts_is_three_posts_of_at_most_200() -> None:
    target = sink_config("ops", "https://hooks.test/hook", secret="k3y")
    group = Notification("g1", "ops", burst(450, resolved=10))
    posts = Webhook().requests(target, group, Context(EXTERNAL, T0))
    bodies = [orjson.loads(p.body) for p in posts]
    assert [len(b["alerts"]) for b in bodies] == [200, 200, 50]
    assert [p.headers["Idempotency-Key"] for p in posts] == ["g1-1of3", "g1-2of3", "g1-3of3"]
    sent = [a["labels"]["account"] for b in bodies for a in b["alerts"]]
    assert sent == [e.alert.account for e in group.events]  # all, once, in order
    for sent_post, body in zip(posts, bodies, strict=True):
        assert body["groupKey"] == "{}:{}" and body["groupLabels"] == {}
        # What every alert of the POST shares: not the account, nor the severity.
        assert body["commonLabels"] == {"alertname": "PixverseTokenExpiringSoon", "source": "main"}
        signed = sent_post.headers[SIGNATURE_HEADER]
        assert verify_signature("k3y", signed, sent_post.body, T0)
    assert [b["status"] for b in bodies] == ["firing", "firing", "firing"]
    assert {a["status"] for a in bodies[2]["alerts"][-10:]} == {"resolved"}


def test_a_webhook_group_key_is_alertmanagers_for_a_route_with_the_sinks_matchers() -> None:
    target = replace(
        sink_config("ops", "https://hooks.test/hook"),
        matchers=(parse_matcher("team=studio"),),
    )
    events = tuple(e for e in burst(4) if e.alert.labels.get("team") == "studio")
    (post,) = Webhook().requests(target, Notification("g", "ops", events), Context(EXTERNAL, T0))
    body = orjson.loads(post.body)
    assert body["groupKey"] == '{}/{team="studio"}:{}'
    assert body["commonLabels"] == {
        "alertname": "PixverseTokenExpiringSoon",
        "severity": "critical",
        "source": "main",
        "team": "studio",
    }
    assert post.headers["Idempotency-Key"] == "g"


def test_a_slack_message_details_the_20_most_urgent_and_counts_the_rest() -> None:
    events = burst(30, resolved=4)
    (post,) = Slack().requests(
        sink_config("chat", SLACK_URL, SinkType.SLACK),
        Notification("g1", "chat", events),
        Context(EXTERNAL, T0),
    )
    body = orjson.loads(post.body)
    blocks = body["blocks"]
    assert len(blocks) <= 50
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    detailed, summary = sections[:-1], sections[-1]
    assert len(detailed) == 20
    # Critical first, then the soonest expiry: u0000 (15 Jan) before u0010 (15 Jan, later
    # account), u0002 (17 Jan)...
    firsts = [s.split("\n")[1].split("*")[1] for s in detailed[:3]]
    assert firsts == ["u0000@x.io", "u0010@x.io", "u0020@x.io"]
    assert all(":rotating_light: *CRITICAL*" in s for s in detailed[:13])
    assert summary == (
        "…and 10 more: 6 warning, 4 resolved. All of them on the "
        "<http://monitor.test:9877/|status page>."
    )
    assert blocks[0]["text"]["text"] == "PixVerse: 13 critical, 13 warning firing; 4 resolved"
    assert body["text"].startswith(":rotating_light: PixVerse: 13 critical")
    assert "team studio" in detailed[0]


def test_slack_text_is_escaped_so_that_it_shows_as_it_is() -> None:
    hostile = replace(
        ALERT,
        account="<!channel>&<https://evil.test|click>@x.io",
        description="Renew <it> & now",
        extra_labels=(("team", "<@U123>"),),
    )
    event = replace(STARTED, alert=hostile)
    (post,) = Slack().requests(
        sink_config("chat", SLACK_URL, SinkType.SLACK),
        Notification("n", "chat", (event,)),
        Context(EXTERNAL, T0),
    )
    body = orjson.loads(post.body)
    texts = [body["text"]] + [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    for text in texts:
        assert "<!channel>" not in text and "<@U123>" not in text and "<https://evil" not in text
    alert_text = body["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt;&amp;&lt;https://evil.test|click&gt;@x.io" in alert_text
    assert "Renew &lt;it&gt; &amp; now" in alert_text
    assert "team &lt;@U123&gt;" in alert_text
    # The header is plain text, shown as written.
    assert body["blocks"][0]["text"]["text"].endswith("<!channel>&<https://evil.test|click>@x.io")


@pytest.mark.anyio
async def test_an_ntfy_request_byte_for_byte() -> None:
    target = replace(
        sink_config("push", "https://ntfy.test/pixverse-alerts", SinkType.NTFY),
        token=Secret("tk_pinned"),
    )
    request = await one_request(target, STARTED)
    assert str(request.url) == "https://ntfy.test/pixverse-alerts"
    assert {k: v for k, v in request.headers.items() if k not in ("host", "user-agent")} == {
        "accept": "*/*",
        "accept-encoding": "identity",
        "connection": "keep-alive",
        "content-length": str(len(request.content)),
        "content-type": "text/plain; charset=utf-8",
        "title": "CRITICAL: PixverseTokenExpiringSoon a@x.io",
        "priority": "5",
        "tags": "rotating_light",
        "click": "http://monitor.test:9877/",
        "idempotency-key": "n1",
        "authorization": "Bearer tk_pinned",
    }
    assert request.content.decode() == (
        "🚨 CRITICAL · PixverseTokenExpiringSoon\n"
        "a@x.io · source main\n"
        "Token expires in 5h 0m, at 2027-01-15 13:00 UTC\n"
        "Job slots at stake: 4\n"
        "Renew it.\n"
        "\n"
        "All alerts: http://monitor.test:9877/"
    )


def test_ntfy_titles_that_are_not_ascii_are_rfc_2047_words() -> None:
    for title in ("Äpfel", "CRITICAL: x " + "ü" * 100, "🚨" * 30, "plain ascii"):
        encoded = header_value(title)
        assert encoded.isascii()
        assert str(make_header(decode_header(encoded))) == title
        assert all(len(word) <= 75 for word in encoded.split(" ") if word.startswith("=?"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "headers", "seconds", "ignored"),
    [
        (b'{"ok":false,"parameters":{"retry_after":7}}', {}, 7.0, None),  # Telegram's
        (b'{"parameters":{"retry_after":2.5}}', {"Retry-After": "30"}, 2.5, None),
        (b'{"description":"Too Many Requests"}', {"Retry-After": "30"}, 30.0, None),
        (b"not json", {"Retry-After": "4"}, 4.0, None),
        (b'{"parameters":{"retry_after":-1}}', {}, None, "-1"),
        (b'{"parameters":{"retry_after":"7"}}', {}, None, None),  # not a number: the header
    ],
)
async def test_a_channel_may_read_its_rate_limit_answer_from_the_body(
    body: bytes, headers: dict[str, str], seconds: float | None, ignored: str | None
) -> None:
    """What a type whose channel answers 429 in JSON (Telegram, Discord) overrides; the
    rest of the attempt is the one every HTTP type shares."""

    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers=headers, stream=httpx.ByteStream(body))

    def read(answer: Answer, now: float) -> RetryAfter:
        found = body_retry_after(answer, now, "parameters", "retry_after")
        assert found.ignored == ignored
        return found

    client = RenewingClient(lambda: httpx.AsyncClient(transport=httpx.MockTransport(limited)))
    target = sink_config("ops", "https://hooks.test/x")
    try:
        result = await post(
            Transport(client, FakeClock(T0)),
            target,
            SinkRequest("https://hooks.test/x", b"{}", {}),
            read,
        )
    finally:
        await client.aclose()
    assert (result.ok, result.retryable, result.reason) == (False, True, DeliveryFailure.HTTP_429)
    assert result.retry_after_seconds == seconds
