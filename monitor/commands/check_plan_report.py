"""`check` beyond token expiry: the subscription and each account's plan, read in the same run
through the daemon's plan schedule (cut off by `--timeout`), judged as the daemon's alerts
judge them, and shown in the table and the JSON. A failed request is shown; it never changes
the status by itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.alerts import Alert, plan_conditions
from monitor.config import Policy
from monitor.evaluate import AccountStatus, Evaluation
from monitor.exposition import subscription_fields
from monitor.service import PlanRound
from monitor.snapshot import SourceSnapshot
from monitor.timefmt import readable_utc
from monitor.upstream import Plan, PollResult, format_credits, subscription_state


def plan_alerts(
    name: str, evaluation: Evaluation | None, answers: PlanRound, now: float
) -> list[Alert]:
    """The subscription and plan alerts the daemon would raise for this source now."""
    snapshot = SourceSnapshot(
        name, evaluation, evaluation is not None, None, None, None, plans=answers.view
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


def subscription_json(answers: PlanRound) -> dict[str, Any] | None:
    got = answers.subscription
    if got is None:
        return None
    if got.subscription is None:
        return {"outcome": got.outcome.value, "error": got.error}
    return {"outcome": got.outcome.value, **subscription_fields(got.subscription)}


def account_plan(answers: PlanRound, status: AccountStatus) -> tuple[Plan | None, str | None]:
    """The account's plan, or None and why (None when it was not asked)."""
    got = answers.plans.get(status.account.email)
    if got is None:
        return None, None
    if got.plan is None:
        return None, (
            "unknown account" if got.unknown_account else f"{got.outcome.value}: {got.error}"
        )
    return got.plan, None


def account_cells(answers: PlanRound, status: AccountStatus) -> tuple[str, str, str]:
    """PLAN, PLAN ENDS (UTC) and CREDITS of the table."""
    got = answers.plans.get(status.account.email)
    if got is None:
        return ("-", "-", "-")
    plan = got.plan
    if plan is None:
        return ("unknown" if got.unknown_account else f"({got.outcome.value})", "-", "-")
    ends = plan.expires_unix
    shown_end = readable_utc(ends, seconds=True, zone=False) if ends is not None else "-"
    if plan.lapsed:
        shown_end += " (lapsed)"
    left = plan.credits_left
    credits = "-" if left is None else format_credits(left)
    return (plan.name or "?", shown_end, credits)


def subscription_line(answers: PlanRound) -> str | None:
    got = answers.subscription
    if got is None:
        return None
    if got.subscription is None:
        return f"  useapi.net subscription: {got.outcome.value}: {got.error}"
    sub = got.subscription
    text = f"  useapi.net subscription: {subscription_state(sub)}"
    for service, c in sub.services.items():
        counts = ", ".join(
            f"{n} {what}"
            for what, n in (("total", c.total), ("active", c.active), ("in error", c.error))
            if n is not None
        )
        text += f"; {service}: {counts}"
    return text
