"""Delivery to real receivers on loopback: exact payloads and headers per sink type, retries,
drops, ordering, and a dead sink that delays nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from monitor.alerts.delivery import Delivery
from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import notification_id
from monitor.alerts.sinks import Sender
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, verify_signature
from monitor.clock import SystemClock
from monitor.config import parse_matcher
from monitor.config.model import Severity, SinkConfig, SinkType
from monitor.errors import DeliveryFailure, DeliveryOutcome
from monitor.exposition import InternalMetrics
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import LogCapture, async_eventually
from tests.helpers.sinks import sink_config

SECRET = "hmac-SECRET-key-for-tests"
EXTERNAL = "http://monitor.test:9877"
T0 = 1_800_000_000.0


def alert(severity: Severity = Severity.CRITICAL, account: str = "a@x.io") -> Alert:
    return Alert(
        AlertName.EXPIRED,
        severity,
        "main",
        account,
        "PixVerse token of a@x.io has expired",
        "It expired.",
        {"expires_at": "2027-01-15T08:00:00Z", "ttl_seconds": "-60", "max_jobs": "4"},
    )


def event(
    status: AlertStatus = AlertStatus.FIRING,
    severity: Severity = Severity.CRITICAL,
    ident: str = "n1",
    account: str = "a@x.io",
) -> AlertEvent:
    ended = T0 + 120 if status is AlertStatus.RESOLVED else None
    reason = Reason.RESOLVED if status is AlertStatus.RESOLVED else Reason.STARTED
    return AlertEvent(ident, status, reason, alert(severity, account), T0, ended, T0 + 5, severity)


def key(ident: str, sink: str = "ops") -> str:
    """The id, and Idempotency-Key, of the notification of the event `ident` alone."""
    return notification_id(sink, [ident])


def idents(keys: list[str], *events: str, sink: str = "ops") -> list[str]:
    """`keys` as the ids of the events they are the notifications of."""
    names = {key(e, sink): e for e in events}
    return [names.get(k, k) for k in keys]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


class Harness:
    def __init__(
        self,
        sinks: list[SinkConfig],
        firing: list[FiringAlert] | None = None,
        backoff_cap: float = 0.2,
    ) -> None:
        self.saves = 0
        self.metrics = InternalMetrics(process=False)
        self.delivery = Delivery(
            sinks,
            Sender(SystemClock(), EXTERNAL),
            SystemClock(),
            metrics=self.metrics,
            persist=self._persist,
            firing=lambda: firing or [],
            backoff_base=0.05,
            backoff_cap=backoff_cap,
        )

    def _persist(self) -> None:
        self.saves += 1

    def count(self, sink: str, outcome: DeliveryOutcome) -> int:
        value = self.metrics.registry.get_sample_value(
            "pixverse_monitor_notifications_total", {"sink": sink, "outcome": outcome.value}
        )
        return int(value or 0)

    def failures(self, sink: str) -> dict[str, int]:
        """The non-zero reasons of the sink's failure counter."""
        out = {}
        for reason in DeliveryFailure:
            value = self.metrics.registry.get_sample_value(
                "pixverse_monitor_notification_failures_total",
                {"sink": sink, "reason": reason.value},
            )
            if value:
                out[reason.value] = int(value)
        return out


async def run(
    sinks: list[SinkConfig],
    events: list[AlertEvent] | list[list[AlertEvent]],
    until: Any,
    timeout: float = 10,
    firing: list[FiringAlert] | None = None,
    backoff_cap: float = 0.2,
) -> Harness:
    harness = Harness(sinks, firing, backoff_cap)

    await harness.delivery.start()
    # A list of events is one evaluation; a list of lists, one evaluation each.
    evaluations = events if events and isinstance(events[0], list) else [events]
    for evaluation in evaluations:
        harness.delivery.enqueue(evaluation)  # type: ignore[arg-type]

    async def done() -> bool:
        return bool(until(harness))

    try:
        await async_eventually(done, timeout=timeout, what="deliveries")
    finally:
        await harness.delivery.stop()

    return harness


