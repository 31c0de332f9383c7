"""The one protocol every sink type implements, and the plain values it deals in. Pure.

Delivery holds no sink-type branch: what differs between types (how what a sink is due
becomes outbox entries, which of them are held back, the requests an entry is sent as, the
periodic re-send, how a refusal asks for a later retry) is asked of the sink's `Channel`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

from monitor.alerts.engine import AlertEvent, FiringAlert, Reason
from monitor.alerts.outbox import Batch, Notification, routes, routes_alert
from monitor.clock import Clock
from monitor.config import SinkConfig, SinkType
from monitor.errors import DeliveryFailure

if TYPE_CHECKING:
    from monitor.upstream import RenewingClient

Request = TypeVar("Request")


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one attempt went. `reason` is None exactly when `ok`; `retry_after_seconds` is
    how long the receiver asked to be left alone, when it said."""

    ok: bool
    retryable: bool
    status: int | None
    retry_after_seconds: float | None
    error: str | None
    reason: DeliveryFailure | None = None


@dataclass(frozen=True, slots=True)
class Transport:
    """What sending needs: the HTTP client every sink shares (renewed after an exchange that
    broke off), and the clock."""

    http: RenewingClient
    clock: Clock


@dataclass(frozen=True, slots=True)
class Context:
    """What shaping a request needs besides the sink and the notification: where people
    reach this monitor (links in the messages), and the moment it is shaped."""

    external_url: str
    now: float


def notified(events: Sequence[AlertEvent], sink: SinkConfig) -> tuple[AlertEvent, ...]:
    """The events a sink is told about: those routed to it; a change of labels alone only
    when it brings the alert to the sink (its matchers now hold, and did not before), as the
    alert's start as far as the sink knows."""
    return tuple(
        e
        for e in events
        if routes(e, sink)
        and not (
            e.reason is Reason.LABELS_CHANGED
            and e.replaces is not None
            and routes_alert(e.replaces, sink)
        )
    )


class Channel(Protocol[Request]):
    """What one sink type does, from events due to its sink to the bytes on the wire. A type
    is a module under `alerts/sinks/` with one class implementing this protocol, registered
    in `sender.py`; the defaults here suit a type that sends each notification as it is due
    and never re-sends."""

    type: ClassVar[SinkType]
    # Seconds between two re-sends of everything firing; None: the type does not re-send.
    resend_seconds: ClassVar[float | None] = None

    def batches(self, sink: SinkConfig, events: Sequence[AlertEvent], now: float) -> list[Batch]:
        """What the sink is due of one evaluation's `events` (all of them: route with
        `notified` or `outbox.routes`), as outbox entries. By default one entry, due now:
        one message per burst."""
        due = notified(events, sink)
        return [Batch(due, now)] if due else []

    def supersede(
        self, held: tuple[AlertEvent, ...], new: Sequence[AlertEvent]
    ) -> tuple[AlertEvent, ...]:
        """What is left of a held-back entry once `new` events are due to the same sink;
        by default all of it."""
        return held

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[Request]:
        """The request(s) the notification is sent as, in order; each is recorded as sent
        when it succeeds, so that a restart goes on with the next."""
        ...

    async def send(self, sink: SinkConfig, request: Request, transport: Transport) -> SendResult:
        """One attempt at one request. Never raises for a failure of the receiver's: says
        how it went (a rate-limit answer as `retry_after_seconds`)."""
        ...

    def resend(
        self, sink: SinkConfig, firing: Sequence[FiringAlert], context: Context
    ) -> Request | None:
        """The periodic re-send of `firing` (already routed to the sink), every
        `resend_seconds`; None when there is nothing to send."""
        return None

    def describe(self, sink: SinkConfig, request: Request) -> str:
        """The request as `notify-test --dry-run` prints it, every secret masked."""
        ...
