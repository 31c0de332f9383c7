"""The families beyond token expiry (docs/plans.md): the useapi.net subscription, each
account's PixVerse plan, token refreshes, upstream requests by endpoint, and the per-account
settings the Prometheus rules judge plans by. Defined here and rendered here, the per-account
lines kept from one snapshot to the next (account_lines.py)."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.evaluate import AccountStatus
from monitor.exposition.textformat import Family, escape_label, family_text, format_value
from monitor.snapshot import Criteria, Snapshot, SourceSnapshot
from monitor.upstream import REQUEST_OUTCOMES, Endpoint, Plan

SUBSCRIPTION_ACTIVE = Family(
    "pixverse_useapi_subscription_active",
    "gauge",
    "1 if useapi.net reports the subscription behind the source's API token as active.",
)
SUBSCRIPTION_RENEWED = Family(
    "pixverse_useapi_subscription_renewed_timestamp_seconds",
    "gauge",
    "Unix time (00:00 UTC) of the day the useapi.net subscription was last renewed.",
)
USEAPI_ACCOUNTS = Family(
    "pixverse_useapi_accounts",
    "gauge",
    "Accounts useapi.net holds per AI service: total, active, and marked as in error.",
)
REQUESTS = Family(
    "pixverse_monitor_requests_total",
    "counter",
    "Upstream requests by endpoint and outcome, retries of one request counted once.",
)
ENDPOINT_LAST_SUCCESS = Family(
    "pixverse_monitor_endpoint_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful request to /v2/account (endpoint account) or to "
    "/features for any account (endpoint features).",
)
ENDPOINT_INTERVAL = Family(
    "pixverse_monitor_endpoint_interval_seconds",
    "gauge",
    "How often the endpoint is read: poll.account_interval for /v2/account (endpoint account), "
    "poll.features_interval for each account's /features (endpoint features); absent while "
    "the endpoint is off.",
)
PLAN_EXPIRY = Family(
    "pixverse_account_plan_expiry_timestamp_seconds",
    "gauge",
    "Unix time the account's PixVerse plan ends (expired_date).",
)
PLAN_INFO = Family(
    "pixverse_account_plan_info", "gauge", "The account's PixVerse plan by name; always 1."
)
CREDITS = Family(
    "pixverse_account_credits", "gauge", "Credits left on the account's PixVerse plan, by kind."
)
PLAN_CONCURRENCY = Family(
    "pixverse_account_plan_concurrency",
    "gauge",
    "Jobs the account's PixVerse plan runs at once (gen_simultaneously).",
)
PLAN_LAPSED = Family(
    "pixverse_account_plan_lapsed",
    "gauge",
    "1 if PixVerse reports the account's plan as lapsed (expired_member), else 0.",
)
PLAN_WARNING = Family(
    "pixverse_account_plan_warning_seconds",
    "gauge",
    "plan_warning in force for the account ([thresholds] or its [[accounts]] rule): "
    "PixversePlanExpiringSoon fires once the plan ends within it.",
)
MIN_CREDITS = Family(
    "pixverse_account_min_credits",
    "gauge",
    "min_credits in force for the account ([thresholds] or its [[accounts]] rule): "
    "PixverseCreditsLow fires while credits left are below it; 0 is off.",
)
TOKEN_REFRESHES = Family(
    "pixverse_account_token_refreshes_total",
    "counter",
    "Polls that saw the account's token expiry move later (a refresh) since the account "
    "was first seen in this run.",
)

PER_SOURCE = (SUBSCRIPTION_ACTIVE, SUBSCRIPTION_RENEWED, USEAPI_ACCOUNTS)
PER_ACCOUNT = (
    PLAN_EXPIRY,
    PLAN_INFO,
    CREDITS,
    PLAN_CONCURRENCY,
    PLAN_LAPSED,
    PLAN_WARNING,
    MIN_CREDITS,
    TOKEN_REFRESHES,
)
PLAN_FAMILIES = (
    *PER_SOURCE,
    *PER_ACCOUNT,
    REQUESTS,
    ENDPOINT_LAST_SUCCESS,
    ENDPOINT_INTERVAL,
)
# One account's line(s) of each of PER_ACCOUNT, encoded.
PlanLines = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]
# Only these endpoints have a timestamp here: the accounts list has
# pixverse_monitor_last_success_timestamp_seconds already.
_TIMED_ENDPOINTS = (Endpoint.ACCOUNT, Endpoint.FEATURES)


def plans_text(snapshot: Snapshot, accounts: Sequence[tuple[bytes, ...]]) -> bytes:
    """Every subscription and plan family of the snapshot, encoded; `accounts` holds the
    lines of each per-account family (PER_ACCOUNT order), made by `plan_lines`."""
    out: dict[Family, list[str]] = {family: [] for family in PLAN_FAMILIES}
    for source in snapshot.sources:
        src = f'source="{escape_label(source.name)}"'
        _source_lines(source, src, out)
        if snapshot.criteria is not None:
            _interval_lines(source, src, snapshot.criteria, out)
    pieces: list[bytes] = []
    for family, lines in out.items():
        if family in PER_ACCOUNT:
            column = accounts[PER_ACCOUNT.index(family)]
            if any(column):
                pieces.append(family.header.encode())
                pieces.extend(column)
        else:
            pieces.append(family_text(family, lines).encode())
    return b"".join(pieces)


def plan_lines(ids: str, status: AccountStatus, refreshes: int, plan: Plan | None) -> PlanLines:
    """One account's lines of each per-account family, encoded (b"" for none), in PER_ACCOUNT
    order; `ids` is its `source` and `account` labels, written out."""
    refreshed = f"{TOKEN_REFRESHES.name}{{{ids}}} {refreshes}\n".encode()
    if plan is None:
        return (b"", b"", b"", b"", b"", b"", b"", refreshed)
    expiry = info = concurrency = lapsed = ""
    if plan.expires_unix is not None:
        expiry = f"{PLAN_EXPIRY.name}{{{ids}}} {format_value(plan.expires_unix)}\n"
    if plan.name is not None:
        info = f'{PLAN_INFO.name}{{{ids},plan="{escape_label(plan.name)}"}} 1\n'
    credits = "".join(
        f'{CREDITS.name}{{{ids},kind="{kind.value}"}} {format_value(left)}\n'
        for kind, left in plan.credits.items()
    )
    if plan.concurrency is not None:
        concurrency = f"{PLAN_CONCURRENCY.name}{{{ids}}} {plan.concurrency}\n"
    if plan.lapsed is not None:
        lapsed = f"{PLAN_LAPSED.name}{{{ids}}} {int(plan.lapsed)}\n"
    settings = status.settings
    warning = f"{PLAN_WARNING.name}{{{ids}}} {format_value(settings.plan_warning_seconds)}\n"
    min_credits = f"{MIN_CREDITS.name}{{{ids}}} {settings.min_credits}\n"
    return (
        expiry.encode(),
        info.encode(),
        credits.encode(),
        concurrency.encode(),
        lapsed.encode(),
        warning.encode(),
        min_credits.encode(),
        refreshed,
    )


def _source_lines(source: SourceSnapshot, src: str, out: dict[Family, list[str]]) -> None:
    data = source.plans
    subscription = data.subscription
    if subscription is not None:
        if subscription.active is not None:
            line = f"{SUBSCRIPTION_ACTIVE.name}{{{src}}} {int(subscription.active)}\n"
            out[SUBSCRIPTION_ACTIVE].append(line)
        if subscription.renewed_unix is not None:
            value = format_value(subscription.renewed_unix)
            out[SUBSCRIPTION_RENEWED].append(f"{SUBSCRIPTION_RENEWED.name}{{{src}}} {value}\n")
        for service, counts in subscription.services.items():
            where = f'{src},service="{escape_label(service)}"'
            for state, count in zip(("total", "active", "error"), counts, strict=True):
                if count is not None:
                    out[USEAPI_ACCOUNTS].append(
                        f'{USEAPI_ACCOUNTS.name}{{{where},state="{state}"}} {count}\n'
                    )
    out[REQUESTS].extend(
        f'{REQUESTS.name}{{{src},endpoint="{e.value}",outcome="{o.value}"}} '
        f"{data.requests_total.get((e, o), 0)}\n"
        for e in Endpoint
        for o in REQUEST_OUTCOMES
    )
    for endpoint in _TIMED_ENDPOINTS:
        when = data.last_success_unix.get(endpoint)
        if when is not None:
            out[ENDPOINT_LAST_SUCCESS].append(
                f'{ENDPOINT_LAST_SUCCESS.name}{{{src},endpoint="{endpoint.value}"}} '
                f"{format_value(when)}\n"
            )


def _interval_lines(
    source: SourceSnapshot, src: str, criteria: Criteria, out: dict[Family, list[str]]
) -> None:
    """The intervals of the endpoints that are on: what PixverseMonitorEndpointFailing
    compares the age of their last success with."""
    for endpoint, on, seconds in (
        (Endpoint.ACCOUNT, source.plans.account_endpoint, criteria.account_interval_seconds),
        (Endpoint.FEATURES, source.plans.features_endpoint, criteria.features_interval_seconds),
    ):
        if on:
            out[ENDPOINT_INTERVAL].append(
                f'{ENDPOINT_INTERVAL.name}{{{src},endpoint="{endpoint.value}"}} '
                f"{format_value(seconds)}\n"
            )