@pytest.mark.anyio
async def test_webhook_payload_headers_and_signature(receiver: WebhookReceiver) -> None:
    target = sink_config("ops", receiver.url + "/hook?x=1", secret=SECRET)
    await run([target], [event()], lambda h: receiver.accepted())
    (got,) = receiver.accepted()
    assert got.path == "/hook?x=1"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["idempotency-key"] == key("n1")
    assert got.headers["user-agent"].startswith("pixverse-monitor/")
    assert verify_signature(SECRET, got.headers[SIGNATURE_HEADER.lower()], got.body, time.time())
    assert not verify_signature(
        "wrong", got.headers[SIGNATURE_HEADER.lower()], got.body, time.time()
    )
    assert not verify_signature(
        SECRET, got.headers[SIGNATURE_HEADER.lower()], got.body + b" ", time.time()
    )
    labels = {
        "alertname": "PixverseTokenExpired",
        "severity": "critical",
        "source": "main",
        "account": "a@x.io",
    }
    annotations = {
        "summary": "PixVerse token of a@x.io has expired",
        "description": "It expired.",
        "expires_at": "2027-01-15T08:00:00Z",
        "ttl_seconds": "-60",
        "max_jobs": "4",
    }
    assert got.json() == {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ops",
        "groupLabels": {},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": EXTERNAL,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2027-01-15T08:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": EXTERNAL + "/metrics",
                "fingerprint": alert().fingerprint,
            }
        ],
    }


@pytest.mark.anyio
async def test_webhook_without_secret_is_unsigned(receiver: WebhookReceiver) -> None:
    await run(
        [sink_config("ops", receiver.url)],
        [event(AlertStatus.RESOLVED)],
        lambda h: receiver.accepted(),
    )
    (got,) = receiver.accepted()
    assert SIGNATURE_HEADER.lower() not in got.headers
    body = got.json()
    assert body["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2027-01-15T08:02:00.000Z"


@pytest.mark.anyio
async def test_slack_payload(receiver: WebhookReceiver) -> None:
    await run(
        [sink_config("chat", receiver.url + "/services/T/B/x", SinkType.SLACK)],
        [event()],
        lambda h: receiver.accepted(),
    )
    (got,) = receiver.accepted()
    body = got.json()
    assert set(body) == {"text", "blocks"}
    # The time in words is as of sending (the real clock here, the expiry a fixed date).
    assert body["text"].startswith(
        ":rotating_light: CRITICAL: PixverseTokenExpired a@x.io: Token expire"
    )
    assert body["text"].endswith(", at 2027-01-15 08:00 UTC")
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    text = body["blocks"][1]["text"]["text"]
    assert "*a@x.io* · source main" in text and "Job slots at stake: *4*" in text
    assert "status page" in body["blocks"][2]["text"]["text"]
    assert key("n1", "chat") in body["blocks"][3]["elements"][0]["text"]
    assert got.headers["idempotency-key"] == key("n1", "chat")


@pytest.mark.anyio
async def test_alertmanager_payload(receiver: WebhookReceiver) -> None:
    firing = [FiringAlert(alert(account="b@x.io"), T0 - 60, T0, Severity.CRITICAL)]
    await run(
        [sink_config("am", receiver.url, SinkType.ALERTMANAGER)],
        [event(AlertStatus.RESOLVED)],
        lambda h: len(receiver.accepted()) >= 2,
        firing=firing,
    )
    posts = receiver.accepted()
    assert {p.path for p in posts} == {"/api/v2/alerts"}
    bodies = [p.json() for p in posts]
    resolved = next(b for b in bodies if b[0]["labels"]["account"] == "a@x.io")
    assert resolved == [
        {
            "labels": {
                "alertname": "PixverseTokenExpired",
                "severity": "critical",
                "source": "main",
                "account": "a@x.io",
            },
            "annotations": alert().annotations,
            "startsAt": "2027-01-15T08:00:00.000Z",
            "endsAt": "2027-01-15T08:02:00.000Z",
            "generatorURL": EXTERNAL + "/metrics",
        }
    ]
    # The periodic re-send of what is firing: endsAt a few minutes ahead, so Alertmanager
    # resolves it by itself if every monitor dies.
    resend = next(b for b in bodies if b[0]["labels"]["account"] == "b@x.io")
    assert resend[0]["startsAt"] == "2027-01-15T07:59:00.000Z"
    ends = resend[0]["endsAt"]
    assert 200 < datetime.fromisoformat(ends).timestamp() - time.time() < 260


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "headers"),
    [(408, {}), (429, {"Retry-After": "0"}), (500, {}), (502, {}), (503, {}), (504, {})],
)
async def test_retryable_statuses_are_retried(
    receiver: WebhookReceiver, status: int, headers: dict[str, str]
) -> None:
    receiver.respond(status, 2, headers=headers)
    # Wait for the sender's count, not the receiver's record: the receiver records a request
    # before its answer reaches the sender.
    harness = await run(
        [sink_config("ops", receiver.url)],
        [event()],
        lambda h: h.count("ops", DeliveryOutcome.DELIVERED),
    )
    assert [r.answered for r in receiver.received] == [status, status, 200]
    assert {r.headers["idempotency-key"] for r in receiver.received} == {key("n1")}
    assert harness.count("ops", DeliveryOutcome.RETRIED) == 2
    assert harness.count("ops", DeliveryOutcome.DELIVERED) == 1
    assert harness.failures("ops") == {f"http_{status}" if status < 500 else "http_5xx": 2}


