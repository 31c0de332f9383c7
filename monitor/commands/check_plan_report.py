"""`check` beyond token expiry: the subscription and each account's plan, read in the same run
(at most 2 requests in flight per source, cut off by `--timeout`), judged as the daemon's
alerts judge them, and shown in the table and the JSON. A failed request is shown; it never
changes the status by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from monitor.alerts import Alert, plan_conditions
from monitor.clock import Clock
from monitor.config import Config, Policy, SourceConfig
from monitor.errors import Outcome
from monitor.evaluate import AccountStatus, Evaluation
from monitor.exposition import subscription_fields
from monitor.snapshot import PlanSnapshot, SourceSnapshot
from monitor.timefmt import iso_utc
from monitor.upstream import (
    Plan,
    PlanResult,
    PollResult,
    SubscriptionResult,
    UpstreamClient,
    fetch_plan,
    fetch_subscription,
)

MAX_IN_FLIGHT = 2  # per source, as the daemon


@dataclass(frozen=True, slots=True)
class PlanAnswers:
    """What `check`'s subscription and plan requests brought for one source; empty when they
    were not made."""

    subscription: SubscriptionResult | None = None  # None: off, or the poll failed
    plans: dict[str, PlanResult] = field(default_factory=dict)  # by email
    account_endpoint: bool = True
    features_endpoint: bool = True

    def snapshot(self) -> PlanSnapshot:
        """As the daemon's snapshot holds it, for the alert conditions."""
        subscription = self.subscription.subscription if self.subscription else None
        return PlanSnapshot(
            subscription=subscription,
            plans={e: r.plan for e, r in self.plans.items() if r.plan is not None},
            unknown_plans=frozenset(e for e, r in self.plans.items() if r.unknown_account),
            account_endpoint=self.account_endpoint,
            features_endpoint=self.features_endpoint,
        )


async def fetch_plan_answers(
    config: Config,
    results: Sequence[PollResult],
    clock: Clock,
    budget_seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[PlanAnswers]:
    """The subscription and plans of every source whose accounts were read, concurrently;
    what has not answered within `budget_seconds` counts as a timeout."""
    policy = Policy(config.accounts, config.thresholds)
    deadline = clock.monotonic() + budget_seconds

    async def one(source: SourceConfig, result: PollResult) -> PlanAnswers:
        if result.accounts is None:
            return PlanAnswers()
        emails = [a.email for a in result.accounts.accounts if not policy.settings(a.email).ignore]
        client = UpstreamClient.of(source, config.poll, clock, transport, one_shot=True)
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def subscription() -> SubscriptionResult:
            async with slots:
                return await fetch_subscription(client, clock, deadline)

        async def plan(email: str) -> PlanResult:
            async with slots:
                return await fetch_plan(client, email, clock, deadline)

        try:
            asked = asyncio.create_task(subscription()) if source.account_endpoint else None
            plans = (
                {e: asyncio.create_task(plan(e)) for e in emails}
                if source.features_endpoint
                else {}
            )
            tasks = [t for t in (asked, *plans.values()) if t is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=max(0.0, deadline - clock.monotonic()))
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
        finally:
            await client.aclose()
        late = "no answer within --timeout"
        return PlanAnswers(
            subscription=(
                None
                if asked is None
                else _result(asked, SubscriptionResult(Outcome.TIMEOUT, None, late, 0.0))
            ),
            plans={
                e: _result(t, PlanResult(e, Outcome.TIMEOUT, None, False, late, 0.0))
                for e, t in plans.items()
            },
            account_endpoint=source.account_endpoint,
            features_endpoint=source.features_endpoint,
        )

    return list(
        await asyncio.gather(*(one(s, r) for s, r in zip(config.sources, results, strict=True)))
    )


_T = TypeVar("_T")


def _result(task: asyncio.Task[_T], late: _T) -> _T:
    """A finished task's result; `late` for one cut off (or failed unexpectedly)."""
    if task.cancelled() or task.exception() is not None:
        return late
    return task.result()


def plan_alerts(
    name: str, evaluation: Evaluation | None, answers: PlanAnswers, now: float
) -> list[Alert]:
    """The subscription and plan alerts the daemon would raise for this source now."""
    snapshot = SourceSnapshot(
        name, evaluation, evaluation is not None, None, None, None, plans=answers.snapshot()
    )
    return plan_conditions(snapshot, (), now).active


def unmatched_rules(policy: Policy, results: Sequence[PollResult]) -> list[str]:
    """The [[accounts]] rules that fit none of the accounts listed, once every source was read
    (a source that failed may hold the accounts a rule is for)."""
    if any(r.accounts is None for r in results):
        return []
    emails = [a.email for r in results if r.accounts is not None for a in r.accounts.accounts]
    return [
        f"accounts[{i}].match {policy.rules[i].match!r} fits none of the accounts listed"
        for i in policy.unmatched(emails)
    ]


# -- shown ---------------------------------------------------------------------------------


def subscription_json(answers: PlanAnswers) -> dict[str, Any] | None:
    got = answers.subscription
    if got is None:
        return None
    if got.subscription is None:
        return {"outcome": got.outcome.value, "error": got.error}
    return {"outcome": got.outcome.value, **subscription_fields(got.subscription)}


def account_plan(answers: PlanAnswers, status: AccountStatus) -> tuple[Plan | None, str | None]:
    """The account's plan, or None and why (None when it was not asked)."""
    got = answers.plans.get(status.account.email)
    if got is None:
        return None, None
    if got.plan is None:
        return None, (
            "unknown account" if got.unknown_account else f"{got.outcome.value}: {got.error}"
        )
    return got.plan, None


def account_cells(answers: PlanAnswers, status: AccountStatus) -> tuple[str, str, str]:
    """PLAN, PLAN ENDS (UTC) and CREDITS of the table."""
    got = answers.plans.get(status.account.email)
    if got is None:
        return ("-", "-", "-")
    plan = got.plan
    if plan is None:
        return ("unknown" if got.unknown_account else f"({got.outcome.value})", "-", "-")
    ends = plan.expires_unix
    shown_end = iso_utc(ends).replace("T", " ").removesuffix("Z") if ends is not None else "-"
    if plan.lapsed:
        shown_end += " (lapsed)"
    left = plan.credits_left
    credits = "-" if left is None else (str(int(left)) if left == int(left) else f"{left:g}")
    return (plan.name or "?", shown_end, credits)


def subscription_line(answers: PlanAnswers) -> str | None:
    got = answers.subscription
    if got is None:
        return None
    if got.subscription is None:
        return f"  useapi.net subscription: {got.outcome.value}: {got.error}"
    sub = got.subscription
    state = {True: "active", False: "INACTIVE", None: "state unknown"}[sub.active]
    text = f"  useapi.net subscription: {state}"
    if sub.renewed_unix is not None:
        text += f", renewed {iso_utc(sub.renewed_unix)[:10]}"
    for service, c in sub.services.items():
        counts = ", ".join(
            f"{n} {what}"
            for what, n in (("total", c.total), ("active", c.active), ("in error", c.error))
            if n is not None
        )
        text += f"; {service}: {counts}"
    return text
