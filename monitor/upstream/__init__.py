"""Reading useapi.net: the HTTP client, the tolerant parser of its answers, and one poll."""

from __future__ import annotations

from monitor.upstream.client import Sleep, UpstreamClient
from monitor.upstream.connections import RenewingClient, borrowed, verified_tls
from monitor.upstream.features import CreditKind, Plan, format_credits
from monitor.upstream.lookups import (
    REQUEST_OUTCOMES,
    Endpoint,
    PlanResult,
    SubscriptionResult,
    fetch_plan,
    fetch_subscription,
)
from monitor.upstream.parse import (
    Account,
    AccountCapacity,
    AccountMemo,
    ExpirySource,
    ParsedAccounts,
    ParsedCapacity,
    capacity_of,
)
from monitor.upstream.poll import PollResult, poll_source
from monitor.upstream.subscription import (
    PIXVERSE_SERVICE,
    ServiceAccounts,
    Subscription,
    subscription_state,
)

__all__ = [
    "PIXVERSE_SERVICE",
    "REQUEST_OUTCOMES",
    "Account",
    "AccountCapacity",
    "AccountMemo",
    "CreditKind",
    "Endpoint",
    "ExpirySource",
    "ParsedAccounts",
    "ParsedCapacity",
    "Plan",
    "PlanResult",
    "PollResult",
    "RenewingClient",
    "ServiceAccounts",
    "Sleep",
    "Subscription",
    "SubscriptionResult",
    "UpstreamClient",
    "borrowed",
    "capacity_of",
    "fetch_plan",
    "fetch_subscription",
    "format_credits",
    "poll_source",
    "subscription_state",
    "verified_tls",
]
