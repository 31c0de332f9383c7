"""What the fake useapi.net serves beyond the accounts list: each account's PixVerse plan
(/features) and the subscription behind the API token (/v2/account)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson


@dataclass(frozen=True)
class FakePlan:
    """The PixVerse plan of a fake account, as /features serves it. None leaves a field out;
    values are sent as given, wrong types included."""

    name: Any = "Premium - Monthly"
    credit_daily: Any = 0
    credit_monthly: Any = 12450
    credit_package: Any = 0
    expires_at: float | None = field(default_factory=lambda: time.time() + 30 * 86400.0)
    gen_simultaneously: Any = 8
    expired_member: Any = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # merged over the payload last

    def payload(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "plan_name": self.name,
            "credit_daily": self.credit_daily,
            "credit_daily_gift": 60,
            "credit_monthly": self.credit_monthly,
            "credit_monthly_gift": 15000,
            "credit_package": self.credit_package,
            "gen_simultaneously": self.gen_simultaneously,
            "expired_member": self.expired_member,
        }
        if self.expires_at is not None:
            values["expired_date"] = _iso(self.expires_at)
            values["remaining_days"] = max(0, int((self.expires_at - time.time()) // 86400))
        values = {k: v for k, v in values.items() if v is not None}
        values.update(self.overrides)
        return values


@dataclass(frozen=True)
class FakeSubscription:
    """The useapi.net subscription behind the fake's API token, as /v2/account serves it.
    `error` is how many PixVerse accounts useapi.net marks as broken (None leaves it out)."""

    active: Any = True
    renewed: Any = "250405"  # YYMMDD
    error: Any = 0
    max_accounts_per_api: Any = 3
    overrides: dict[str, Any] = field(default_factory=dict)

    def payload(self, accounts: int) -> dict[str, Any]:
        pixverse: dict[str, Any] = {"total": accounts, "active": accounts}
        if self.error is not None:
            pixverse["error"] = self.error
            if isinstance(self.error, int):
                pixverse["active"] = max(0, accounts - self.error)
        values: dict[str, Any] = {
            "id": 12345,
            "subscriptionIsActive": self.active,
            "subscriptions": 1,
            "maxAccountsPerAPI": self.max_accounts_per_api,
            "accounts": {"PixVerse API": pixverse, "MiniMax API": {"total": 1, "active": 1}},
            "sub": self.renewed,
        }
        values.update(self.overrides)
        return values


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class WithPlan(Protocol):
    """An account as the fake holds it: its plan at /features, or None."""

    @property
    def plan(self) -> FakePlan | None: ...


def features_answer(query: str, accounts: Mapping[str, WithPlan]) -> tuple[int, bytes]:
    """What /features answers for a query string, given every account by email: as upstream,
    `email` may be left out with a single account, and an email it does not know (or
    without a plan) is a 400 whose error names it."""
    emails = parse_qs(query).get("email", [])
    if not emails and len(accounts) == 1:
        emails = list(accounts)
    account = accounts.get(emails[0]) if emails else None
    plan = account.plan if account is not None else None
    if plan is None:
        message = f"Unable to find account {emails[0] if emails else ''}"
        return 400, orjson.dumps({"error": message, "code": 400})
    return 200, orjson.dumps(plan.payload())
