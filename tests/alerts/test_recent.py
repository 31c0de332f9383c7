"""The record of recent deliveries: bounded per sink, newest first, nothing secret in it, and
fed by Delivery with every outcome the metrics count, under the same reason code."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.alerts.engine import AlertStatus, FiringAlert
from monitor.alerts.recent import (
    MAX_WHY_LENGTH,
    RECENT_PER_SINK,
    RecentDeliveries,
    Subject,
    short_why,
)
from monitor.config.model import Severity, SinkType
from monitor.errors import DeliveryFailure, DeliveryOutcome
from monitor.secret import Secret
from monitor.testing.fakeclock import FakeClock
from monitor.testing.receiver import WebhookReceiver
from tests.alerts.test_delivery import Harness, alert, event, run
from tests.helpers import async_eventually
from tests.helpers.sinks import sink_config

T0 = 1_800_000_000.0
ONE = Subject("firing", "PixverseTokenExpired", "critical", "main", "a@x.io")
SLACK_PATH = "/services/T0RECENT/B0RECENT/recentSlackPathSecret"


def test_the_ring_keeps_the_last_twenty_of_each_sink_newest_first() -> None:
    clock = FakeClock(T0)
    recent = RecentDeliveries(clock)
    for _ in range(RECENT_PER_SINK + 5):
        clock.advance(1)
        recent.record("ops", DeliveryOutcome.DELIVERED, None, ONE)
    recent.record("chat", DeliveryOutcome.DROPPED, DeliveryFailure.HTTP_4XX, ONE, "HTTP 404")
    ops = recent.of("ops")
    assert len(ops) == RECENT_PER_SINK
    assert [r.at_unix for r in ops] == [T0 + 25 - i for i in range(RECENT_PER_SINK)]
    assert all(r.why is None and r.reason is None for r in ops)
    (chat,) = recent.of("chat")
    assert (chat.sink, chat.outcome, chat.reason, chat.why) == (
        "chat",
        DeliveryOutcome.DROPPED,
        DeliveryFailure.HTTP_4XX,
        "HTTP 404",
    )
    assert recent.of("nobody") == ()
    recent.forget("ops")
    assert recent.of("ops") == ()


def test_a_delivered_outcome_keeps_no_text() -> None:
    recent = RecentDeliveries(FakeClock(T0))
    recent.record("ops", DeliveryOutcome.DELIVERED, None, ONE, "anything at all")
    assert recent.of("ops")[0].why is None


SECRET_VALUE = "recent-SECRET-value-71f3"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (None, None),
        ("HTTP 503", "HTTP 503"),
        ("no answer within 10s", "no answer within 10s"),
        (f"token {SECRET_VALUE} refused", "token ******** refused"),
        (
            f"ConnectError: cannot reach https://hooks.slack.com{SLACK_PATH} now",
            "ConnectError: cannot reach <url> now",
        ),
        ("ConnectError: https://hooks.example.com/… refused", "ConnectError: <url> refused"),
        ("proxy user:pass-word@proxy.example:3128 said no", "proxy <url> said no"),
        ("two\nlines\x1b[31m and\u202eRLO", "two lines[31m andRLO"),
        ("x" * 500, "x" * (MAX_WHY_LENGTH - 1) + "…"),
    ],
)
def test_the_why_is_scrubbed_and_short(text: str | None, shown: str | None) -> None:
    Secret(SECRET_VALUE)  # every secret the process holds is masked
    assert short_why(text) == shown


def test_a_subject_names_one_alert_or_counts_several() -> None:
    one = event(account="a@x.io")
    assert Subject.of([one]) == ONE
    two = [event(severity=Severity.WARNING, account="a@x.io"), event(account="b@x.io")]
    assert Subject.of(two) == Subject(
        "firing", "PixverseTokenExpired", "critical", "main", "", alerts=2
    )
    resolved = event(AlertStatus.RESOLVED)
    assert Subject.of([resolved]).status == "resolved"
    firing = [
        FiringAlert(alert(account="a@x.io"), T0, T0, Severity.CRITICAL),
        FiringAlert(alert(Severity.WARNING, account="b@x.io"), T0, T0, Severity.WARNING),
    ]
    assert Subject.resend(firing) == Subject(
        "resend", "PixverseTokenExpired", "critical", "main", "", alerts=2
    )
    assert Subject.resend(firing[1:]) == Subject(
        "resend", "PixverseTokenExpired", "warning", "main", "b@x.io"
    )


def outcomes_recorded(harness: Harness, sink: str) -> Counter[DeliveryOutcome]:
    return Counter(r.outcome for r in harness.delivery.recent.of(sink))


@pytest.mark.anyio
async def test_delivery_records_each_outcome_it_counts_with_the_same_reason() -> None:
    with WebhookReceiver() as receiver:
        receiver.respond(500)  # "bad" is retried, then delivered
        receiver.respond(200)
        receiver.respond(404)  # "gone" is dropped
        harness = await run(
            [sink_config("ops", receiver.url)],
            [[event(ident="bad")], [event(ident="gone", account="b@x.io")]],  # two evaluations
            lambda h: h.count("ops", DeliveryOutcome.DROPPED),
        )
    records = harness.delivery.recent.of("ops")
    assert [(r.outcome, r.reason, r.why, r.subject.account) for r in records] == [
        (DeliveryOutcome.DROPPED, DeliveryFailure.HTTP_4XX, "HTTP 404", "b@x.io"),
        (DeliveryOutcome.DELIVERED, None, None, "a@x.io"),
        (DeliveryOutcome.RETRIED, DeliveryFailure.HTTP_5XX, "HTTP 500", "a@x.io"),
    ]
    counted = {o: harness.count("ops", o) for o in DeliveryOutcome}
    assert counted == {o: outcomes_recorded(harness, "ops")[o] for o in DeliveryOutcome}
    assert harness.failures("ops") == {"http_5xx": 1, "http_4xx": 1}


@pytest.mark.anyio
async def test_a_failure_to_reach_a_slack_url_keeps_neither_its_url_nor_its_path() -> None:
    url = f"http://127.0.0.1:1{SLACK_PATH}"
    harness = Harness([sink_config("chat", url, SinkType.SLACK)])
    await harness.delivery.start()
    harness.delivery.enqueue([event()])

    async def retried() -> bool:
        return harness.count("chat", DeliveryOutcome.RETRIED) >= 2

    try:
        await async_eventually(retried)
    finally:
        await harness.delivery.stop()
    records = harness.delivery.recent.of("chat")
    assert records and all(r.reason is DeliveryFailure.CONNECTION_ERROR for r in records)
    kept = repr(records)
    assert "ConnectError" in kept
    assert SLACK_PATH not in kept and "recentSlackPathSecret" not in kept
    assert "127.0.0.1:1" not in kept


@pytest.mark.anyio
async def test_the_alertmanager_resend_and_an_evicted_notification_are_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    firing = [FiringAlert(alert(account="b@x.io"), T0, T0, Severity.CRITICAL)]
    with WebhookReceiver() as receiver:
        harness = await run(
            [sink_config("am", receiver.url, SinkType.ALERTMANAGER)],
            [],
            lambda h: h.delivery.recent.of("am"),
            firing=firing,
        )
    (resend,) = harness.delivery.recent.of("am")
    assert resend.subject == Subject("resend", "PixverseTokenExpired", "critical", "main", "b@x.io")
    assert resend.outcome is DeliveryOutcome.DELIVERED

    monkeypatch.setattr("monitor.alerts.outbox.MAX_PENDING_PER_SINK", 2)
    receiver = WebhookReceiver().start()
    url = receiver.url
    receiver.stop()  # nothing delivered: the outbox only grows
    harness = Harness([sink_config("ops", url)])
    await harness.delivery.start()
    try:
        for i in range(3):  # three evaluations
            harness.delivery.enqueue([event(ident=f"n{i}", account=f"u{i}@x.io")])
        evicted = [
            r for r in harness.delivery.recent.of("ops") if r.reason is DeliveryFailure.OUTBOX_FULL
        ]
    finally:
        await harness.delivery.stop()
    assert [(r.outcome, r.subject.account) for r in evicted] == [
        (DeliveryOutcome.FAILED, "u1@x.io")
    ]


@pytest.mark.anyio
async def test_a_notification_of_a_burst_is_one_record_counting_its_alerts() -> None:
    with WebhookReceiver() as receiver:
        harness = await run(
            [sink_config("ops", receiver.url)],
            [event(ident=f"n{i}", account=f"u{i}@x.io") for i in range(3)],
            lambda h: h.count("ops", DeliveryOutcome.DELIVERED),
        )
    (record,) = harness.delivery.recent.of("ops")
    assert (record.subject.alertname, record.subject.account, record.subject.alerts) == (
        "PixverseTokenExpired",
        "",
        3,
    )


@pytest.mark.anyio
async def test_a_sink_removed_by_a_reload_takes_its_records_along() -> None:
    with WebhookReceiver() as receiver:
        ops, chat = sink_config("ops", receiver.url), sink_config("chat", receiver.url)
        harness = await run(
            [ops, chat],
            [event()],
            lambda h: h.delivery.recent.of("ops") and h.delivery.recent.of("chat"),
        )
        harness.delivery.set_sinks([ops])
    assert harness.delivery.recent.of("ops")
    assert harness.delivery.recent.of("chat") == ()
