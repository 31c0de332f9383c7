"""One /v2/account or /features request: fetched, parsed, and how it went. Never raises
UpstreamError, so that each call's failure degrades only its own series."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from monitor.clock import Clock
from monitor.errors import Outcome, UpstreamError
from monitor.upstream.client import Sleep, UpstreamClient
from monitor.upstream.features import Plan, parse_plan
from monitor.upstream.subscription import Subscription, parse_subscription


class Endpoint(StrEnum):
    """An upstream endpoint; the `endpoint` label of pixverse_monitor_requests_total."""

    ACCOUNTS = "accounts"  # GET /v2/pixverse/accounts
    CAPACITY = "capacity"  # GET /v2/pixverse/scheduler/available
    ACCOUNT = "account"  # GET /v2/account
    FEATURES = "features"  # GET /v2/pixverse/features?email=


# How one request can end: every poll outcome but the one that describes a whole poll.
REQUEST_OUTCOMES = tuple(o for o in Outcome if o is not Outcome.CAPACITY_UNAVAILABLE)
# What useapi.net answers /features for an email it does not know.
_UNKNOWN_ACCOUNT_STATUSES = (400, 404)


class SubscriptionResult(NamedTuple):
    outcome: Outcome
    subscription: Subscription | None  # None unless the outcome is a success
    error: str | None  # why it failed; never a secret
    finished_unix: float


class PlanResult(NamedTuple):
    email: str
    outcome: Outcome
    plan: Plan | None  # None unless the outcome is a success
    unknown_account: bool  # useapi.net does not know the email (400): the plan is unknown
    error: str | None
    finished_unix: float


async def fetch_subscription(
    client: UpstreamClient, clock: Clock, deadline: float, pause: Sleep | None = None
) -> SubscriptionResult:
    """`deadline` is on `clock`'s monotonic clock; `pause` waits between attempts (see
    UpstreamClient.features)."""
    try:
        payload = await client.subscription(deadline, pause)
    except UpstreamError as exc:
        return SubscriptionResult(exc.reason, None, exc.detail, clock.time())
    subscription = parse_subscription(payload)
    if subscription.error is not None:
        error = f"account: {subscription.error}"
        return SubscriptionResult(Outcome.INVALID_PAYLOAD, None, error, clock.time())
    return SubscriptionResult(Outcome.SUCCESS, subscription, None, clock.time())


async def fetch_plan(
    client: UpstreamClient,
    email: str,
    clock: Clock,
    deadline: float,
    pause: Sleep | None = None,
) -> PlanResult:
    """`deadline` is on `clock`'s monotonic clock."""
    try:
        payload = await client.features(email, deadline, pause)
    except UpstreamError as exc:
        unknown = exc.status in _UNKNOWN_ACCOUNT_STATUSES
        return PlanResult(email, exc.reason, None, unknown, exc.detail, clock.time())
    plan = parse_plan(payload)
    if plan.error is not None:
        error = f"features: {plan.error}"
        return PlanResult(email, Outcome.INVALID_PAYLOAD, None, False, error, clock.time())
    return PlanResult(email, Outcome.SUCCESS, plan, False, None, clock.time())
