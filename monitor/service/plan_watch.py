"""The subscription and plan side of every source: /v2/account every account_interval and
/features for each account every features_interval, spread out, at most 2 requests in flight
per source, each source's reads a timer of the daemon's schedule (due on the monotonic clock);
their last good data, token refreshes seen by the polls, and every request counted by endpoint
and outcome. Each failure degrades only its own series."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from functools import partial

import httpx
import structlog

from monitor.clock import Clock, Schedule
from monitor.config import Config, Policy, SourceConfig
from monitor.errors import Outcome, Task
from monitor.evaluate import account_labels
from monitor.service.plan_schedule import PlanNews, PlanSchedule
from monitor.service.reload import ReloadDiff
from monitor.snapshot import PlanSnapshot
from monitor.tasks import TaskErrors, restart_pause
from monitor.upstream import Endpoint, PollResult, Sleep, UpstreamClient

log = structlog.get_logger("monitor.plans")


class PlanWatch:
    """The subscription and plan schedules of every source. Lives on the event loop; each
    source's reads are made in turns, each turn a timer of `schedule` that arms the next
    (an unexpected error ends the turn, and the next comes after a pause)."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        on_update: Callable[[], None],
        schedule: Schedule,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        errors: TaskErrors | None = None,
        upstream_clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """`on_update` hears of new data (at most once per loop pass); `upstream_clock` (by
        default `clock`) is the host's clock, which upstream's answers are timed by; `sleep`
        waits out a `Retry-After` (tests replace it)."""
        self._config = config
        self._sleep = sleep
        self._errors = errors or TaskErrors()
        self._policy = Policy(config.accounts, config.thresholds)
        self._clock = clock
        self._schedule = schedule
        self._upstream_clock = upstream_clock or clock
        self._on_update = on_update
        self._transport = transport
        self._sources: dict[str, PlanSchedule] = {}
        self._retired: set[asyncio.Task[object]] = set()
        self._update_pending = False
        self._unmatched_logged = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, policy: Policy | None = None) -> None:
        """Create every source (without starting its schedule: see `run`). `policy` is the
        daemon's, shared so that each email is matched against the rules once."""
        if policy is not None:
            self._policy = policy
        for source in self._config.sources:
            self._sources[source.name] = PlanSchedule(source, self._new_client(source))

    def run(self) -> None:
        """Start every source's schedule: a turn at once."""
        for name in self._sources:
            self._wake(name)

    async def stop(self) -> None:
        """Cancel every schedule (requests in flight with it) and close the clients."""
        for name, source in self._sources.items():
            self._schedule.cancel(f"plans:{name}")
            turn, source.turn = source.turn, None
            await _cancel(turn)
            await source.client.aclose()
        if self._retired:
            await asyncio.wait(self._retired, timeout=5)

    def apply(self, new: Config, diff: ReloadDiff, policy: Policy | None = None) -> None:
        """Put a reloaded config in force, with the daemon's `policy` made from it; kept
        sources keep their data and counters."""
        self._config = new
        self._policy = policy or Policy(new.accounts, new.thresholds)
        self._unmatched_logged = False
        for name in diff.removed:
            self._retire(self._sources.pop(name))
        for config in new.sources:
            source = self._sources.get(config.name)
            if source is None:
                self._sources[config.name] = PlanSchedule(config, self._new_client(config))
                self._wake(config.name)
                continue
            if config.name in diff.new_clients:
                self._retire(source)
                source.client = self._new_client(config)
            source.config = config
            if not config.account_endpoint:
                source.subscription = None
            if not config.features_endpoint:
                for table in (source.plans, source.unknown, source.due, source.next_round):
                    table.clear()
            source.refilter(self._policy)
            source.schedule_new(self._config.poll, self._clock.monotonic())
            # A shorter interval applies now, not after the longer one has run out.
            now = self._clock.monotonic()
            source.subscription_due = min(
                source.subscription_due, now + new.poll.account_interval.total_seconds()
            )
            limit = now + new.poll.features_interval.total_seconds()
            for table in (source.due, source.next_round):
                table.update([(email, min(when, limit)) for email, when in table.items()])
            source.changed()
            self._wake(config.name)

    # -- what the polls tell -----------------------------------------------------------------

    def polled(self, name: str, result: PollResult, missing: Collection[str] = ()) -> None:
        """Count a poll's requests; with an accounts list, note token refreshes and which
        accounts /features is asked about. `missing` are accounts not on the list, missing for
        less than the absence grace: they keep their plan, schedule and refresh count, but
        are not asked about until they are back."""
        source = self._sources.get(name)
        if source is None:
            return
        accounts_outcome = result.outcome
        if accounts_outcome is Outcome.CAPACITY_UNAVAILABLE:
            accounts_outcome = Outcome.SUCCESS  # the accounts list was read
        source.count(Endpoint.ACCOUNTS, accounts_outcome)
        if result.capacity_outcome is not None:
            source.count(Endpoint.CAPACITY, result.capacity_outcome)
        if result.accounts is None:
            return
        accounts = result.accounts.accounts
        source.emails = [a.email for a in accounts]
        source.emails.extend(missing)
        source.absent = set(missing)
        source.listed = True
        kept = source.refilter(self._policy)
        kept_accounts = [a for a in accounts if a.email in kept]
        source.note_refreshes(kept_accounts)
        source.schedule_new(self._config.poll, self._clock.monotonic())
        labels = account_labels(kept_accounts, self._config.metrics.account_label)
        known = {e: source.labels[e] for e in source.absent if e in source.labels}
        known.update(zip((a.email for a in kept_accounts), labels, strict=True))
        source.labels = known
        self._log_unmatched()
        self._wake(name)

    def snapshot(self, name: str) -> PlanSnapshot:
        """What the snapshot of this source shows of its subscription and plans."""
        source = self._sources.get(name)
        if source is None:
            return PlanSnapshot()
        return source.snapshot()

    # -- the schedule ------------------------------------------------------------------------

    def next_due(self, name: str) -> float | None:
        """When (on the monotonic clock) the source next has a request due; None when nothing
        is scheduled."""
        return self._sources[name].next_due()

    async def run_due(self, name: str) -> int:
        """Make every request of this source that is due now, at most MAX_IN_FLIGHT at once;
        return how many were made."""
        source = self._sources[name]
        poll = self._config.poll
        subscription, emails = source.take_due(self._clock.monotonic())
        jobs = []
        if subscription:
            jobs.append(self._subscription(source, poll.account_interval.total_seconds()))
        every = poll.features_interval.total_seconds()
        jobs.extend(self._plan(source, email, every) for email in emails)
        if jobs:
            await asyncio.gather(*jobs)
        return len(jobs)

    async def _subscription(self, source: PlanSchedule, every: float) -> None:
        result = await source.read_subscription(self._clock, self._sleep, every)
        name = source.config.name
        subscription = result.subscription
        if subscription is None:
            log.warning(
                "subscription.failed", source=name, outcome=result.outcome.value, error=result.error
            )
        else:
            if subscription.invalid:
                log.warning(
                    "subscription.invalid_values", source=name, counts=dict(subscription.invalid)
                )
            if subscription.services_dropped:
                log.warning(
                    "subscription.services_dropped",
                    source=name,
                    kept=len(subscription.services),
                    dropped=subscription.services_dropped,
                )
        self._changed(source)

    async def _plan(self, source: PlanSchedule, email: str, every: float) -> None:
        read = await source.read_plan(email, self._clock, self._sleep, every)
        if read is None or read[1] is None:
            return  # forgotten (or ignored) before or while it was asked about
        result, news = read
        name = source.config.name
        label = source.labels.get(email, "?")
        if news is PlanNews.READ:
            assert result.plan is not None
            if result.plan.invalid:
                log.warning(
                    "plan.invalid_values",
                    source=name,
                    account=label,
                    fields=list(result.plan.invalid),
                )
        elif news is PlanNews.UNKNOWN_ONCE:
            log.info("plan.unknown_once", source=name, account=label)
        elif news is PlanNews.NEWLY_UNKNOWN:
            log.warning("plan.unknown_account", source=name, account=label)
        elif news is PlanNews.FAILED:
            log.warning(
                "plan.failed",
                source=name,
                account=label,
                outcome=result.outcome.value,
                # The error text is upstream's and may quote the email.
                error=(result.error or "").replace(email, label),
            )
        self._changed(source)

    async def _turn_job(self, name: str) -> None:
        # The turn runs in a task of its own, which a stop or a reload may cancel.
        source = self._sources.get(name)
        if source is None or source.turn is not None:
            return
        turn = source.turn = asyncio.get_running_loop().create_task(self._turn(source))
        await asyncio.wait({turn})

    async def _turn(self, source: PlanSchedule) -> None:
        """Make what is due, again while more falls due or the polls bring news meanwhile;
        then arm the next turn for the next request due (after a pause, if it failed)."""
        name, me = source.config.name, asyncio.current_task()
        try:
            with self._errors.guard(Task.PLANS, source=name) as turn:
                while True:
                    source.woken = False
                    await self.run_due(name)
                    due = self.next_due(name)
                    if not source.woken and (due is None or due > self._clock.monotonic()):
                        break
        finally:
            if source.turn is me:
                source.turn = None
        if self._sources.get(name) is not source or source.turn is not None:
            return  # removed, or retired and started again, meanwhile
        source.failures = source.failures + 1 if turn.failed else 0
        due = self.next_due(name)
        if turn.failed:
            self._arm(name, restart_pause(source.failures))
        elif due is None:
            self._schedule.cancel(f"plans:{name}")
        else:
            self._arm(name, due - self._clock.monotonic())

    # -- helpers -----------------------------------------------------------------------------

    def _wake(self, name: str) -> None:
        """A turn of `name` now, or, during one, another round of it."""
        source = self._sources[name]
        if source.turn is not None:
            source.woken = True
        else:
            self._arm(name, 0.0)

    def _arm(self, name: str, delay_seconds: float) -> None:
        self._schedule.after(f"plans:{name}", partial(self._turn_job, name), delay_seconds)

    def _retire(self, source: PlanSchedule) -> None:
        """Stop a source's schedule now and close its client in the background."""
        self._schedule.cancel(f"plans:{source.config.name}")
        task, client, source.turn = source.turn, source.client, None
        if task is not None:
            task.cancel()  # no new request from it from here on

        async def close() -> None:
            await _cancel(task)
            await client.aclose()

        retired: asyncio.Task[object] = asyncio.get_running_loop().create_task(close())
        self._retired.add(retired)
        retired.add_done_callback(self._retired.discard)

    def _new_client(self, source: SourceConfig) -> UpstreamClient:
        poll = self._config.poll
        return UpstreamClient.of(source, poll, self._upstream_clock, self._transport)

    def _changed(self, source: PlanSchedule) -> None:
        source.changed()
        if self._update_pending:
            return
        self._update_pending = True

        def fire() -> None:
            self._update_pending = False
            self._on_update()

        asyncio.get_running_loop().call_soon(fire)

    def _log_unmatched(self) -> None:
        """Once per configuration, when every source has listed its accounts: the rules
        that fit none of them (likely a typo in a glob)."""
        if self._unmatched_logged or not all(s.listed for s in self._sources.values()):
            return
        self._unmatched_logged = True
        emails = [e for s in self._sources.values() for e in s.emails]
        for index in self._policy.unmatched(emails):
            log.warning(
                "policy.unmatched",
                rule=f"accounts[{index}]",
                match=self._policy.rules[index].match,
            )


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