@pytest.mark.anyio
async def test_retry_after_is_honoured(receiver: WebhookReceiver) -> None:
    receiver.respond(429, headers={"Retry-After": "1"})
    await run(
        [sink_config("ops", receiver.url)],
        [event()],
        lambda h: receiver.accepted(),
        backoff_cap=3.0,
    )
    first, second = receiver.received
    assert second.at_unix - first.at_unix >= 0.95  # backoff alone would be 0.05 s


@pytest.mark.anyio
async def test_a_retry_after_longer_than_the_backoff_cap_is_capped(
    receiver: WebhookReceiver,
) -> None:
    """It was honoured for up to an hour: one receiver's rate limit held up its outbox."""
    receiver.respond(429, headers={"Retry-After": "3600"})
    await run(
        [sink_config("ops", receiver.url)],
        [event()],
        lambda h: receiver.accepted(),
        backoff_cap=1.0,
    )
    first, second = receiver.received
    assert 0.95 <= second.at_unix - first.at_unix < 5.0


@pytest.mark.anyio
async def test_timeouts_are_retried(receiver: WebhookReceiver) -> None:
    receiver.respond(200, headers={}, delay_seconds=1.0)
    harness = await run(
        [sink_config("ops", receiver.url, timeout=0.3)],
        [event()],
        lambda h: h.count("ops", DeliveryOutcome.DELIVERED),
    )
    assert harness.count("ops", DeliveryOutcome.RETRIED) == 1
    assert harness.failures("ops") == {"timeout": 1}


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
async def test_other_4xx_is_dropped_and_counted(
    receiver: WebhookReceiver, status: int, logs: LogCapture
) -> None:
    receiver.respond(status)
    harness = await run(
        [sink_config("ops", receiver.url)],
        [[event(ident="bad")], [event(ident="good")]],  # two evaluations
        lambda h: receiver.accepted(),
    )
    keys = [r.headers["idempotency-key"] for r in receiver.received]
    assert idents(keys, "bad", "good") == ["bad", "good"]
    assert [r.answered for r in receiver.received] == [status, 200]
    assert harness.count("ops", DeliveryOutcome.DROPPED) == 1
    assert harness.failures("ops") == {"http_4xx": 1}
    failed = [e for e in logs.events("notification.failed") if e["id"] == key("bad")]
    assert (failed[0]["will_retry"], failed[0]["reason"]) == (False, "http_4xx")


