"""The useapi.net subscription behind an API token (GET /v2/account) as plain values. Pure:
tolerant of any shape, never raises; a field absent or of the wrong type is left out and
counted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

# The service whose accounts this monitor watches, as /v2/account names it.
PIXVERSE_SERVICE = "PixVerse API"
# Counts above this are nonsense, not a big subscription (and would overflow a float's integers).
_MAX_COUNT = 1_000_000_000


class ServiceAccounts(NamedTuple):
    """The accounts useapi.net holds for one AI service; None where upstream said nothing
    usable. `error` absent means 0, as upstream documents."""

    total: int | None
    active: int | None
    error: int | None


class Subscription(NamedTuple):
    """What /v2/account said; `error` is set when the payload as a whole is unusable."""

    active: bool | None  # subscriptionIsActive
    renewed_unix: float | None  # `sub` (YYMMDD), 00:00 UTC of that day
    subscriptions: int | None
    max_accounts_per_api: int | None
    services: Mapping[str, ServiceAccounts]
    invalid: Mapping[str, int]  # field -> number of invalid values seen
    error: str | None = None


def parse_subscription(payload: object) -> Subscription:
    """The body of GET /v2/account (already JSON-decoded)."""
    if type(payload) is not dict:
        return Subscription(None, None, None, None, {}, {}, "expected a JSON object at the top")
    invalid: dict[str, int] = {}

    def bad(name: str) -> None:
        invalid[name] = invalid.get(name, 0) + 1

    active = payload.get("subscriptionIsActive")
    if active is not None and type(active) is not bool:
        bad("subscriptionIsActive")
        active = None
    renewed = None
    if "sub" in payload:
        renewed = yymmdd_unix(payload["sub"])
        if renewed is None:
            bad("sub")
    subscriptions = _count(payload, "subscriptions", bad)
    max_accounts = _count(payload, "maxAccountsPerAPI", bad)
    services: dict[str, ServiceAccounts] = {}
    raw_services = payload.get("accounts")
    if type(raw_services) is dict:
        for name, counts in raw_services.items():
            if type(counts) is not dict:
                bad("accounts")
                continue
            error = _count(counts, "error", bad, field="accounts.error")
            services[name] = ServiceAccounts(
                _count(counts, "total", bad, field="accounts.total"),
                _count(counts, "active", bad, field="accounts.active"),
                0 if "error" not in counts else error,
            )
    elif raw_services is not None:
        bad("accounts")
    return Subscription(active, renewed, subscriptions, max_accounts, services, invalid)


def _count(
    table: dict[str, object],
    name: str,
    bad: Callable[[str], None],
    *,
    field: str | None = None,
) -> int | None:
    value = table.get(name)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _MAX_COUNT:
        bad(field or name)
        return None
    return value


def yymmdd_unix(value: object) -> float | None:
    """A `sub` date, YYMMDD (2000-2099), as the Unix time of 00:00 UTC that day."""
    if type(value) is not str or len(value) != 6 or not value.isascii() or not value.isdigit():
        return None
    try:
        day = datetime(2000 + int(value[:2]), int(value[2:4]), int(value[4:]), tzinfo=UTC)
    except ValueError:
        return None
    return day.timestamp()
