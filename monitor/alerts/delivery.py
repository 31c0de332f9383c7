"""Getting notifications to sinks: one worker per sink draining its part of the outbox in
order, retrying with backoff, so a slow or dead sink delays nothing else. Every worker is
supervised: an unexpected error costs one attempt, never the worker."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import structlog

from monitor.alerts.engine import AlertEvent, FiringAlert
from monitor.alerts.outbox import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    Notification,
    add,
    next_to_send,
    routes_alert,
    split,
    supersede,
)
from monitor.alerts.recent import RecentDeliveries, Subject
from monitor.alerts.sinks import Sender, SendResult
from monitor.clock import Clock
from monitor.config import SinkConfig
from monitor.errors import DeliveryFailure, DeliveryOutcome, Task
from monitor.exposition import InternalMetrics
from monitor.retry import retry_delay
from monitor.tasks import TaskErrors, supervise, wait_event

log = structlog.get_logger("monitor.delivery")

# A notification whose sending raises this many times in a row (it cannot even be rendered,
# say) is given up, counted as failed, so that it does not hold up its sink for ever.
MAX_INTERNAL_ERRORS = 3


class Delivery:
    """The outbox in memory and a worker per sink. `persist` is called after every change
    of the outbox, so the state file always holds what is still owed; every outcome is
    counted in `metrics`, kept in `recent` (for the status page) and logged, with the same
    reason code, in one place (`_outcome`)."""

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
        """What each sink is due of one evaluation's events, as its channel groups them, due
        from `now` (the moment they were judged at; the clock's when not given)."""
        now = self._clock.time() if now is None else now
        for sink in self._sinks.values():
            queue = self._queues[sink.name]
            take_back = functools.partial(self._sender.supersede, sink, new=events)
            for ident, left in supersede(queue, now, take_back):
                log.info("notification.superseded", sink=sink.name, id=ident, left=left)
            for evicted in add(queue, sink, self._sender.batches(sink, events, now), now):
                error = "outbox full: oldest pending notification evicted"
                failed, full = DeliveryOutcome.FAILED, DeliveryFailure.OUTBOX_FULL
                self._outcome(sink.name, failed, full, error, evicted)
            self._wake[sink.name].set()

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
                if self._sender.resend_seconds(sink) is not None:
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

    def _record(
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
            now = self._clock.time()
            head = next_to_send(queue, now)
            if head is None:
                # Nothing, or only entries held back: wait for the first to fall due.
                due = min((n.next_attempt_unix for n in queue), default=None)
                wake.clear()
                await wait_event(wake, None if due is None else due - now)
                continue
            delay = head.next_attempt_unix - now
            if delay > 0:
                wake.clear()
                await wait_event(wake, delay)
                continue
            await self._attempt(self._sinks[name], queue, head)

    async def _attempt(
        self, sink: SinkConfig, queue: list[Notification], head: Notification
    ) -> None:
        """Send what is left of `head`, request by request, recording each that is accepted,
        so that a restart goes on with the next; the first that fails ends the attempt."""
        try:
            requests = self._sender.requests(sink, head)
        except Exception as exc:
            self._raised(sink, queue, head, exc)
            return
        status = None
        for part in range(head.parts_sent, len(requests)):
            try:
                result = await self._sender.send(sink, requests[part])
            except Exception as exc:
                self._raised(sink, queue, head, exc)
                return
            index = _position(queue, head)
            if index is None:
                return  # the sink was reloaded, or the notification superseded, meanwhile
            self._internal_errors.pop((sink.name, head.id), None)
            fields: dict[str, object] = {"http_status": result.status}
            if len(requests) > 1:
                fields.update(part=part + 1, parts=len(requests))
            if not result.ok:
                self._failed(sink, queue, index, result, fields)
                self._persist()
                return
            status = result.status
            if part + 1 < len(requests):
                head = queue[index] = replace(queue[index], parts_sent=part + 1)
                log.info("notification.part_delivered", sink=sink.name, id=head.id, **fields)
                self._persist()
        index = _position(queue, head)
        if index is not None:
            queue.pop(index)
            fields = {"http_status": status, "parts": len(requests)}
            self._outcome(sink.name, DeliveryOutcome.DELIVERED, None, None, head, **fields)
            self._persist()

    def _raised(
        self, sink: SinkConfig, queue: list[Notification], head: Notification, exc: Exception
    ) -> None:
        self._errors.report(Task.DELIVERY, exc, sink=sink.name, id=head.id)
        index = _position(queue, head)
        if index is not None:
            self._internal_error(sink, queue, index, exc)
            self._persist()

    def _failed(
        self,
        sink: SinkConfig,
        queue: list[Notification],
        index: int,
        result: SendResult,
        fields: dict[str, object],
    ) -> None:
        """The receiver refused, or could not be reached: retry later, or drop."""
        if result.retryable:
            self._retry_later(
                sink,
                queue,
                index,
                result.reason,
                result.error,
                retry_after_seconds=result.retry_after_seconds,
                **fields,
            )
        else:
            head = queue.pop(index)
            outcome = DeliveryOutcome.DROPPED
            self._outcome(sink.name, outcome, result.reason, result.error, head, **fields)

    def _internal_error(
        self, sink: SinkConfig, queue: list[Notification], index: int, exc: Exception
    ) -> None:
        """Sending `queue[index]` raised: try again after a backoff, up to MAX_INTERNAL_ERRORS
        times. Then a notification of several alerts, none of them sent yet, is split into
        one per alert, so that an alert that cannot be rendered costs only itself."""
        head = queue[index]
        key = (sink.name, head.id)
        errors = self._internal_errors.get(key, 0) + 1
        error = f"cannot be sent: {type(exc).__name__}: {exc}"
        reason = DeliveryFailure.INTERNAL_ERROR
        if errors >= MAX_INTERNAL_ERRORS:
            self._internal_errors.pop(key, None)
            queue.pop(index)
            if len(head.events) > 1 and head.parts_sent == 0:
                alone = split(head)
                queue[index:index] = alone
                log.warning(
                    "notification.split", sink=sink.name, id=head.id, into=len(alone), error=error
                )
                self._record(
                    sink.name, DeliveryOutcome.RETRIED, reason, Subject.of(head.events), error
                )
                return
            self._outcome(sink.name, DeliveryOutcome.FAILED, reason, error, head)
            return
        self._internal_errors[key] = errors
        self._retry_later(sink, queue, index, reason, error)

    def _retry_later(
        self,
        sink: SinkConfig,
        queue: list[Notification],
        index: int,
        reason: DeliveryFailure | None,
        error: str | None,
        *,
        retry_after_seconds: float | None = None,
        **fields: object,
    ) -> None:
        """Keep `queue[index]` in the outbox, due again after the backoff (or the receiver's
        rate-limit answer, when longer: `retry.retry_delay`)."""
        head = queue[index]
        attempts = head.attempts + 1
        base, cap = self._backoff
        delay = retry_delay(attempts, retry_after_seconds, base=base, cap=cap)
        queue[index] = replace(
            head, attempts=attempts, next_attempt_unix=self._clock.time() + delay
        )
        self._outcome(
            sink.name,
            DeliveryOutcome.RETRIED,
            reason,
            error,
            head,
            retry_in_seconds=round(delay, 3),
            **fields,
        )

    def _outcome(
        self,
        sink: str,
        outcome: DeliveryOutcome,
        reason: DeliveryFailure | None,
        error: str | None,
        about: Notification | Sequence[FiringAlert],
        **fields: object,
    ) -> None:
        """Where every delivery outcome is known, of a notification or of a re-send (`about`
        is then the firing alerts it posted): counted, kept for the status page and logged,
        here, once."""
        if isinstance(about, Notification):
            self._record(sink, outcome, reason, Subject.of(about.events), error)
            line: dict[str, object] = {
                "sink": sink,
                "id": about.id,
                "alerts": len(about.events),
                "attempt": about.attempts + 1,
                **fields,
            }
        else:
            self._record(sink, outcome, reason, Subject.resend(about), error)
            line = {"sink": sink, "kind": "resend", **fields}
        resend = not isinstance(about, Notification)
        if outcome is DeliveryOutcome.DELIVERED:
            # A re-send every minute is routine: not worth a line each at info.
            (log.debug if resend else log.info)("notification.delivered", **line)
            return
        failed = {"reason": _reason(reason), "error": error}
        if outcome is DeliveryOutcome.RETRIED or resend:
            log.warning("notification.failed", **line, **failed, will_retry=True)
        else:
            log.error("notification.failed", **line, **failed, will_retry=False)

    async def _resend(self, name: str) -> None:
        """A type that re-sends (Alertmanager forgets an alert that is not re-sent) posts
        everything firing that routes to the sink, every `resend_seconds`."""
        while True:
            sink = self._sinks.get(name)
            period = None if sink is None else self._sender.resend_seconds(sink)
            if sink is None or period is None:
                return
            firing = [f for f in self._firing() if routes_alert(f.alert, sink)]
            request = self._sender.resend(sink, firing)
            if request is not None:
                # The next re-send stands in for one that fails: counted as failed.
                result = await self._sender.send(sink, request)
                outcome = DeliveryOutcome.DELIVERED if result.ok else DeliveryOutcome.FAILED
                fields = {"alerts": len(firing), "http_status": result.status}
                self._outcome(name, outcome, result.reason, result.error, firing, **fields)
            await asyncio.sleep(period)


def _reason(reason: DeliveryFailure | None) -> str | None:
    return reason.value if reason is not None else None


def _position(queue: list[Notification], item: Notification) -> int | None:
    """Where `item` is now: the queue may have changed while it was being sent (superseded,
    or due at another time since the daemon's time jumped)."""
    return next((i for i, n in enumerate(queue) if n.id == item.id), None)
