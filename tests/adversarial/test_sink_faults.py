"""Sinks that hang, reset, refuse or fail, and notifications that cannot be rendered: every
worker keeps delivering, nothing is lost that can be delivered, nothing leaks."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from monitor.alerts.delivery import Delivery
from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, FiringAlert, Reason
from monitor.alerts.sinks import Sender
from monitor.alerts.sinks.alertmanager import Alertmanager
from monitor.clock import SystemClock
from monitor.config.model import Severity, SinkConfig, SinkType
from monitor.errors import DeliveryFailure, DeliveryOutcome
from monitor.exposition import InternalMetrics
from monitor.testing.receiver import WebhookReceiver
from tests.helpers import LogCapture, async_eventually
from tests.helpers.fds import open_fds
from tests.helpers.sinks import sink_config

T0 = time.time()


def event(ident: str, starts_at: float = T0) -> AlertEvent:
    alert = Alert(AlertName.EXPIRED, Severity.CRITICAL, "main", f"{ident}@x.io", "s", "d", {})
    return AlertEvent(
        ident, AlertStatus.FIRING, Reason.STARTED, alert, starts_at, None, T0, Severity.CRITICAL
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


class Harness:
    """A Delivery with fast backoff, counting saves; `sender` may carry a fault transport."""

    def __init__(
        self,
        target: SinkConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        firing: list[FiringAlert] | None = None,
    ) -> None:
        self.metrics = InternalMetrics(process=False)
        self.delivery = Delivery(
            [target],
            Sender(SystemClock(), "http://monitor.test", transport=transport),
            SystemClock(),
            metrics=self.metrics,
            persist=lambda: None,
            firing=lambda: firing or [],
            backoff_base=0.01,
            backoff_cap=0.05,
        )

    def count(self, outcome: DeliveryOutcome) -> int:
        value = self.metrics.registry.get_sample_value(
            "pixverse_monitor_notifications_total", {"sink": "ops", "outcome": outcome.value}
        )
        return int(value or 0)

    def failures(self, reason: DeliveryFailure) -> int:
        value = self.metrics.registry.get_sample_value(
            "pixverse_monitor_notification_failures_total", {"sink": "ops", "reason": reason.value}
        )
        return int(value or 0)


def accepted_ids(receiver: WebhookReceiver) -> list[str]:
    """The events accepted, in order, by the `ident` of `event(ident)`."""
    return [a["labels"]["account"].split("@")[0] for a in receiver.alerts()]


@pytest.mark.anyio
async def test_a_notification_that_cannot_be_rendered_costs_only_itself(
    receiver: WebhookReceiver, logs: LogCapture
) -> None:
    """An out-of-range time (say, from a damaged state file) once ended the worker: nothing
    logged, counters frozen, the outbox growing."""
    harness = Harness(sink_config("ops", receiver.url, timeout=1.0))
    await harness.delivery.start()
    try:
        harness.delivery.enqueue([event("bad", starts_at=1e20)])  # two evaluations
        harness.delivery.enqueue([event("good")])

        async def good_delivered() -> bool:
            return "good" in accepted_ids(receiver)

        await async_eventually(good_delivered, what="the good notification")
        harness.delivery.enqueue([event("later")])

        async def later_delivered() -> bool:
            return "later" in accepted_ids(receiver)

        await async_eventually(later_delivered, what="a later notification")

        async def bad_given_up() -> bool:
            return not any(e.id == "bad" for n in harness.delivery.pending() for e in n.events)

        await async_eventually(bad_given_up, what="the bad one to be given up")
    finally:
        await harness.delivery.stop()
    assert accepted_ids(receiver) == ["good", "later"]
    assert harness.count(DeliveryOutcome.FAILED) == 1
    # Three attempts raised: two retried, then given up.
    assert harness.failures(DeliveryFailure.INTERNAL_ERROR) == 3
    failures = logs.events("task.failed")
    assert failures and {f["task"] for f in failures} == {"delivery"}
    assert failures[0]["error_kind"] in ("ValueError", "OverflowError", "OSError")
    assert failures[0]["sink"] == "ops"


@pytest.mark.anyio
async def test_an_alert_that_cannot_be_rendered_costs_only_itself_in_a_burst(
    receiver: WebhookReceiver, logs: LogCapture
) -> None:
    """One message per burst must not make one bad alert cost the whole burst: after three
    failed attempts the notification is split into one per alert."""
    harness = Harness(sink_config("ops", receiver.url, timeout=1.0))
    await harness.delivery.start()
    try:
        harness.delivery.enqueue([event("good1"), event("bad", starts_at=1e20), event("good2")])

        async def settled() -> bool:
            return not harness.delivery.pending()

        await async_eventually(settled, what="the good ones delivered, the bad one given up")
    finally:
        await harness.delivery.stop()
    assert accepted_ids(receiver) == ["good1", "good2"]
    (split,) = logs.events("notification.split")
    assert split["into"] == 3
    assert harness.count(DeliveryOutcome.DELIVERED) == 2
    assert harness.count(DeliveryOutcome.FAILED) == 1
    # Three attempts of the burst (the third splits it), three of the bad alert alone.
    assert harness.failures(DeliveryFailure.INTERNAL_ERROR) == 3 + 3


class Exploding(httpx.AsyncBaseTransport):
    """A transport that raises something httpx never would, `times` times, then works."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.left > 0:
            self.left -= 1
            raise RuntimeError("not an httpx error")
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


