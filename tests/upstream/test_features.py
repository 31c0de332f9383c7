"""Parsing /features: every field optional, a wrong type is left out and counted, nothing
raises whatever the JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.upstream.features import CreditKind, Plan, format_credits, parse_plan
from monitor.upstream.parse import MAX_NAME_LENGTH
from tests.helpers.jsonvalues import JSON_VALUES

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


def test_a_plan_name_of_the_longest_length_is_kept() -> None:
    name = "P" * MAX_NAME_LENGTH
    assert parse_plan({**FEATURES, "plan_name": name}).name == name


FEATURE_KEYS = st.sampled_from([*FEATURES, "x"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON_VALUES, st.dictionaries(FEATURE_KEYS, JSON_VALUES, max_size=8)))
def test_any_json_parses_as_a_plan_without_raising(payload: object) -> None:
    plan = parse_plan(payload)
    assert plan.credits_left is None or plan.credits_left >= 0
    assert plan.concurrency is None or plan.concurrency >= 0


@pytest.mark.parametrize(
    ("credits", "shown"),
    [
        (0, "0"),
        (12450, "12450"),
        (12457.0, "12457"),
        (2.5, "2.5"),
        (0.125, "0.125"),
        (1e12, "1000000000000"),
    ],
)
def test_credits_read_as_people_write_them(credits: float, shown: str) -> None:
    """The one way alerts, `check` and the status page write credits."""
    assert format_credits(credits) == shown
