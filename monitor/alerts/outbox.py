"""The outbox: notifications waiting for delivery, each a group of events for one sink; how
what a sink is due joins it (gathered within the sink's `group_wait`, bounded), and which
notification a sink's worker sends next. Pure; what is particular to a sink type is asked of
its channel (`alerts/sinks/channel.py`)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from monitor.alerts.alert import Alert
from monitor.alerts.engine import AlertEvent, AlertStatus
from monitor.config import SinkConfig, matches_all

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0  # exponential backoff capped at 5 min (docs/notifications.md)
# Per sink; beyond it the oldest notification is evicted (counted as failed), so a sink that
# is gone for good cannot grow the state file without bound.
MAX_PENDING_PER_SINK = 10_000


@dataclass(frozen=True, slots=True)
class Batch:
    """Events a sink is due together: one outbox entry, due at `due_unix`. A `held` entry is
    held back (never tried before it falls due) and does not hold up the entries behind it."""

    events: tuple[AlertEvent, ...]
    due_unix: float
    held: bool = False


@dataclass(frozen=True, slots=True)
class Notification:
    """Events on their way to one sink, sent together. `id` is the same across retries and
    restarts; `parts_sent` counts the requests of it already accepted (a notification too
    big for one request is sent as several, in order). A `held` one is held back until it
    falls due, without holding up the others."""

    id: str
    sink: str
    events: tuple[AlertEvent, ...]
    attempts: int = 0
    next_attempt_unix: float = 0.0
    parts_sent: int = 0
    held: bool = False

    def waiting(self, now: float) -> bool:
        """Never tried and not yet due: a held-back one waits without holding up the others,
        and a gathering one (a sink's `group_wait`) still takes events."""
        return self.attempts == 0 and self.parts_sent == 0 and self.next_attempt_unix > now


def notification_id(sink: str, event_ids: Iterable[str]) -> str:
    """The stable id of a notification: its sink and the ids of its events."""
    key = "\0".join([sink, *event_ids])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def routes(event: AlertEvent, sink: SinkConfig) -> bool:
    """Whether the sink is told about the event: `min_severity` and `matchers`, and
    `send_resolved` for a resolution, which goes where its alert went at some point (at its
    last severity, or at its peak)."""
    if event.status is AlertStatus.RESOLVED:
        peak = dataclasses.replace(event.alert, severity=event.peak_severity)
        return sink.send_resolved and (routes_alert(peak, sink) or routes_alert(event.alert, sink))
    return routes_alert(event.alert, sink)


def routes_alert(alert: Alert, sink: SinkConfig) -> bool:
    """Whether a firing alert goes to the sink: at least its `min_severity`, and every one of
    its `matchers` holds on the alert's labels (the `[[accounts]]` labels among them)."""
    if alert.severity.rank < sink.min_severity.rank:
        return False
    return not sink.matchers or matches_all(sink.matchers, alert.labels)


def new_notification(
    sink: str, events: tuple[AlertEvent, ...], due_unix: float, *, held: bool
) -> Notification:
    ident = notification_id(sink, (e.id for e in events))
    return Notification(ident, sink, events, 0, due_unix, 0, held)


def add(
    queue: list[Notification], sink: SinkConfig, batches: Sequence[Batch], now: float
) -> list[Notification]:
    """Put what a sink is due into its queue: a batch that is not held back joins the
    notification still gathering within the sink's `group_wait`, if there is one, or starts
    one, due `group_wait` from now. Past MAX_PENDING_PER_SINK the oldest are evicted (never the
    head, which may be in flight): returned, to be counted as failed."""
    evicted = []
    for batch in batches:
        if not batch.events:
            continue
        gathering = None if batch.held else _gathering(queue, now)
        if gathering is not None:
            queue[gathering] = joined(queue[gathering], batch.events)
            continue
        due = batch.due_unix if batch.held else batch.due_unix + sink.group_wait.total_seconds()
        queue.append(new_notification(sink.name, batch.events, due, held=batch.held))
        if len(queue) > MAX_PENDING_PER_SINK:
            evicted.append(queue.pop(1 if len(queue) > 1 else 0))
    return evicted


def _gathering(queue: list[Notification], now: float) -> int | None:
    """Where the notification still gathering events is: the newest not held back, while it
    is not due."""
    for index in reversed(range(len(queue))):
        if not queue[index].held:
            return index if queue[index].waiting(now) else None
    return None


def supersede(
    queue: list[Notification],
    now: float,
    take_back: Callable[[tuple[AlertEvent, ...]], tuple[AlertEvent, ...]],
) -> list[tuple[str, int]]:
    """Let the sink's channel take back what new events make moot in the entries it still
    holds back (`take_back` returns what is left of their events); an entry left empty goes.
    Returns (id, events left) of each entry changed."""
    changed = []
    for index in reversed(range(len(queue))):
        held = queue[index]
        if not (held.held and held.waiting(now)):
            continue
        kept = take_back(held.events)
        if kept == held.events:
            continue
        changed.append((held.id, len(kept)))
        if kept:
            queue[index] = dataclasses.replace(held, events=kept)
        else:
            queue.pop(index)
    return changed


def split(notification: Notification) -> list[Notification]:
    """One notification per event of `notification` (none of it sent yet), due when it was:
    so that an alert that cannot be rendered costs only itself."""
    return [
        new_notification(
            notification.sink, (event,), notification.next_attempt_unix, held=notification.held
        )
        for event in notification.events
    ]


def joined(gathering: Notification, events: Sequence[AlertEvent]) -> Notification:
    """A notification still gathering (`group_wait`) with `events` added to it; an alert's
    later event takes the place of its earlier one, so that the notification says how each
    alert stands when it is sent."""
    later = {e.alert.fingerprint for e in events}
    kept = tuple(e for e in gathering.events if e.alert.fingerprint not in later)
    return dataclasses.replace(gathering, events=kept + tuple(events))


def next_to_send(queue: Sequence[Notification], now: float) -> Notification | None:
    """The notification a sink's worker sends next: the oldest, so that a receiver sees
    events in the order they happened, passing over the held-back ones that are not due (the
    order of a held-back end against other alerts means nothing; within one alert nothing
    overtakes it, since a later event of that alert supersedes it)."""
    return next((n for n in queue if not (n.held and n.waiting(now))), None)
