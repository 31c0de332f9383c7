"""One round of subscription and plan reads, now: `check`'s one-shot path through the daemon's
plan schedule, so that one rule says what a read is and how many of a source's run at once,
and the plan view is built as the daemon's snapshot builds it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from monitor.clock import Clock
from monitor.config import Config, Policy, SourceConfig
from monitor.errors import Outcome
from monitor.service.plan_schedule import PlanSchedule
from monitor.snapshot import PlanSnapshot
from monitor.upstream import PlanResult, PollResult, Sleep, SubscriptionResult, UpstreamClient

LATE = "no answer within --timeout"


@dataclass(frozen=True, slots=True)
class PlanRound:
    """What one round of a source's reads brought: the plan view as the daemon's snapshot
    would hold it, and each answer as it came (a read cut off by the deadline as a timeout).
    Empty when no read was made (the accounts list was not read)."""

    view: PlanSnapshot = field(default_factory=PlanSnapshot)
    subscription: SubscriptionResult | None = None  # None: not asked
    plans: Mapping[str, PlanResult] = field(default_factory=dict)  # by email, those asked


async def read_plan_rounds(
    config: Config,
    results: Sequence[PollResult],
    clock: Clock,
    deadline: float,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
) -> list[PlanRound]:
    """Read now the subscription and the plan of every account not ignored, of every source
    whose accounts list `results` holds (in the order of `config.sources`), sources
    concurrently, each source's reads as the daemon makes them (at most MAX_IN_FLIGHT at
    once). Every attempt ends by `deadline` (monotonic), by when what has not answered counts
    as a timeout. A 408, 429, 5xx or a timeout is retried once (the client's one-shot rule)."""
    policy = Policy(config.accounts, config.thresholds)
    poll = config.poll

    async def one(source: SourceConfig, result: PollResult) -> PlanRound:
        if result.accounts is None:
            return PlanRound()
        client = UpstreamClient.of(source, poll, clock, transport, one_shot=True)
        schedule = PlanSchedule(source, client)
        schedule.emails = [a.email for a in result.accounts.accounts]
        schedule.refilter(policy)
        now = clock.monotonic()
        schedule.schedule_new(poll, now, at_once=True)  # the subscription is due from the start
        asked, emails = schedule.take_due(now)
        every = poll.account_interval.total_seconds()
        subscription = (
            _start(schedule.read_subscription(clock, sleep, every, deadline)) if asked else None
        )
        every = poll.features_interval.total_seconds()
        plans = {e: _start(schedule.read_plan(e, clock, sleep, every, deadline)) for e in emails}
        tasks = [t for t in (subscription, *plans.values()) if t is not None]
        try:
            if tasks:
                await asyncio.wait(tasks, timeout=max(0.0, deadline - clock.monotonic()))
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
        finally:
            await client.aclose()
        late_subscription = SubscriptionResult(Outcome.TIMEOUT, None, LATE, 0.0)
        read = {e: _finished(t) for e, t in plans.items()}
        return PlanRound(
            view=schedule.snapshot(),
            subscription=None
            if subscription is None
            else _finished(subscription) or late_subscription,
            plans={
                e: got[0] if got else PlanResult(e, Outcome.TIMEOUT, None, False, LATE, 0.0)
                for e, got in read.items()
            },
        )

    rounds = (one(s, r) for s, r in zip(config.sources, results, strict=True))
    return list(await asyncio.gather(*rounds))


_T = TypeVar("_T")


def _start(work: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
    return asyncio.get_running_loop().create_task(work)


def _finished(task: asyncio.Task[_T]) -> _T | None:
    """A finished task's result; None for one cut off (or failed unexpectedly)."""
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()
