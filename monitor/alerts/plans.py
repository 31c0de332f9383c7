"""The alerts beyond token expiry (SPEC section 8): the useapi.net subscription, accounts
useapi.net marks as in error, and each account's PixVerse plan (its end, credits left and
concurrency). Pure: a source's snapshot and `now` in, alerts and what was judged out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from monitor.alerts.alert import (
    PLAN_ALERTS,
    SUBSCRIPTION_SCOPE,
    Alert,
    AlertName,
    plan_scope,
)
from monitor.config import Severity
from monitor.evaluate import AccountStatus
from monitor.snapshot import Snapshot, SourcePlans, SourceSnapshot
from monitor.timefmt import format_ttl, iso_utc
from monitor.upstream import PIXVERSE_SERVICE, Plan, Subscription


class PlanConditions(NamedTuple):
    active: list[Alert]
    judged: set[str]  # scopes of this source judged now


def plan_conditions(source: SourceSnapshot, firing: Iterable[Alert], now: float) -> PlanConditions:
    """The section-8 alerts that hold for one source at `now`, and the scopes judged: the
    subscription once /v2/account was read in this run, an account's plan once /features
    answered for it (or said it does not know it), and the plan alerts of accounts that are
    gone (or ignored) once the accounts list is known. `firing` is what the book holds."""
    data = source.plans
    active: list[Alert] = []
    judged: set[str] = set()
    if data.subscription_judged:
        judged.add(SUBSCRIPTION_SCOPE)
        if data.subscription is not None:
            active.extend(_subscription_alerts(source.name, data.subscription))
    evaluation = source.evaluation
    if evaluation is None:
        return PlanConditions(active, judged)
    present = set()
    for status in evaluation.accounts:
        present.add(status.label)
        email = status.account.email
        if not data.plan_judged(email):
            continue
        judged.add(plan_scope(status.label))
        plan = data.plans.get(email)
        if plan is not None:
            active.extend(_plan_alerts(source.name, status, plan, now))
    for alert in firing:
        gone = alert.account not in present
        if alert.source == source.name and alert.name in PLAN_ALERTS and gone:
            judged.add(alert.scope)  # removed or ignored: resolve
    return PlanConditions(active, judged)


def _subscription_alerts(source: str, subscription: Subscription) -> list[Alert]:
    alerts = []
    renewed = iso_utc(subscription.renewed_unix) if subscription.renewed_unix else "unknown"
    if subscription.active is False:
        alerts.append(
            Alert(
                AlertName.SUBSCRIPTION_INACTIVE,
                Severity.CRITICAL,
                source,
                "",
                f"useapi.net subscription of source {source} is inactive",
                f"useapi.net reports the subscription behind the API token of source {source} "
                f"as inactive (last renewal: {renewed}). Every account behind that token stops "
                "working until the subscription is renewed at useapi.net.",
                {"renewed_at": renewed},
            )
        )
    counts = subscription.services.get(PIXVERSE_SERVICE)
    if counts is not None and counts.error:
        alerts.append(
            Alert(
                AlertName.ACCOUNTS_IN_ERROR,
                Severity.WARNING,
                source,
                "",
                f"useapi.net marks {counts.error} PixVerse account(s) of source {source} as "
                "in error",
                f"useapi.net counts {counts.error} of the {_count(counts.total)} PixVerse "
                f"account(s) of source {source} as in error: it cannot use them, typically "
                "because it could not refresh their token. Check the accounts at useapi.net "
                "and configure them again.",
                {
                    "error": str(counts.error),
                    "total": _count(counts.total),
                    "active": _count(counts.active),
                },
            )
        )
    return alerts


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _plan_alerts(source: str, status: AccountStatus, plan: Plan, now: float) -> list[Alert]:
    account = status.account
    label = status.label
    settings = status.settings
    name = plan.name or "unknown"
    ends = iso_utc(plan.expires_unix) if plan.expires_unix is not None else ""
    labels = settings.labels
    alerts = []
    ttl = None if plan.expires_unix is None else plan.expires_unix - now
    lapsed = plan.lapsed is True or (ttl is not None and ttl <= 0)
    if lapsed or (ttl is not None and ttl <= settings.plan_warning_seconds):
        if lapsed:
            summary = f"PixVerse plan of {label} has lapsed"
            when = f"ended at {ends}" if ends and ttl is not None and ttl <= 0 else "has lapsed"
        else:
            assert ttl is not None
            summary = f"PixVerse plan of {label} ends in {format_ttl(ttl)}"
            when = f"ends at {ends}"
        alerts.append(
            Alert(
                AlertName.PLAN_EXPIRING_SOON,
                Severity.CRITICAL if lapsed else Severity.WARNING,
                source,
                label,
                summary,
                f"The PixVerse plan ({name}) of account {label} (source {source}) {when}. "
                f"Renew it at PixVerse, or the account's {account.max_jobs} job slot(s) stop "
                "working.",
                {
                    "plan": name,
                    "plan_expires_at": ends,
                    "plan_ttl_seconds": "" if ttl is None else str(round(ttl)),
                    "lapsed": "true" if plan.lapsed else "false",
                },
                labels,
            )
        )
    left = plan.credits_left
    if settings.min_credits > 0 and left is not None and left < settings.min_credits:
        kinds = ", ".join(f"{kind.value} {_number(n)}" for kind, n in plan.credits.items())
        alerts.append(
            Alert(
                AlertName.CREDITS_LOW,
                Severity.WARNING,
                source,
                label,
                f"PixVerse account {label} has {_number(left)} credits left",
                f"Account {label} (source {source}, plan {name}) has {_number(left)} credits "
                f"left ({kinds}), below the minimum of {settings.min_credits}. Top up, or "
                "its jobs start failing.",
                {"credits": _number(left), "min_credits": str(settings.min_credits)},
                labels,
            )
        )
    if plan.concurrency is not None and account.max_jobs > plan.concurrency:
        alerts.append(
            Alert(
                AlertName.MAX_JOBS_ABOVE_PLAN,
                Severity.WARNING,
                source,
                label,
                f"maxJobs of {label} ({account.max_jobs}) is above what its plan allows "
                f"({plan.concurrency})",
                f"Account {label} (source {source}) is configured at useapi.net with maxJobs "
                f"{account.max_jobs}, but its PixVerse plan ({name}) runs {plan.concurrency} "
                "job(s) at once. useapi.net says maxJobs must not exceed it: lower maxJobs, "
                "or jobs beyond the plan fail.",
                {"max_jobs": str(account.max_jobs), "plan_concurrency": str(plan.concurrency)},
                labels,
            )
        )
    return alerts


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def next_plan_crossing(snapshot: Snapshot, now: float) -> float | None:
    """The earliest moment after `now` at which a plan enters its warning window or ends."""
    soonest: float | None = None
    for source in snapshot.sources:
        if source.evaluation is None:
            continue
        plans: SourcePlans = source.plans
        for status in source.evaluation.accounts:
            plan = plans.plans.get(status.account.email)
            if plan is None or plan.expires_unix is None:
                continue
            for moment in (
                plan.expires_unix - status.settings.plan_warning_seconds,
                plan.expires_unix,
            ):
                if moment > now:
                    if soonest is None or moment < soonest:
                        soonest = moment
                    break
    return soonest
