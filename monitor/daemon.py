"""The running monitor: polls on a schedule, keeps the snapshot current, serves the endpoints.

The only module that knows every stage; the stages themselves are pure or single-purpose.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerts import (
    AlertBook,
    AlertEvent,
    AlertPolicy,
    Status,
    conditions,
    firing_counts,
    next_wake,
    step,
)
from monitor.clock import Clock, SystemClock
from monitor.config import Config, Severity, SourceConfig
from monitor.delivery import Delivery, Sender
from monitor.errors import Outcome
from monitor.evaluate import AccountStatus, evaluate, next_crossing
from monitor.exposition import CONTENT_TYPE, Family, MetricsRenderer
from monitor.httpserver import HttpServer, Request, Response
from monitor.outbox import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS
from monitor.parse import ExpiryMemo
from monitor.poll import PollResult, poll_source
from monitor.snapshot import Snapshot, SourceSnapshot
from monitor.statefile import StateFile
from monitor.upstream import UpstreamClient

log = structlog.get_logger("monitor.daemon")

# How long a stop waits for an in-flight poll beyond its own timeout.
STOP_GRACE_SECONDS = 5.0
_EVALUATE_JOB = "evaluate"

_LANDING = b"""<!doctype html><html><head><title>pixverse-monitor</title></head><body>
<h1>pixverse-monitor</h1><ul><li><a href="/metrics">/metrics</a></li>
<li><a href="/healthz">/healthz</a></li><li><a href="/readyz">/readyz</a></li></ul></body></html>
"""


@dataclass
class _Source:
    """Mutable bookkeeping of one source, owned by the daemon's event loop."""

    config: SourceConfig
    client: UpstreamClient
    since_unix: float  # when this run started watching it
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: PollResult | None = None
    last_good: PollResult | None = None
    last_success_unix: float | None = None
    polls_total: dict[Outcome, int] = field(default_factory=dict)
    mismatches_logged: set[tuple[str, tuple[float, ...]]] = field(default_factory=set)
    memo: ExpiryMemo = field(default_factory=ExpiryMemo)


