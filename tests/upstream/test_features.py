"""Parsing /features and /v2/account: every field optional, a wrong type is left out and
counted, nothing raises whatever the JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.upstream.features import CreditKind, Plan, parse_plan
from monitor.upstream.parse import MAX_NAME_LENGTH
from monitor.upstream.subscription import (
    MAX_SERVICES,
    ServiceAccounts,
    Subscription,
    parse_subscription,
    yymmdd_unix,
)

T = 1_800_000_000  # 2027-01-15T08:00:00Z
ISO = "2027-01-15T08:00:00Z"

# The documented example of /features, verbatim.
FEATURES = {
    "plan_name": "Premium - Monthly",
    "credit_daily": 0,
    "credit_daily_gift": 60,
    "credit_monthly": 12450,
    "credit_monthly_gift": 15000,
    "credit_package": 0,
    "expired_date": "2026-07-23T00:48:50Z",
    "billing_renewal_date": "2026-07-23T00:48:50Z",
    "gen_simultaneously": 5,
    "expired_member": 0,
    "remaining_days": 30,
    "credits_refresh_time": "2026-07-23T00:48:56Z",
    "daily_credits_refresh_time": "2026-06-25T00:00:00Z",
}
# The documented example of /v2/account, verbatim.
ACCOUNT = {
    "id": 12345,
    "subscriptionIsActive": True,
    "subscriptions": 1,
    "maxAccountsPerAPI": 3,
    "accounts": {
        "PixVerse API": {"total": 3, "active": 2, "error": 1},
        "MiniMax API": {"total": 3, "active": 3},
    },
    "sub": "250405",
}


def test_the_documented_features_example() -> None:
    plan = parse_plan(FEATURES)
    assert plan == Plan(
        "Premium - Monthly",
        {CreditKind.DAILY: 0, CreditKind.MONTHLY: 12450, CreditKind.PACKAGE: 0},
        datetime(2026, 7, 23, 0, 48, 50, tzinfo=UTC).timestamp(),
        5,
        False,
    )
    assert plan.credits_left == 12450
    assert parse_plan({}) == Plan(None, {}, None, None, None)
    assert parse_plan({}).credits_left is None


@pytest.mark.parametrize(
    ("field", "value", "read"),
    [
        ("plan_name", "Pro", ("name", "Pro")),
        ("expired_date", ISO, ("expires_unix", T)),
        ("expired_date", "2027-01-15T10:00:00+02:00", ("expires_unix", T)),
        ("expired_date", "2027-01-15T08:00:00", ("expires_unix", T)),  # naive means UTC
        ("gen_simultaneously", 0, ("concurrency", 0)),
        ("gen_simultaneously", 8, ("concurrency", 8)),
        ("expired_member", 1, ("lapsed", True)),
        ("expired_member", True, ("lapsed", True)),
        ("expired_member", 0, ("lapsed", False)),
        ("credit_package", 12.5, ("credits_left", 12.5)),
    ],
)
def test_each_field(field: str, value: Any, read: tuple[str, Any]) -> None:
    plan = parse_plan({field: value})
    assert getattr(plan, read[0]) == read[1]
    assert plan.invalid == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan_name", 5),
        ("plan_name", "  "),
        ("credit_daily", "100"),
        ("credit_daily", -1),
        ("credit_monthly", True),
        ("credit_package", float("nan")),
        ("credit_package", 1e300),
        ("credit_package", 10**40),
        ("expired_date", "next week"),
        ("expired_date", 1_800_000_000),
        ("expired_date", "9999-12-31T23:59:59-23:59"),  # past the last datetime
        ("expired_date", "1969-01-01T00:00:00Z"),
        ("gen_simultaneously", "5"),
        ("gen_simultaneously", -1),
        ("gen_simultaneously", 5.0),
        ("gen_simultaneously", 10**30),
        ("expired_member", 2),
        ("expired_member", "1"),
        # Names are capped as every name read from upstream is: a 2 MiB plan name made a
        # 42 MB /metrics, an 84 MB state file and an 8.4 MB webhook with 20 accounts.
        ("plan_name", "P" * (MAX_NAME_LENGTH + 1)),
        ("plan_name", "P" * 2 * 1024 * 1024),
        ("plan_name", ""),
    ],
)
def test_a_wrong_value_is_left_out_and_counted(field: str, value: Any) -> None:
    plan = parse_plan({**FEATURES, field: value})
    assert plan.invalid == (field,)
    assert plan.error is None
    good = parse_plan(FEATURES)
    # Only that field is lost.
    for name in ("name", "expires_unix", "concurrency", "lapsed"):
        if getattr(plan, name) != getattr(good, name):
            assert getattr(plan, name) is None
    assert set(plan.credits) <= set(good.credits)


@pytest.mark.parametrize("payload", [[], "x", 3, None, True, [FEATURES]])
def test_a_features_body_that_is_not_an_object_is_an_error(payload: object) -> None:
    plan = parse_plan(payload)
    assert plan.error is not None
    assert plan.credits == {}


def test_the_documented_account_example() -> None:
    assert parse_subscription(ACCOUNT) == Subscription(
        True,
        datetime(2025, 4, 5, tzinfo=UTC).timestamp(),
        1,
        3,
        {
            "PixVerse API": ServiceAccounts(3, 2, 1),
            "MiniMax API": ServiceAccounts(3, 3, 0),  # error absent means 0
        },
        {},
    )
    assert parse_subscription({}) == Subscription(None, None, None, None, {}, {})


@pytest.mark.parametrize(
    ("change", "invalid"),
    [
        ({"subscriptionIsActive": 1}, "subscriptionIsActive"),
        ({"subscriptionIsActive": "true"}, "subscriptionIsActive"),
        ({"sub": 250405}, "sub"),
        ({"sub": "25-04-05"}, "sub"),
        ({"sub": "251305"}, "sub"),  # month 13
        ({"sub": "250230"}, "sub"),  # 30 February
        ({"sub": "\uff12\uff15\uff10\uff14\uff10\uff15"}, "sub"),  # digits, not ASCII ones
        ({"subscriptions": -1}, "subscriptions"),
        ({"maxAccountsPerAPI": "3"}, "maxAccountsPerAPI"),
        ({"maxAccountsPerAPI": 10**20}, "maxAccountsPerAPI"),
        ({"accounts": []}, "accounts"),
        ({"accounts": {"PixVerse API": 3}}, "accounts"),
        ({"accounts": {"PixVerse API": {"total": "3"}}}, "accounts.total"),
        ({"accounts": {"PixVerse API": {"active": None, "error": 1.5}}}, "accounts.error"),
    ],
)
def test_a_wrong_account_value_is_left_out_and_counted(
    change: dict[str, Any], invalid: str
) -> None:
    subscription = parse_subscription({**ACCOUNT, **change})
    assert subscription.invalid == {invalid: 1}
    assert subscription.error is None


def test_a_plan_name_of_the_longest_length_is_kept() -> None:
    name = "P" * MAX_NAME_LENGTH
    assert parse_plan({**FEATURES, "plan_name": name}).name == name


def test_service_names_are_capped_like_every_upstream_name() -> None:
    long = "S" * (MAX_NAME_LENGTH + 1)
    services = {long: {"total": 1}, "": {"total": 1}, "PixVerse API": {"total": 3}}
    subscription = parse_subscription({"accounts": services})
    assert list(subscription.services) == ["PixVerse API"]
    assert subscription.invalid == {"accounts.service": 2}


def test_services_are_kept_to_a_bounded_set_pixverse_first() -> None:
    """150,000 keys in `accounts` were 450,002 series; now at most MAX_SERVICES services,
    PixVerse's among them wherever it stands, and the others first by name (the same ones
    from one answer to the next)."""
    names = [f"Service {n:06d}" for n in range(150_000)]
    services: dict[str, Any] = {name: {"total": 1, "active": 1} for name in reversed(names)}
    services["PixVerse API"] = {"total": 3, "active": 2, "error": 1}
    subscription = parse_subscription({"accounts": services})
    assert len(subscription.services) == MAX_SERVICES
    assert subscription.services["PixVerse API"] == ServiceAccounts(3, 2, 1)
    assert sorted(set(subscription.services) - {"PixVerse API"}) == names[: MAX_SERVICES - 1]
    assert subscription.services_dropped == 150_001 - MAX_SERVICES
    assert subscription.invalid == {}
    # A few services are all kept, in upstream's order.
    few = parse_subscription(ACCOUNT)
    assert list(few.services) == ["PixVerse API", "MiniMax API"]
    assert few.services_dropped == 0


def test_a_broken_error_count_is_unknown_not_zero() -> None:
    services = parse_subscription({"accounts": {"PixVerse API": {"error": "many"}}}).services
    assert services["PixVerse API"] == ServiceAccounts(None, None, None)


@pytest.mark.parametrize("payload", [[], "x", 3, None, [ACCOUNT]])
def test_an_account_body_that_is_not_an_object_is_an_error(payload: object) -> None:
    assert parse_subscription(payload).error is not None


@pytest.mark.parametrize(
    ("text", "day"),
    [("250405", (2025, 4, 5)), ("000101", (2000, 1, 1)), ("991231", (2099, 12, 31))],
)
def test_sub_is_midnight_utc(text: str, day: tuple[int, int, int]) -> None:
    assert yymmdd_unix(text) == datetime(*day, tzinfo=UTC).timestamp()


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=25,
)
FEATURE_KEYS = st.sampled_from([*FEATURES, "x"])
ACCOUNT_KEYS = st.sampled_from([*ACCOUNT, "x"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(FEATURE_KEYS, JSON, max_size=8)))
def test_any_json_parses_as_a_plan_without_raising(payload: object) -> None:
    plan = parse_plan(payload)
    assert plan.credits_left is None or plan.credits_left >= 0
    assert plan.concurrency is None or plan.concurrency >= 0


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        JSON,
        st.dictionaries(ACCOUNT_KEYS, JSON, max_size=8),
        st.fixed_dictionaries({"accounts": st.dictionaries(st.text(max_size=5), JSON, max_size=3)}),
    )
)
def test_any_json_parses_as_a_subscription_without_raising(payload: object) -> None:
    subscription = parse_subscription(payload)
    for counts in subscription.services.values():
        assert all(v is None or v >= 0 for v in counts)
