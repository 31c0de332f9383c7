"""Every source's polls: its HTTP client, its scheduled job, one poll at a time, what it keeps
between polls (its accounts, present and missing), the log lines of each poll, and what a
reload changes about them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import structlog

from monitor.clock import Clock, Instant, Schedule
from monitor.config import AccountLabel, Config, Policy, SourceConfig
from monitor.errors import Outcome, Task
from monitor.evaluate import Evaluation, account_labels, evaluate, next_crossing
from monitor.service.presence import Presence
from monitor.service.reload import ReloadDiff
from monitor.snapshot import SourceSnapshot
from monitor.tasks import TaskErrors
from monitor.upstream import AccountMemo, PollResult, UpstreamClient, poll_source

log = structlog.get_logger("monitor.daemon")


@dataclass
class PolledSource:
    """What the poll watch keeps of one source between polls: mutable, owned by the daemon's
    event loop."""

    config: SourceConfig
    client: UpstreamClient
    # When this run started watching it: the start, the reload that added it, or the last
    # reload that changed the schedule while it was not stale.
    since: Instant
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one poll at a time
    last: PollResult | None = None
    # The accounts list in force, kept across failed polls, and across a 404 while an
    # account it lists is missing for less than the absence grace.
    last_good: PollResult | None = None
    last_success: Instant | None = None
    polls_total: dict[Outcome, int] = field(default_factory=dict)
    mismatches_logged: set[MismatchKey] = field(default_factory=set)
    memo: AccountMemo = field(default_factory=AccountMemo)
    presence: Presence = field(default_factory=Presence)
    _missing_labels: tuple[AccountLabel, frozenset[str]] | None = None

    def stale(self, now_mono: float, stale_after_seconds: float) -> bool:
        """No success (or start of watching) within `stale_after_seconds` on the monotonic
        clock: what SourceDown judges, as `SourceSnapshot.stale_reference_mono` says."""
        reference = self.since.mono
        if self.last_success is not None:
            reference = max(reference, self.last_success.mono)
        return now_mono - reference >= stale_after_seconds

    def name_kept(self, new: Config) -> bool:
        return any(s.name == self.config.name for s in new.sources)

    def record(self, result: PollResult, finished_mono: float) -> list[str]:
        """Keep what a poll read; returns the emails it forgot (missing for the grace)."""
        self.last = result
        self.polls_total[result.outcome] = self.polls_total.get(result.outcome, 0) + 1
        if result.outcome.up:
            self.last_success = Instant(result.finished_unix, finished_mono)
        if result.accounts is None:
            return []
        forgotten = self.presence.read(result.accounts.accounts)
        self._missing_labels = None
        # A 404 is a list of none, but not news: what was listed stays in force until it has
        # been missing for the grace, and with nothing listed yet in this run, the 404 stands
        # only once it has lasted as long (alerts held from before a restart are kept).
        stands = not self.presence.missing and (
            self.last_good is not None or self.presence.absences_judged
        )
        if result.outcome.has_fresh_data or stands:
            self.last_good = result
        return forgotten

    def snapshot(
        self, policy: Policy, label_mode: AccountLabel, now: float
    ) -> tuple[SourceSnapshot, float | None]:
        """The source evaluated at `now` (its last good data) under `policy` (thresholds and
        [[accounts]]), and its next threshold crossing."""
        thresholds = policy.thresholds
        evaluation = None
        crossing = None
        good = self.last_good
        if good is not None and good.accounts is not None:
            capacity = good.capacity.by_email if good.capacity is not None else None
            accounts = good.accounts.accounts
            evaluation = evaluate(accounts, capacity, thresholds, label_mode, now, policy=policy)
            crossing = next_crossing(accounts, thresholds, now, policy=policy)
        last = self.last
        success = self.last_success
        snapshot = SourceSnapshot(
            name=self.config.name,
            evaluation=evaluation,
            up=last is not None and last.outcome.up,
            last_outcome=last.outcome if last else None,
            last_success_unix=success.unix if success else None,
            poll_duration_seconds=last.duration_seconds if last else None,
            polls_total=dict(self.polls_total),
            monitored_since_unix=self.since.unix,
            last_success_mono=success.mono if success else None,
            monitored_since_mono=self.since.mono,
            missing=self.missing_labels(label_mode),
        )
        return snapshot, crossing

    def missing_labels(self, label_mode: AccountLabel) -> frozenset[str]:
        """The `account` labels of the accounts missing for less than the grace."""
        cached = self._missing_labels
        if cached is None or cached[0] is not label_mode:
            missing = list(self.presence.missing.values())
            cached = (label_mode, frozenset(account_labels(missing, label_mode)))
            self._missing_labels = cached
        return cached[1]


MismatchKey = tuple[str, tuple[float, ...]]


def log_poll(
    name: str,
    result: PollResult,
    evaluation: Evaluation | None,
    last_success_unix: float | None,
    mismatches_logged: set[MismatchKey],
) -> set[MismatchKey]:
    """Log one poll; returns the expiry mismatches now known (to pass to the next call)."""
    if result.outcome is Outcome.NO_ACCOUNTS:
        log.warning(
            "poll.no_accounts",
            source=name,
            outcome=result.outcome.value,
            kept=len(evaluation.accounts) if evaluation is not None else 0,
            duration_seconds=round(result.duration_seconds, 3),
        )
        return mismatches_logged
    if result.accounts is None or evaluation is None:
        log.warning(
            "poll.failed",
            source=name,
            outcome=result.outcome.value,
            error=result.error,
            duration_seconds=round(result.duration_seconds, 3),
            last_success_unix=last_success_unix,
        )
        return mismatches_logged
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
    return _log_mismatches(name, evaluation, mismatches_logged)


def _log_mismatches(
    name: str, evaluation: Evaluation, logged: set[MismatchKey]
) -> set[MismatchKey]:
    seen: set[MismatchKey] = set()
    for status in evaluation.accounts:
        account = status.account
        if not account.mismatch:
            continue
        key = (account.email, tuple(unix for _, unix in account.mismatch))
        seen.add(key)
        if key in logged:
            continue
        log.warning(
            "expiry_mismatch",
            source=name,
            account=status.label,
            used=account.expiry_source.value,
            values={
                origin.value: datetime.fromtimestamp(unix, UTC).isoformat()
                for origin, unix in account.mismatch
            },
        )
    # Accounts gone or fixed are forgotten, so the set stays as small as the list.
    return seen


OnPolled = Callable[[PolledSource, PollResult, list[str]], None]


class PollWatch:
    """The sources being watched. Lives on the event loop; jobs run as coroutines on it."""

    def __init__(
        self,
        config: Config,
        schedule: Schedule,
        clock: Clock,
        on_polled: OnPolled,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        errors: TaskErrors | None = None,
        upstream_clock: Clock | None = None,
    ) -> None:
        """`on_polled(source, result, forgotten)` hears of every poll that ended, with the
        emails it forgot; `upstream_clock` (by default `clock`) is the host's clock, which
        upstream's `Date` is compared with."""
        self._config = config
        self._errors = errors or TaskErrors()
        self._schedule = schedule
        self._clock = clock
        self._upstream_clock = upstream_clock or clock
        self._on_polled = on_polled
        self._transport = transport
        self._sources: dict[str, PolledSource] = {}
        self._inflight: set[asyncio.Task[object]] = set()
        self._background: set[asyncio.Task[object]] = set()

    @property
    def sources(self) -> Mapping[str, PolledSource]:
        return self._sources

    def start(self) -> None:
        """Create every source and poll each at once, then every poll.interval."""
        for source in self._config.sources:
            self._sources[source.name] = self._new_source(source)
        for name in self._sources:
            self._start_polling(name)

    async def poll(self, name: str) -> PollResult | None:
        """Poll one source now, unless a poll of it is already running. An unexpected error
        ends this poll only (reported as a `poll` task error); the schedule goes on."""
        source = self._sources[name]
        if source.lock.locked():
            log.warning("poll.skipped", source=name, reason="previous poll still running")
            return None
        async with source.lock:
            with self._errors.guard(Task.POLL, source=name):
                started = Instant.of(self._clock)
                result = await poll_source(
                    name,
                    source.client,
                    capacity_endpoint=source.config.capacity_endpoint,
                    started_unix=started.unix,
                    deadline=started.mono + self._config.poll.interval.total_seconds(),
                    memo=source.memo,
                )
                if self._sources.get(name) is not source:
                    log.info("poll.discarded", source=name, reason="source removed by a reload")
                    return result
                forgotten = source.record(result, started.mono + result.duration_seconds)
                self._on_polled(source, result, forgotten)
                return result
        return None

    def apply(self, new: Config, diff: ReloadDiff) -> None:
        """Put a reloaded config in force. Sources whose name persists keep their last good
        data and counters; their clients are rebuilt only when what they are built from
        changed; removed sources vanish; added ones are polled at once. A new schedule
        restarts the staleness count of every source not stale yet (see ReloadDiff.retimed)."""
        if diff.retimed:
            now = Instant.of(self._clock)
            stale_after = self._config.poll.stale_after.total_seconds()
            for source in self._sources.values():
                if source.name_kept(new) and not source.stale(now.mono, stale_after):
                    source.since = now
        self._config = new
        for name in diff.removed:
            source = self._sources.pop(name)
            self._schedule.cancel(_job_id(name))
            self._retire(source.client, source.lock)
        for config in new.sources:
            source = self._sources.get(config.name) or self._new_source(config)
            self._sources[config.name] = source
            if config.name in diff.new_clients:
                old_client, source.client = source.client, self._new_client(config)
                self._retire(old_client, source.lock)
            source.config = config
        self._sources = {s.name: self._sources[s.name] for s in new.sources}
        if diff.reschedule:
            poll = new.poll
            for name in self._sources:
                if name not in diff.added:
                    self._schedule.retime(_job_id(name), poll.interval, poll.jitter)
        for name in diff.added:
            self._start_polling(name)

    async def finish(self, grace_seconds: float) -> None:
        """Let the polls in flight end (a stop must not cut one off), then close every
        client. Call with the scheduler paused."""
        inflight = [task for task in self._inflight if not task.done()]
        if inflight:
            await asyncio.wait(inflight, timeout=grace_seconds)
        for source in self._sources.values():
            await source.client.aclose()
        if self._background:
            await asyncio.wait(self._background, timeout=grace_seconds)

    def _new_client(self, source: SourceConfig) -> UpstreamClient:
        poll = self._config.poll
        return UpstreamClient.of(source, poll, self._upstream_clock, self._transport)

    def _new_source(self, source: SourceConfig) -> PolledSource:
        return PolledSource(source, self._new_client(source), since=Instant.of(self._clock))

    def _start_polling(self, name: str) -> None:
        """Poll `name` now, then every poll.interval."""
        poll = self._config.poll
        self._schedule.every(_job_id(name), self._job, poll.interval, poll.jitter, name)

    async def _job(self, name: str) -> None:
        # A coroutine: the schedule runs it on the loop (APScheduler would run a plain
        # function in a thread).
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await self.poll(name)
        finally:
            self._inflight.discard(task)

    def _retire(self, client: UpstreamClient, lock: asyncio.Lock) -> None:
        """Close a replaced client once the poll that may be using it has finished."""

        async def close() -> None:
            async with lock:
                pass
            await client.aclose()

        self._spawn(close())

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _job_id(name: str) -> str:
    return f"poll:{name}"


def every_polled(sources: Iterable[PolledSource]) -> bool:
    return all(s.last is not None for s in sources)
