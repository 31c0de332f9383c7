"""The JSON fields of an account and of a useapi.net subscription, written once for both
`check --json` and the status page's twin, /api/v1/status. Pure."""

from __future__ import annotations

from typing import Any

from monitor.evaluate import AccountStatus
from monitor.timefmt import iso_utc
from monitor.upstream import Plan, Subscription

# The keys of every account object, in order: documented in docs/operations.md.
ACCOUNT_KEYS = (
    "account",
    "state",
    "expires_at",
    "ttl_seconds",
    "max_jobs",
    "executing",
    "available",
    "plan",
    "plan_expires_at",
    "credits",
    "plan_concurrency",
    "plan_lapsed",
    "plan_error",
    "labels",
)


def account_fields(
    status: AccountStatus, now_unix: float, plan: Plan | None, plan_error: str | None
) -> dict[str, Any]:
    """One account at `now_unix`: its token, its live capacity (null without scheduler data),
    its plan (null when not read; `plan_error` then says why, if known) and its
    [[accounts]] labels."""
    expiry = status.account.expiry_unix
    return {
        "account": status.label,
        "state": status.state.value,
        "expires_at": iso_utc(expiry) if expiry is not None else None,
        "ttl_seconds": round(expiry - now_unix, 3) if expiry is not None else None,
        "max_jobs": status.account.max_jobs,
        "executing": status.executing,
        "available": status.available,
        "plan": plan.name if plan is not None else None,
        "plan_expires_at": (
            iso_utc(plan.expires_unix)
            if plan is not None and plan.expires_unix is not None
            else None
        ),
        "credits": (
            {kind.value: left for kind, left in plan.credits.items()} if plan is not None else None
        ),
        "plan_concurrency": plan.concurrency if plan is not None else None,
        "plan_lapsed": plan.lapsed if plan is not None else None,
        "plan_error": plan_error if plan is None else None,
        "labels": dict(status.settings.labels),
    }


def subscription_fields(subscription: Subscription) -> dict[str, Any]:
    """What /v2/account said: active or not, the day of the last renewal, and useapi.net's
    account counts per AI service."""
    renewed = subscription.renewed_unix
    return {
        "active": subscription.active,
        "renewed_at": iso_utc(renewed) if renewed is not None else None,
        "subscriptions": subscription.subscriptions,
        "max_accounts_per_api": subscription.max_accounts_per_api,
        "accounts": {
            service: {"total": c.total, "active": c.active, "error": c.error}
            for service, c in subscription.services.items()
        },
    }
