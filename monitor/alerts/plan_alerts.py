"""The alerts beyond token expiry (docs/plans.md): the useapi.net subscription, accounts
useapi.net marks as in error, and each account's PixVerse plan (its end, credits left and
concurrency). Pure: a source's snapshot and `now` in, alerts and what was judged out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import NamedTuple

from monitor.alerts import plan_texts as texts
from monitor.alerts.alert import (
    PLAN_ALERTS,
    SUBSCRIPTION_ALERTS,
    SUBSCRIPTION_SCOPE,
    Alert,
    AlertName,
    plan_scope,
)
from monitor.config import Severity
from monitor.evaluate import AccountStatus, first_crossing
from monitor.snapshot import Snapshot, SourceSnapshot
from monitor.timefmt import iso_utc
from monitor.upstream import PIXVERSE_SERVICE, Plan, Subscription, format_credits


class PlanConditions(NamedTuple):
    active: list[Alert]
    judged: set[str]  # scopes of this source judged now


def plan_conditions(source: SourceSnapshot, firing: Iterable[Alert], now: float) -> PlanConditions:
    """The subscription and plan alerts that hold for one source at `now`, and the scopes
    judged: the subscription once /v2/account was read in this run, an account's plan once /features
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
        gone = alert.account not in present and not source.keeps(alert.account)
        if alert.source == source.name and alert.name in PLAN_ALERTS and gone:
            judged.add(alert.scope)  # removed (missing for the absence grace) or ignored
    return PlanConditions(active, judged)


def _subscription_alerts(source: str, subscription: Subscription) -> list[Alert]:
    alerts = []
    renewed = subscription.renewed_unix
    if subscription.active is False:
        words = texts.subscription_inactive(source, renewed)
        details = {"renewed_at": iso_utc(renewed) if renewed is not None else ""}
        alerts.append(
            Alert(AlertName.SUBSCRIPTION_INACTIVE, Severity.CRITICAL, source, "", *words, details)
        )
    counts = subscription.services.get(PIXVERSE_SERVICE)
    if counts is not None and counts.error:
        words = texts.accounts_in_error(source, counts.error, counts.total)
        details = {
            "error": str(counts.error),
            "total": _count(counts.total),
            "active": _count(counts.active),
        }
        alerts.append(
            Alert(AlertName.ACCOUNTS_IN_ERROR, Severity.WARNING, source, "", *words, details)
        )
    return alerts


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


def _plan_alerts(source: str, status: AccountStatus, plan: Plan, now: float) -> list[Alert]:
    jobs = status.account.max_jobs
    label = status.label
    settings = status.settings
    name = plan.name or "unknown"
    ends = plan.expires_unix
    labels = settings.labels
    alerts = []
    lapsed = plan.lapsed is True or (ends is not None and ends <= now)
    if lapsed or (ends is not None and ends - now <= settings.plan_warning_seconds):
        if lapsed:
            words = texts.plan_lapsed(label, source, name, ends, jobs)
        else:
            assert ends is not None
            words = texts.plan_ending(label, source, name, ends, now=now, jobs=jobs)
        details = {
            "plan": name,
            "plan_expires_at": iso_utc(ends) if ends is not None else "",
            "plan_ttl_seconds": str(round(ends - now)) if ends is not None else "",
            "lapsed": "true" if plan.lapsed else "false",
        }
        severity = Severity.CRITICAL if lapsed else Severity.WARNING
        alert = Alert(AlertName.PLAN_EXPIRING_SOON, severity, source, label, *words, details)
        alerts.append(dataclasses.replace(alert, extra_labels=labels))
    left = plan.credits_left
    minimum = settings.min_credits
    if minimum > 0 and left is not None and left < minimum:
        kinds = ", ".join(f"{kind.value} {format_credits(n)}" for kind, n in plan.credits.items())
        words = texts.credits_low(label, source, name, left, kinds=kinds, minimum=minimum)
        details = {"plan": name, "credits": format_credits(left), "min_credits": str(minimum)}
        alert = Alert(AlertName.CREDITS_LOW, Severity.WARNING, source, label, *words, details)
        alerts.append(dataclasses.replace(alert, extra_labels=labels))
    allowed = plan.concurrency
    if allowed is not None and jobs > allowed:
        words = texts.max_jobs_above_plan(label, source, name, jobs, allowed)
        details = {"plan": name, "max_jobs": str(jobs), "plan_concurrency": str(allowed)}
        alert = Alert(
            AlertName.MAX_JOBS_ABOVE_PLAN, Severity.WARNING, source, label, *words, details
        )
        alerts.append(dataclasses.replace(alert, extra_labels=labels))
    return alerts


def plan_resolution(
    alert: Alert, source: SourceSnapshot, status: AccountStatus | None, now: float
) -> Alert:
    """A subscription or plan alert as its resolution is sent: saying what happened."""
    data = source.plans
    if alert.name in SUBSCRIPTION_ALERTS:
        subscription = data.subscription
        if subscription is None:
            words = texts.subscription_unwatched(alert.source)
        elif alert.name is AlertName.SUBSCRIPTION_INACTIVE:
            words = texts.subscription_active(alert.source)
        else:
            words = texts.no_accounts_in_error(alert.source)
        return dataclasses.replace(alert, summary=words[0], description=words[1])
    if status is None:
        words = texts.plan_account_gone(alert.account, alert.source)
        return dataclasses.replace(alert, summary=words[0], description=words[1])
    plan = data.plans.get(status.account.email)
    if plan is None:
        words = texts.plan_unknown(alert.account, alert.source)
    elif alert.name is AlertName.PLAN_EXPIRING_SOON:
        words = texts.plan_renewed(alert.account, alert.source, plan.expires_unix, now)
    elif alert.name is AlertName.CREDITS_LOW:
        left = plan.credits_left
        words = texts.credits_restored(
            alert.account, alert.source, left, status.settings.min_credits
        )
    else:
        jobs = status.account.max_jobs
        words = texts.max_jobs_within_plan(alert.account, alert.source, jobs, plan.concurrency)
    return dataclasses.replace(alert, summary=words[0], description=words[1])


def next_plan_crossing(snapshot: Snapshot, now: float) -> float | None:
    """The earliest moment after `now` at which a plan enters its warning window or ends."""
    return first_crossing(
        (
            (ends - status.settings.plan_warning_seconds, ends)
            for source in snapshot.sources
            if source.evaluation is not None
            for status in source.evaluation.accounts
            if (plan := source.plans.plans.get(status.account.email)) is not None
            and (ends := plan.expires_unix) is not None
        ),
        now,
    )