@pytest.mark.anyio
async def test_a_dead_receiver_that_comes_back_gets_everything_once(logs: LogCapture) -> None:
    receiver = WebhookReceiver().start()
    url = receiver.url
    receiver.stop()  # connection refused from now on
    events = [event(ident=f"n{i}", account=f"u{i}@x.io") for i in range(5)]
    harness = Harness([sink_config("ops", url)])

    try:
        await harness.delivery.start()
        for one in events:  # five evaluations
            harness.delivery.enqueue([one])

        async def retried_a_few_times() -> bool:
            return harness.count("ops", DeliveryOutcome.RETRIED) >= 4

        await async_eventually(retried_a_few_times, what="several failed attempts")
        assert len(harness.delivery.pending()) == 5
        receiver.start()  # same port

        async def all_in() -> bool:
            return harness.count("ops", DeliveryOutcome.DELIVERED) == 5

        await async_eventually(all_in, timeout=10, what="all notifications")
        await harness.delivery.stop()
    finally:
        receiver.stop()
    ids = [r.headers["idempotency-key"] for r in receiver.accepted()]
    assert ids == [key(f"n{i}") for i in range(5)]  # once each, in order
    assert harness.delivery.pending() == []
    assert harness.saves >= 5 + 4
    first_failure = logs.events("notification.failed")[0]
    assert "ConnectError" in first_failure["error"]
    assert first_failure["reason"] == "connection_error"
    assert set(harness.failures("ops")) == {"connection_error"}


@pytest.mark.anyio
async def test_a_slow_sink_delays_no_other(receiver: WebhookReceiver) -> None:
    with WebhookReceiver() as slow:
        slow.respond(200, delay_seconds=3.0)
        started = time.monotonic()
        await run(
            [sink_config("slow", slow.url, timeout=5), sink_config("fast", receiver.url)],
            [event()],
            lambda h: receiver.accepted(),
        )
        assert time.monotonic() - started < 2.0


@pytest.mark.anyio
async def test_min_severity_and_send_resolved(receiver: WebhookReceiver) -> None:
    with WebhookReceiver() as critical_only:
        sinks = [
            sink_config("all", receiver.url),
            sink_config(
                "crit", critical_only.url, min_severity=Severity.CRITICAL, send_resolved=False
            ),
        ]
        warning = event(severity=Severity.WARNING, ident="w", account="w@x.io")
        critical = event(ident="c", account="c@x.io")
        resolved = event(AlertStatus.RESOLVED, ident="r", account="r@x.io")
        await run(
            sinks,
            [[warning, critical, resolved]],
            lambda h: receiver.accepted() and critical_only.accepted(),
        )
        (everything,) = receiver.accepted()
        assert everything.headers["idempotency-key"] == notification_id("all", ["w", "c", "r"])
        accounts = [a["labels"]["account"] for a in everything.json()["alerts"]]
        assert accounts == ["w@x.io", "c@x.io", "r@x.io"]
        (critical_one,) = critical_only.accepted()
        assert critical_one.headers["idempotency-key"] == key("c", "crit")
        assert [a["labels"]["account"] for a in critical_one.json()["alerts"]] == ["c@x.io"]


@pytest.mark.anyio
async def test_secrets_stay_out_of_logs(logs: LogCapture) -> None:
    url = "http://127.0.0.1:1/services/T000/B000/SLACKsecretPATH"
    harness = Harness(
        [sink_config("chat", url, SinkType.SLACK), sink_config("ops", url, secret=SECRET)]
    )

    await harness.delivery.start()
    harness.delivery.enqueue([event()])

    async def failed() -> bool:
        return harness.count("chat", DeliveryOutcome.RETRIED) >= 2

    await async_eventually(failed)
    await harness.delivery.stop()

    assert "notification.failed" in logs.text
    assert "SLACKsecretPATH" not in logs.text
    assert SECRET not in logs.text