@pytest.mark.anyio
async def test_an_unexpected_error_while_sending_is_retried(
    receiver: WebhookReceiver, logs: LogCapture
) -> None:
    harness = Harness(sink_config("ops", receiver.url, timeout=1.0), transport=Exploding(2))
    await harness.delivery.start()
    try:
        harness.delivery.enqueue([event("n1")])  # two evaluations
        harness.delivery.enqueue([event("n2")])

        # The sender's own count, not the receiver's record: the receiver records a request
        # before its answer reaches the sender, and stopping then would cancel that answer.
        async def both() -> bool:
            return harness.count(DeliveryOutcome.DELIVERED) == 2

        await async_eventually(both, what="both notifications delivered")
    finally:
        await harness.delivery.stop()
    assert accepted_ids(receiver) == ["n1", "n2"]
    assert harness.count(DeliveryOutcome.RETRIED) == 2
    assert harness.failures(DeliveryFailure.CONNECTION_ERROR) == 2
    errors = [e["error"] for e in logs.events("notification.failed")]
    assert all("RuntimeError" in e for e in errors) and len(errors) == 2


@pytest.mark.anyio
async def test_the_alertmanager_resender_survives_a_bad_alert(
    receiver: WebhookReceiver, logs: LogCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Alertmanager, "resend_seconds", 0.05)
    good = FiringAlert(event("good").alert, T0, T0, Severity.CRITICAL)
    bad = FiringAlert(event("bad").alert, 1e20, T0, Severity.CRITICAL)
    firing = [bad]
    harness = Harness(
        sink_config("ops", receiver.url, SinkType.ALERTMANAGER, timeout=1.0), firing=firing
    )
    await harness.delivery.start()
    try:

        async def failed_twice() -> bool:
            return len(logs.events("task.failed")) >= 2

        # The pause after an error doubles from 1 s; the second failure is a second later.
        await async_eventually(failed_twice, timeout=8, what="the resender to fail twice")
        firing[:] = [good]

        async def resent() -> bool:
            return bool(receiver.accepted("/api/v2/alerts"))

        await async_eventually(resent, timeout=8, what="a re-send of the good alert")
    finally:
        await harness.delivery.stop()
    assert {f["task"] for f in logs.events("task.failed")} == {"resend"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("script", "outcomes"),
    [
        ([{"status": 200, "delay_seconds": 0.6}], {DeliveryOutcome.RETRIED: 1}),
        ([{"status": 200, "reset": True}], {DeliveryOutcome.RETRIED: 1}),
        ([{"status": 500}, {"status": 503}], {DeliveryOutcome.RETRIED: 2}),
        ([{"status": 429, "headers": {"Retry-After": "0"}}], {DeliveryOutcome.RETRIED: 1}),
        ([{"status": 408}], {DeliveryOutcome.RETRIED: 1}),
        ([{"status": 400}], {DeliveryOutcome.DROPPED: 1}),
        ([{"status": 404}], {DeliveryOutcome.DROPPED: 1}),
        (
            [{"status": 302, "headers": {"Location": "http://x.invalid/"}}],
            {DeliveryOutcome.DROPPED: 1},
        ),
    ],
    ids=["hang", "reset", "5xx", "429", "408", "400", "404", "redirect"],
)
async def test_each_sink_fault_has_its_outcome(
    receiver: WebhookReceiver, script: list[dict[str, object]], outcomes: dict[str, int]
) -> None:
    for step in script:
        receiver.respond(**step)  # type: ignore[arg-type]
    harness = Harness(sink_config("ops", receiver.url, timeout=0.3))
    await harness.delivery.start()
    try:
        harness.delivery.enqueue([event("first")])  # two evaluations
        harness.delivery.enqueue([event("second")])

        async def settled() -> bool:
            return not harness.delivery.pending()

        await async_eventually(settled, what="the outbox to empty")
    finally:
        await harness.delivery.stop()
    for outcome, count in outcomes.items():
        assert harness.count(DeliveryOutcome(outcome)) == count
    dropped = harness.count(DeliveryOutcome.DROPPED)
    assert harness.count(DeliveryOutcome.DELIVERED) == 2 - dropped
    assert accepted_ids(receiver)[-1] == "second"


@pytest.mark.anyio
async def test_a_sink_that_keeps_hanging_leaks_no_connection(receiver: WebhookReceiver) -> None:
    attempts = 25
    for i in range(attempts):
        # Just past the timeout: each answer arrives as its attempt is being given up.
        receiver.respond(200, delay_seconds=0.11 + 0.01 * (i % 3))
    harness = Harness(sink_config("ops", receiver.url, timeout=0.1))
    await harness.delivery.start()
    try:
        fds = open_fds()
        harness.delivery.enqueue([event("n1")])

        async def settled() -> bool:
            return harness.count(DeliveryOutcome.DELIVERED) == 1

        await async_eventually(settled, timeout=30, what="the delivery after every hang")
        after = open_fds()
    finally:
        await harness.delivery.stop()
    assert harness.count(DeliveryOutcome.RETRIED) == attempts
    assert after <= fds + 3, (fds, after)
