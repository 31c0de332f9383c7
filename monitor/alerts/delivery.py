"""Getting notifications to sinks: one worker per sink draining its part of the outbox in
order, retrying with backoff, so a slow or dead sink delays nothing else. Every worker is
supervised: an unexpected error costs one attempt, never the worker."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

import structlog

from monitor.alerts.engine import AlertEvent, FiringAlert
from monitor.alerts.outbox import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    MAX_PENDING_PER_SINK,
    Notification,
    alertmanager_identity,
    held_back,
    notifications_for,
    retry_delay,
)
from monitor.alerts.recent import RecentDeliveries, Subject
from monitor.alerts.sinks import ALERTMANAGER_RESEND_SECONDS, Sender
from monitor.clock import Clock
from monitor.config import SinkConfig, SinkType
from monitor.errors import DeliveryFailure, DeliveryOutcome, Task
from monitor.exposition import InternalMetrics
from monitor.tasks import TaskErrors, supervise, wait_event

log = structlog.get_logger("monitor.delivery")

# A notification whose sending raises this many times in a row (it cannot even be rendered,
# say) is given up, counted as failed, so that it does not hold up its sink for ever.
MAX_INTERNAL_ERRORS = 3


class Delivery:
    """The outbox in memory and a worker per sink. `persist` is called after every change
    of the outbox, so the state file always holds what is still owed; every outcome is
    counted in `metrics`, kept in `recent` (for the status page) and logged, with the same
    reason code."""

    def __init__(
        self,
        sinks: Sequence[SinkConfig],
        sender: Sender,
        clock: Clock,
        *,
        metrics: InternalMetrics,
        persist: Callable[[], None],
        firing: Callable[[], Sequence[FiringAlert]],
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        errors: TaskErrors | None = None,
        recent: RecentDeliveries | None = None,
    ) -> None:
        self._sender = sender
        self.recent = recent or RecentDeliveries(clock)
        self._errors = errors or TaskErrors()
        self._internal_errors: dict[tuple[str, str], int] = {}  # (sink, id) -> in a row
        self._clock = clock
        self._metrics = metrics
        self._persist = persist
        self._firing = firing
        self._backoff = (backoff_base, backoff_cap)
        self._sinks: dict[str, SinkConfig] = {}
        self._queues: dict[str, list[Notification]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._running = False
        self._initial = list(sinks)

    # -- the outbox ------------------------------------------------------------------------

    def restore(self, pending: Sequence[Notification]) -> None:
        """Notifications saved by an earlier run: due at once, as this is a fresh start."""
        now = self._clock.time()
        for notification in pending:
            queue = self._queues.get(notification.sink)
            if queue is None:
                log.warning("notification.orphaned", sink=notification.sink, id=notification.id)
                continue
            queue.append(replace(notification, next_attempt_unix=now))
        self._wake_all()

    def enqueue(self, events: Sequence[AlertEvent], now: float | None = None) -> None:
        """Queue what `events` owe each sink, due `now` (the moment they were judged at; the
        clock's when not given)."""
        now = self._clock.time() if now is None else now
        for notification in notifications_for(events, self._sinks.values(), now):
            queue = self._queues[notification.sink]
            if self._sinks[notification.sink].type is SinkType.ALERTMANAGER:
                self._supersede(queue, notification, now)
            queue.append(notification)
            if len(queue) > MAX_PENDING_PER_SINK:
                evicted = queue.pop(1 if len(queue) > 1 else 0)  # the head may be in flight
                error = "outbox full: oldest pending notification evicted"
                failed, full = DeliveryOutcome.FAILED, DeliveryFailure.OUTBOX_FULL
                self._outcome(notification.sink, failed, full, Subject.of([evicted.event]), error)
                log.error(
                    "notification.failed",
                    sink=notification.sink,
                    id=evicted.id,
                    reason=DeliveryFailure.OUTBOX_FULL.value,
                    error=error,
                    will_retry=False,
                )
            self._wake[notification.sink].set()

    def _supersede(self, queue: list[Notification], new: Notification, now: float) -> None:
        """An alert that ends and starts again within an alertmanager sink's resolve_grace:
        the held-back end is dropped, so Alertmanager, which still holds the alert firing,
        sees it go on rather than end and start again."""
        identity = alertmanager_identity(new)
        for old in [n for n in queue if held_back(n, now)]:
            if alertmanager_identity(old) == identity:
                queue.remove(old)
                log.info("notification.superseded", sink=old.sink, id=old.id, by=new.id)

    def shift(self, seconds: float) -> None:
        """Every pending notification due `seconds` later (the daemon's time jumped)."""
        for queue in self._queues.values():
            queue[:] = [replace(n, next_attempt_unix=n.next_attempt_unix + seconds) for n in queue]
        self._wake_all()

    def pending(self) -> list[Notification]:
        return [n for queue in self._queues.values() for n in queue]

    def _pending_count(self, sink: str) -> int:
        return len(self._queues.get(sink, ()))

    # -- workers ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self.set_sinks(self._initial)

    def set_sinks(self, sinks: Sequence[SinkConfig]) -> None:
        """Apply a (re)loaded sink list: queues of kept sinks survive, removed ones go."""
        wanted = {s.name: s for s in sinks}
        for name in list(self._sinks):
            if name not in wanted:
                dropped = self._queues.pop(name, [])
                for task in self._tasks.pop(name, []):
                    task.cancel()
                self._sinks.pop(name)
                self._wake.pop(name)
                self._metrics.remove_sink(name)
                self.recent.forget(name)
                if dropped:
                    log.warning("sink.removed", sink=name, discarded=len(dropped))
        for name, sink in wanted.items():
            if name not in self._sinks:
                self._metrics.add_sink(name, functools.partial(self._pending_count, name))
            self._sinks[name] = sink
            self._queues.setdefault(name, [])
            self._wake.setdefault(name, asyncio.Event())
            if self._running and name not in self._tasks:
                tasks = [self._supervised(Task.DELIVERY, name, self._drain)]
                if sink.type is SinkType.ALERTMANAGER:
                    tasks.append(self._supervised(Task.RESEND, name, self._resend))
                self._tasks[name] = tasks
        self._wake_all()

    def _supervised(
        self, task: Task, name: str, work: Callable[[str], Awaitable[None]]
    ) -> asyncio.Task[None]:
        return asyncio.create_task(
            supervise(task, lambda: work(name), self._errors, sink=name),
            name=f"{task.value}:{name}",
        )

    async def stop(self) -> None:
        """Stop the workers; what is still pending stays in the outbox for the next run."""
        self._running = False
        tasks = [t for group in self._tasks.values() for t in group]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._sender.aclose()

    def _outcome(
        self,
        sink: str,
        outcome: DeliveryOutcome,
        reason: DeliveryFailure | None,
        subject: Subject,
        error: str | None = None,
    ) -> None:
        """Every outcome is counted in the metrics and kept for the status page alike."""
        self._metrics.count(sink, outcome, reason)
        self.recent.record(sink, outcome, reason, subject, error)

    def _wake_all(self) -> None:
        for event in self._wake.values():
            event.set()

    async def _drain(self, name: str) -> None:
        while True:
            queue = self._queues.get(name)
            wake = self._wake.get(name)
            if queue is None or wake is None:
                return  # the sink was removed
            sink = self._sinks[name]
            now = self._clock.time()
            head = _next(sink, queue, now)
            if head is None:
                # Nothing, or only ends held back: wait for the first to fall due.
                due = min((n.next_attempt_unix for n in queue), default=None)
                wake.clear()
                await wait_event(wake, None if due is None else due - now)
                continue
            delay = head.next_attempt_unix - now
            if delay > 0:
                wake.clear()
                await wait_event(wake, delay)
                continue
            await self._attempt(sink, queue, head)

    async def _attempt(
        self, sink: SinkConfig, queue: list[Notification], head: Notification
    ) -> None:
        try:
            result = await self._sender.send(sink, head.event)
        except Exception as exc:
            self._errors.report(Task.DELIVERY, exc, sink=sink.name, id=head.id)
            index = _position(queue, head)
            if index is not None:
                self._internal_error(sink, queue, index, exc)
                self._persist()
            return
        self._internal_errors.pop((sink.name, head.id), None)
        index = _position(queue, head)
        if index is None:
            return  # the sink was reloaded, or the notification superseded, meanwhile
        fields = {
            "sink": sink.name,
            "id": head.id,
            "alertname": head.event.alert.name.value,
            "status": head.event.status.value,
            "attempt": head.attempts + 1,
            "http_status": result.status,
        }
        if result.ok:
            queue.pop(index)
            self._outcome(sink.name, DeliveryOutcome.DELIVERED, None, Subject.of([head.event]))
            log.info("notification.delivered", **fields)
        elif result.retryable:
            self._retry_later(
                sink,
                queue,
                index,
                fields,
                reason=result.reason,
                error=result.error,
                retry_after_seconds=result.retry_after_seconds,
            )
        else:
            self._give_up(
                sink,
                queue,
                index,
                fields,
                outcome=DeliveryOutcome.DROPPED,
                reason=result.reason,
                error=result.error,
            )
        self._persist()

    def _internal_error(
        self, sink: SinkConfig, queue: list[Notification], index: int, exc: Exception
    ) -> None:
        """Sending `queue[index]` raised: try again after a backoff, up to MAX_INTERNAL_ERRORS
        times."""
        head = queue[index]
        key = (sink.name, head.id)
        errors = self._internal_errors.get(key, 0) + 1
        fields: dict[str, object] = {"sink": sink.name, "id": head.id, "attempt": head.attempts + 1}
        error = f"cannot be sent: {type(exc).__name__}: {exc}"
        reason = DeliveryFailure.INTERNAL_ERROR
        if errors >= MAX_INTERNAL_ERRORS:
            self._internal_errors.pop(key, None)
            failed = DeliveryOutcome.FAILED
            self._give_up(sink, queue, index, fields, outcome=failed, reason=reason, error=error)
            return
        self._internal_errors[key] = errors
        self._retry_later(sink, queue, index, fields, reason=reason, error=error)

    def _retry_later(
        self,
        sink: SinkConfig,
        queue: list[Notification],
        index: int,
        fields: Mapping[str, object],
        *,
        reason: DeliveryFailure | None,
        error: str | None,
        retry_after_seconds: float | None = None,
    ) -> None:
        """Keep `queue[index]` in the outbox, due again after the backoff (or the receiver's
        Retry-After, when longer)."""
        head = queue[index]
        attempts = head.attempts + 1
        delay = retry_delay(
            attempts, retry_after_seconds, base=self._backoff[0], cap=self._backoff[1]
        )
        queue[index] = replace(
            head, attempts=attempts, next_attempt_unix=self._clock.time() + delay
        )
        self._outcome(sink.name, DeliveryOutcome.RETRIED, reason, Subject.of([head.event]), error)
        log.warning(
            "notification.failed",
            **fields,
            reason=_reason(reason),
            error=error,
            will_retry=True,
            retry_in_seconds=round(delay, 3),
        )

    def _give_up(
        self,
        sink: SinkConfig,
        queue: list[Notification],
        index: int,
        fields: Mapping[str, object],
        *,
        outcome: DeliveryOutcome,
        reason: DeliveryFailure | None,
        error: str | None,
    ) -> None:
        """Take `queue[index]` out of the outbox unsent: dropped (the receiver said no) or
        failed (it could not be sent at all)."""
        head = queue.pop(index)
        self._outcome(sink.name, outcome, reason, Subject.of([head.event]), error)
        log.error(
            "notification.failed", **fields, reason=_reason(reason), error=error, will_retry=False
        )

    async def _resend(self, name: str) -> None:
        """Alertmanager forgets an alert that is not re-sent: post all firing every minute."""
        while True:
            sink = self._sinks.get(name)
            if sink is None:
                return
            firing = [f for f in self._firing() if f.alert.severity.rank >= sink.min_severity.rank]
            if firing:
                result = await self._sender.post_firing(sink, firing)
                if result.ok:
                    self._outcome(name, DeliveryOutcome.DELIVERED, None, Subject.resend(firing))
                    log.debug(
                        "notification.delivered",
                        sink=name,
                        kind="resend",
                        alerts=len(firing),
                        http_status=result.status,
                    )
                else:
                    failed, subject = DeliveryOutcome.FAILED, Subject.resend(firing)
                    self._outcome(name, failed, result.reason, subject, result.error)
                    log.warning(
                        "notification.failed",
                        sink=name,
                        kind="resend",
                        alerts=len(firing),
                        reason=_reason(result.reason),
                        error=result.error,
                        will_retry=True,
                    )
            await asyncio.sleep(ALERTMANAGER_RESEND_SECONDS)


def _next(sink: SinkConfig, queue: list[Notification], now: float) -> Notification | None:
    """The notification a sink's worker sends next: the oldest, so that a receiver sees
    events in the order they happened. For an alertmanager sink, the oldest not held back:
    the order across alerts means nothing to Alertmanager, and within one alert nothing
    overtakes a held-back end, since a later event of that alert supersedes it."""
    if sink.type is not SinkType.ALERTMANAGER:
        return queue[0] if queue else None
    return next((n for n in queue if not held_back(n, now)), None)


def _reason(reason: DeliveryFailure | None) -> str | None:
    return reason.value if reason is not None else None


def _position(queue: list[Notification], item: Notification) -> int | None:
    """Where `item` is now: the queue may have changed while it was being sent (superseded,
    or due at another time since the daemon's time jumped)."""
    return next((i for i, n in enumerate(queue) if n.id == item.id), None)