@pytest.mark.anyio
async def test_alertmanager_severity_change_ends_the_old_labelset(
    receiver: WebhookReceiver,
) -> None:
    changed = AlertEvent(
        "s1",
        AlertStatus.FIRING,
        Reason.SEVERITY_CHANGED,
        alert(Severity.CRITICAL),
        T0,
        None,
        T0 + 5,
        Severity.CRITICAL,
        replaces=alert(Severity.WARNING),
    )
    target = sink_config("am", receiver.url, SinkType.ALERTMANAGER, resolve_grace=0.5)
    started = time.time()
    await run([target], [changed], lambda h: len(receiver.accepted()) >= 2)
    first, second = receiver.accepted()
    (new,) = first.json()
    (old,) = second.json()
    assert (new["labels"]["severity"], old["labels"]["severity"]) == ("critical", "warning")
    assert datetime.fromisoformat(new["endsAt"]).timestamp() > time.time() + 200
    # The old severity ends when the severity changed, held back the grace.
    assert old["endsAt"] == "2027-01-15T08:00:05.000Z"
    assert second.at_unix - started >= 0.5


def moved_from_studio_to_ops(ident: str) -> AlertEvent:
    """A firing alert whose account a reload moved from team studio to team ops."""
    return AlertEvent(
        ident,
        AlertStatus.FIRING,
        Reason.LABELS_CHANGED,
        replace(alert(), extra_labels=(("team", "ops"),)),
        T0,
        None,
        T0 + 5,
        Severity.CRITICAL,
        replaces=replace(alert(), extra_labels=(("team", "studio"),)),
    )


@pytest.mark.anyio
async def test_alertmanager_ends_an_alert_under_the_labels_it_had_before_a_reload(
    receiver: WebhookReceiver,
) -> None:
    """A reload moves an account to another team: Alertmanager, which tells alerts apart by
    every label, would show the alert under both teams until the old one lapsed (minutes).
    Other sinks are not told: nothing happened to the alert itself."""
    relabelled = moved_from_studio_to_ops("l1")
    with WebhookReceiver() as hook:
        # A grace holds back what Prometheus rules may raise too; they never carry
        # [[accounts]] labels, so this end goes at once, with the alert under its new labels.
        am = sink_config("am", receiver.url, SinkType.ALERTMANAGER, resolve_grace=60)
        harness = await run(
            [am, sink_config("hook", hook.url)],
            [relabelled],
            lambda h: h.count("am", DeliveryOutcome.DELIVERED),
        )
        assert hook.received == []
    (post,) = receiver.accepted()
    new, old = post.json()
    assert (new["labels"]["team"], old["labels"]["team"]) == ("ops", "studio")
    assert datetime.fromisoformat(new["endsAt"]).timestamp() > time.time() + 200
    assert old["endsAt"] == "2027-01-15T08:00:05.000Z"  # ended when the labels changed
    assert harness.count("hook", DeliveryOutcome.DELIVERED) == 0


@pytest.mark.anyio
async def test_a_relabelled_alert_reaches_a_sink_whose_matchers_it_now_meets(
    receiver: WebhookReceiver,
) -> None:
    """The sink of team ops hears of the alert when it joins the team, as its start; the
    sink of team studio, which knew it, is not told again."""
    relabelled = moved_from_studio_to_ops("l2")
    with WebhookReceiver() as studio:
        sinks = [
            replace(sink_config("ops", receiver.url), matchers=(parse_matcher("team=ops"),)),
            replace(sink_config("studio", studio.url), matchers=(parse_matcher("team=studio"),)),
        ]
        await run(sinks, [relabelled], lambda h: h.count("ops", DeliveryOutcome.DELIVERED))
        assert studio.received == []
    (post,) = receiver.accepted()
    assert post.json()["alerts"][0]["labels"]["team"] == "ops"


@pytest.mark.anyio
async def test_alertmanager_ends_are_held_back_without_holding_up_others(
    receiver: WebhookReceiver,
) -> None:
    """So that Prometheus rules resolving the same alert an evaluation later, and re-sending
    it as firing until then, do not make Alertmanager show it resolved and firing again."""
    target = sink_config("am", receiver.url, SinkType.ALERTMANAGER, resolve_grace=1.0)
    started = time.time()
    ended, other = event(AlertStatus.RESOLVED, ident="end"), event(ident="new", account="b@x.io")
    # Counted once the answer is read, a moment after the receiver has the request.
    harness = await run(
        [target], [ended, other], lambda h: h.count("am", DeliveryOutcome.DELIVERED) == 2
    )
    first, second = receiver.accepted()
    assert first.json()[0]["labels"]["account"] == "b@x.io"  # not held up by the end
    assert first.at_unix - started < 0.9
    (resolved,) = second.json()
    assert resolved["labels"]["account"] == "a@x.io"
    assert second.at_unix - started >= 1.0
    assert resolved["endsAt"] == "2027-01-15T08:02:00.000Z"  # when it ended, not when sent
    assert harness.count("am", DeliveryOutcome.DELIVERED) == 2


