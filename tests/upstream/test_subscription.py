"""Parsing /v2/account: every field optional, a wrong type is left out and counted, the
services kept bounded, nothing raises whatever the JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.upstream.parse import MAX_NAME_LENGTH
from monitor.upstream.subscription import (
    MAX_SERVICES,
    ServiceAccounts,
    Subscription,
    parse_subscription,
    subscription_state,
    yymmdd_unix,
)
from tests.helpers.jsonvalues import JSON_VALUES

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


ACCOUNT_KEYS = st.sampled_from([*ACCOUNT, "x"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        JSON_VALUES,
        st.dictionaries(ACCOUNT_KEYS, JSON_VALUES, max_size=8),
        st.fixed_dictionaries(
            {"accounts": st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=3)}
        ),
    )
)
def test_any_json_parses_as_a_subscription_without_raising(payload: object) -> None:
    subscription = parse_subscription(payload)
    for counts in subscription.services.values():
        assert all(v is None or v >= 0 for v in counts)


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ({"subscriptionIsActive": True, "sub": "251103"}, "active, renewed 2025-11-03"),
        ({"subscriptionIsActive": False}, "INACTIVE"),
        ({"sub": "250405"}, "state unknown, renewed 2025-04-05"),
    ],
)
def test_the_state_in_words(payload: dict[str, Any], shown: str) -> None:
    """The one way `check` and the status page say it."""
    assert subscription_state(parse_subscription(payload)) == shown