class Daemon:
    """Runs until `stop()` (or SIGTERM/SIGINT): polls every source, serves /metrics."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_backoff: tuple[float, float] = (BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS),
    ) -> None:
        """`transport` replaces the upstream HTTP transport, `retry_backoff` the (base, cap)
        of notification retries: both for tests."""
        self._config = config
        self._clock = clock or SystemClock()
        self._transport = transport
        self._sources: dict[str, _Source] = {}
        self._snapshot = Snapshot((), self._clock.time())
        self._renderer = MetricsRenderer(self._internal_families)
        self._statefile = StateFile(config.alerts.state_dir)
        self._book: AlertBook = {}
        self._sender = Sender(self._clock, external_url="")
        self._delivery = Delivery(
            config.sinks,
            self._sender,
            self._clock,
            persist=self._persist,
            firing=lambda: list(self._book.values()),
            backoff_base=retry_backoff[0],
            backoff_cap=retry_backoff[1],
        )
        self._server = HttpServer(self._handle, config.metrics.host, config.metrics.port)
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[object]] = set()
        self.started = asyncio.Event()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def metrics_port(self) -> int:
        return self._server.port

    def stop(self) -> None:
        """Ask the daemon to finish; safe to call from a signal handler."""
        self._stopping.set()

    async def run(self, *, handle_signals: bool = True) -> int:
        loop = asyncio.get_running_loop()
        self._statefile.prepare()  # ConfigError when state_dir is not writable
        book, outbox = self._statefile.load()
        self._book = book
        for source in self._config.sources:
            self._sources[source.name] = self._new_source(source)
        await self._server.start()
        self._sender.external_url = self._external_url()
        await self._delivery.start()
        self._delivery.restore(outbox)
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        self._scheduler.start()
        self._evaluate()
        poll = self._config.poll
        for name in self._sources:
            self._scheduler.add_job(
                self._poll_job,
                IntervalTrigger(
                    seconds=poll.interval.total_seconds(),
                    jitter=poll.jitter.total_seconds() or None,
                    timezone=UTC,
                ),
                args=[name],
                id=f"poll:{name}",
                next_run_time=datetime.now(UTC),
            )
        log.info(
            "daemon.started",
            listen=f"{self._config.metrics.host or '*'}:{self.metrics_port}",
            sources=list(self._sources),
            interval_seconds=poll.interval.total_seconds(),
        )
        self.started.set()
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown(handle_signals)
        return 0

    def _new_source(self, source: SourceConfig) -> _Source:
        client = UpstreamClient(
            source,
            timeout=self._config.poll.timeout,
            max_response_bytes=self._config.poll.max_response_bytes,
            clock=self._clock,
            transport=self._transport,
        )
        return _Source(source, client, since_unix=self._clock.time())

    def _external_url(self) -> str:
        """Where people can reach this monitor, for notifications' externalURL."""
        host = self._config.metrics.host
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.metrics_port}"

    async def _shutdown(self, handle_signals: bool) -> None:
        log.info("daemon.stopping")
        # APScheduler's executor cancels running jobs on shutdown, so let polls finish first.
        self._scheduler.pause()
        inflight = [task for task in self._inflight if not task.done()]
        if inflight:
            grace = self._config.poll.timeout.total_seconds() + STOP_GRACE_SECONDS
            await asyncio.wait(inflight, timeout=grace)
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown runs on the next loop iteration
        await self._delivery.stop()
        self._persist()
        await self._server.close()
        for source in self._sources.values():
            await source.client.aclose()
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("daemon.stopped")

    async def _poll_job(self, name: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await self.poll(name)
        finally:
            self._inflight.discard(task)

    async def poll(self, name: str) -> PollResult | None:
        """Poll one source now, unless a poll of it is already running."""
        source = self._sources[name]
        if source.lock.locked():
            log.warning("poll.skipped", source=name, reason="previous poll still running")
            return None
        async with source.lock:
            started = self._clock.time()
            result = await poll_source(
                name,
                source.client,
                capacity_endpoint=source.config.capacity_endpoint,
                started_unix=started,
                deadline_unix=started + self._config.poll.interval.total_seconds(),
                memo=source.memo,
            )
            self._record(source, result)
            self._evaluate()
            self._log_poll(source, result)
            return result

    def _record(self, source: _Source, result: PollResult) -> None:
        source.last = result
        source.polls_total[result.outcome] = source.polls_total.get(result.outcome, 0) + 1
        if result.outcome.has_fresh_data:
            source.last_good = result
            source.last_success_unix = result.finished_unix

    def _evaluate(self) -> None:
        """Evaluate every source at `now`, swap in the new snapshot, step the alerts, and
        schedule the next moment anything can change without a poll."""
        now = self._clock.time()
        thresholds = self._config.thresholds
        label_mode = self._config.metrics.account_label
        sources = []
        soonest: float | None = None
        for name, source in self._sources.items():
            evaluation = None
            good = source.last_good
            if good is not None and good.accounts is not None:
                capacity = good.capacity.by_email if good.capacity is not None else None
                accounts = good.accounts.accounts
                evaluation = evaluate(accounts, capacity, thresholds, label_mode, now)
                crossing = next_crossing(accounts, thresholds, now)
                if crossing is not None and (soonest is None or crossing < soonest):
                    soonest = crossing
            last = source.last
            sources.append(
                SourceSnapshot(
                    name=name,
                    evaluation=evaluation,
                    up=last is not None and last.outcome.has_fresh_data,
                    last_outcome=last.outcome if last else None,
                    last_success_unix=source.last_success_unix,
                    poll_duration_seconds=last.duration_seconds if last else None,
                    polls_total=dict(source.polls_total),
                    monitored_since_unix=source.since_unix,
                )
            )
        snapshot = Snapshot(tuple(sources), now)
        self._snapshot = snapshot
        policy = self._policy()
        held = conditions(snapshot, self._book, policy, now)
        self._book, events = step(self._book, held, now, policy.repeat_interval_seconds)
        if events:
            self._announce(events)
            self._delivery.enqueue(events)
            self._persist()
        self._schedule_evaluation(next_wake(snapshot, self._book, policy, soonest, now))

    async def _evaluate_job(self) -> None:
        # A coroutine on purpose: APScheduler's asyncio executor runs plain functions in a
        # thread pool, and the snapshot, alert book and outbox belong to the event loop.
        self._evaluate()

    def _policy(self) -> AlertPolicy:
        return AlertPolicy(
            min_usable_capacity=self._config.thresholds.min_usable_capacity,
            stale_after_seconds=self._config.poll.stale_after.total_seconds(),
            repeat_interval_seconds=self._config.alerts.repeat_interval.total_seconds(),
        )

    @staticmethod
    def _announce(events: list[AlertEvent]) -> None:
        for event in events:
            alert = event.alert
            log.info(
                "alert.firing" if event.status is Status.FIRING else "alert.resolved",
                alertname=alert.name.value,
                severity=alert.severity.value,
                source=alert.source,
                account=alert.account or None,
                reason=event.reason.value,
                id=event.id,
                summary=alert.summary,
            )

    def _persist(self) -> None:
        try:
            self._statefile.save(self._book, self._delivery.pending())
        except OSError as exc:
            # Alerts keep flowing from memory; the next save may succeed.
            log.error("state.save_failed", path=str(self._statefile.path), error=str(exc))

    def _schedule_evaluation(self, when_unix: float | None) -> None:
        """Re-evaluate when something changes by itself (a threshold crossing, a repeat due,
        a source going stale), so alerts are on time, not at the next poll."""
        if not self._scheduler.running:
            return
        if when_unix is None:
            if self._scheduler.get_job(_EVALUATE_JOB):
                self._scheduler.remove_job(_EVALUATE_JOB)
            return
        self._scheduler.add_job(
            self._evaluate_job,
            DateTrigger(datetime.fromtimestamp(when_unix, UTC)),
            id=_EVALUATE_JOB,
            replace_existing=True,
        )

    def _internal_families(self) -> list[Family]:
        counts = firing_counts(self._book)
        firing = Family(
            "pixverse_monitor_alerts_firing",
            "gauge",
            "Alerts firing, by severity.",
            [(((("severity", s.value),)), counts[s]) for s in Severity],
        )
        return [firing, *self._delivery.families()]

    def _log_poll(self, source: _Source, result: PollResult) -> None:
        name = source.config.name
        if result.accounts is None:
            log.warning(
                "poll.failed",
                source=name,
                outcome=result.outcome.value,
                error=result.error,
                duration_seconds=round(result.duration_seconds, 3),
                last_success_unix=source.last_success_unix,
            )
            return
        snapshot = next(s for s in self._snapshot.sources if s.name == name)
        evaluation = snapshot.evaluation
        assert evaluation is not None
        states = {s.value: n for s, n in evaluation.totals.accounts_by_state.items()}
        log.info(
            "poll.completed",
            source=name,
            outcome=result.outcome.value,
            accounts=len(evaluation.accounts),
            states=states,
            usable_capacity=evaluation.totals.usable_capacity,
            duration_seconds=round(result.duration_seconds, 3),
            capacity_error=result.error,
        )
        invalid = dict(result.accounts.invalid)
        if result.capacity is not None and result.capacity.invalid:
            invalid["capacity_row"] = result.capacity.invalid
        if invalid:
            log.warning("poll.invalid_values", source=name, counts=invalid)
        self._log_mismatches(source, evaluation.accounts)

    def _log_mismatches(self, source: _Source, statuses: tuple[AccountStatus, ...]) -> None:
        seen: set[tuple[str, tuple[float, ...]]] = set()
        for status in statuses:
            account = status.account
            if not account.mismatch:
                continue
            key = (account.email, tuple(unix for _, unix in account.mismatch))
            seen.add(key)
            if key in source.mismatches_logged:
                continue
            log.warning(
                "expiry_mismatch",
                source=source.config.name,
                account=status.label,
                used=account.expiry_source.value,
                values={
                    origin.value: datetime.fromtimestamp(unix, UTC).isoformat()
                    for origin, unix in account.mismatch
                },
            )
        # Forget accounts that are gone or fixed, so the set stays as small as the list.
        source.mismatches_logged = seen

    async def _handle(self, request: Request) -> Response:
        if request.path == "/metrics":
            body = self._renderer.render(self._snapshot, self._clock.time())
            return Response(200, body, CONTENT_TYPE)
        if request.path == "/healthz":
            return Response(200, b"ok\n")
        if request.path == "/readyz":
            return self._readyz()
        if request.path == "/":
            return Response(200, _LANDING, "text/html; charset=utf-8")
        return Response(404, b"not found\n")

    def _readyz(self) -> Response:
        now = self._clock.time()
        stale_after = self._config.poll.stale_after.total_seconds()
        stale = [s.name for s in self._snapshot.sources if not s.fresh(now, stale_after)]
        if stale:
            return Response(
                503, f"not ready: no recent successful poll of {', '.join(stale)}\n".encode()
            )
        return Response(200, b"ready\n")