@pytest.mark.anyio
async def test_an_alert_back_within_the_grace_goes_on_in_alertmanager(
    receiver: WebhookReceiver,
) -> None:
    target = sink_config("am", receiver.url, SinkType.ALERTMANAGER, resolve_grace=0.5)
    harness = Harness([target])
    await harness.delivery.start()
    try:
        harness.delivery.enqueue([event(AlertStatus.RESOLVED, ident="end")])
        assert [n.id for n in harness.delivery.pending()] == [key("end", "am")]
        harness.delivery.enqueue([event(ident="again")])
        # The held-back end is gone at once: superseded, it will never be sent.
        assert [n.id for n in harness.delivery.pending()] in ([key("again", "am")], [])
        await async_eventually(lambda: _true(harness.delivery.pending() == []), what="sent")
        keys = [r.headers["idempotency-key"] for r in receiver.accepted()]
        assert keys == [key("again", "am")]
    finally:
        await harness.delivery.stop()


async def _true(value: bool) -> bool:
    return value


@pytest.mark.anyio
async def test_a_full_outbox_evicts_the_oldest_and_says_why(
    monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    monkeypatch.setattr("monitor.alerts.outbox.MAX_PENDING_PER_SINK", 3)
    receiver = WebhookReceiver().start()
    url = receiver.url
    receiver.stop()  # nothing delivered: the outbox only grows
    harness = Harness([sink_config("ops", url)])
    await harness.delivery.start()
    try:
        for i in range(5):  # five evaluations
            harness.delivery.enqueue([event(ident=f"n{i}", account=f"u{i}@x.io")])
        pending = [n.id for n in harness.delivery.pending()]
    finally:
        await harness.delivery.stop()
    # The head may be in flight: the next oldest go.
    assert pending == [key("n0"), key("n3"), key("n4")]
    assert harness.count("ops", DeliveryOutcome.FAILED) == 2
    assert harness.failures("ops")["outbox_full"] == 2
    evicted = [e for e in logs.events("notification.failed") if e["reason"] == "outbox_full"]
    assert [e["id"] for e in evicted] == [key("n1"), key("n2")]


@pytest.mark.anyio
async def test_what_falls_due_within_group_wait_is_one_notification(
    receiver: WebhookReceiver,
) -> None:
    """Two evaluations within the sink's group_wait: one POST, sent when the wait is over;
    an evaluation after it: a notification of its own."""
    target = replace(sink_config("ops", receiver.url), group_wait=timedelta(seconds=1))
    harness = Harness([target])
    await harness.delivery.start()
    try:
        started = time.time()
        harness.delivery.enqueue([event(ident="first", account="a@x.io")])
        harness.delivery.enqueue([event(ident="second", account="b@x.io")])
        (gathering,) = harness.delivery.pending()
        assert gathering.id == key("first")  # the id it got when it began, kept

        async def sent(count: int) -> bool:
            return harness.count("ops", DeliveryOutcome.DELIVERED) == count

        await async_eventually(lambda: sent(1), what="the gathered notification")
        harness.delivery.enqueue([event(ident="third", account="c@x.io")])
        await async_eventually(lambda: sent(2), what="the next one")
    finally:
        await harness.delivery.stop()
    first, second = receiver.accepted()
    assert [a["labels"]["account"] for a in first.json()["alerts"]] == ["a@x.io", "b@x.io"]
    assert first.at_unix - started >= 1.0
    assert [a["labels"]["account"] for a in second.json()["alerts"]] == ["c@x.io"]
    assert first.headers["idempotency-key"] == key("first")
