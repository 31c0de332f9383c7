"""The PixVerse plan of one account (GET /v2/pixverse/features?email=) as plain values, and its
credits as people read them. Pure: tolerant of any shape, never raises; a field absent or of
the wrong type is left out and counted."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

from monitor.upstream.parse import bounded_name, iso_unix

# Credits or concurrency above these are nonsense, not a big plan.
_MAX_CREDITS = 1e12
_MAX_CONCURRENCY = 10_000


class CreditKind(StrEnum):
    """Which allowance credits are left of; the `kind` label."""

    DAILY = "daily"
    MONTHLY = "monthly"
    PACKAGE = "package"


CREDIT_FIELDS: tuple[tuple[CreditKind, str], ...] = (
    (CreditKind.DAILY, "credit_daily"),
    (CreditKind.MONTHLY, "credit_monthly"),
    (CreditKind.PACKAGE, "credit_package"),
)


class Plan(NamedTuple):
    """What /features said of one account; `error` is set when the payload as a whole is
    unusable. Every value is None (or left out of `credits`) when upstream gave nothing
    usable for it."""

    name: str | None  # plan_name
    credits: Mapping[CreditKind, float]  # credits left, by kind
    expires_unix: float | None  # expired_date: the plan ends
    concurrency: int | None  # gen_simultaneously: concurrent jobs the plan allows
    lapsed: bool | None  # expired_member == 1
    invalid: tuple[str, ...] = ()  # names of the fields that were invalid
    error: str | None = None

    @property
    def credits_left(self) -> float | None:
        """Credits left over every kind upstream reported; None when it reported none."""
        return sum(self.credits.values()) if self.credits else None


def format_credits(value: float) -> str:
    """Credits as alerts, `check` and the status page write them: a whole number without a
    decimal point ("12450"), any other as short as it goes ("2.5")."""
    return str(int(value)) if value == int(value) else f"{value:g}"


def parse_plan(payload: object) -> Plan:
    """The body of GET /v2/pixverse/features (already JSON-decoded)."""
    if type(payload) is not dict:
        return Plan(None, {}, None, None, None, (), "expected a JSON object at the top")
    bad: list[str] = []
    raw_name = payload.get("plan_name")
    name = bounded_name(raw_name)
    if name is not None and not name.strip():
        name = None
    if raw_name is not None and name is None:
        bad.append("plan_name")
    credits: dict[CreditKind, float] = {}
    for kind, field_name in CREDIT_FIELDS:
        value = payload.get(field_name)
        if value is None:
            continue
        number = _number(value, _MAX_CREDITS)
        if number is None:
            bad.append(field_name)
        else:
            credits[kind] = number
    expires = None
    if payload.get("expired_date") is not None:
        expires = iso_unix(payload["expired_date"])
        if expires is None:
            bad.append("expired_date")
    concurrency = payload.get("gen_simultaneously")
    if concurrency is not None and (
        type(concurrency) is not int or not 0 <= concurrency <= _MAX_CONCURRENCY
    ):
        bad.append("gen_simultaneously")
        concurrency = None
    lapsed = _flag(payload.get("expired_member"))
    if lapsed is None and payload.get("expired_member") is not None:
        bad.append("expired_member")
    return Plan(name, credits, expires, concurrency, lapsed, tuple(bad))


def _number(value: object, limit: float) -> float | None:
    """A non-negative finite number up to `limit`; ints stay ints (credits usually are)."""
    if type(value) is int:
        return value if 0 <= value <= limit else None
    if type(value) is float and math.isfinite(value) and 0.0 <= value <= limit:
        return value
    return None


def _flag(value: object) -> bool | None:
    """expired_member: 1 or true is lapsed, 0 or false is not; anything else is unusable."""
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    return None
