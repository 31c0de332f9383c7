"""The useapi.net subscription behind an API token (GET /v2/account) as plain values, and its
state in words. Pure: tolerant of any shape, never raises; a field absent or of the wrong type
is left out and counted."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from monitor.timefmt import iso_utc
from monitor.upstream.parse import bounded_name

# The service whose accounts this monitor watches, as /v2/account names it.
PIXVERSE_SERVICE = "PixVerse API"
# Counts above this are nonsense, not a big subscription (and would overflow a float's integers).
_MAX_COUNT = 1_000_000_000
# AI services kept of `accounts`, each three series of pixverse_useapi_accounts: useapi.net
# offers about fifteen, so this leaves room to grow and bounds what a hostile or broken
# answer costs (150,000 keys were 450,000 series). PixVerse's own is always kept (the
# alerts judge it); then the others, first by name, so that the same ones stay from one
# answer to the next.
MAX_SERVICES = 32


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
    services_dropped: int = 0  # services beyond MAX_SERVICES, left out


def subscription_state(subscription: Subscription) -> str:
    """Its state as `check` and the status page say it: "active, renewed 2026-11-03",
    "INACTIVE", "state unknown"."""
    state = {True: "active", False: "INACTIVE", None: "state unknown"}[subscription.active]
    if subscription.renewed_unix is not None:
        state += f", renewed {iso_utc(subscription.renewed_unix)[:10]}"
    return state


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
    dropped = 0
    raw_services = payload.get("accounts")
    if type(raw_services) is dict:
        names = []
        for name in raw_services:
            if bounded_name(name) is None:
                bad("accounts.service")
            else:
                names.append(name)
        kept = _kept_services(names)
        dropped = len(names) - len(kept)
        for name in kept:
            counts = raw_services[name]
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
    return Subscription(
        active,
        renewed,
        subscriptions,
        max_accounts,
        services,
        invalid,
        services_dropped=dropped,
    )


def _kept_services(names: list[str]) -> list[str]:
    """At most MAX_SERVICES of `names`: PixVerse's, then the others by name."""
    if len(names) <= MAX_SERVICES:
        return names
    pixverse = [PIXVERSE_SERVICE] if PIXVERSE_SERVICE in names else []
    others = (n for n in names if n != PIXVERSE_SERVICE)
    return pixverse + heapq.nsmallest(MAX_SERVICES - len(pixverse), others)


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
