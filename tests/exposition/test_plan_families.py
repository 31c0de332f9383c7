"""The subscription and plan families: values, labels, escaping, what is absent without data,
policy labels on pixverse_account_info, and promtool's linter on all of it."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from monitor.config.model import AccountLabel, AccountRule, Thresholds
from monitor.config.policy import Policy
from monitor.errors import Outcome
from monitor.evaluate import evaluate
from monitor.exposition import InternalMetrics, MetricsRenderer
from monitor.snapshot import Criteria, PlanSnapshot, Snapshot, SourceSnapshot
from monitor.upstream import Endpoint
from monitor.upstream.features import CreditKind, Plan
from monitor.upstream.parse import Account, ExpirySource
from monitor.upstream.subscription import ServiceAccounts, Subscription
from tests.helpers import require_binary

NOW = 1_800_000_000.0
TH = Thresholds(timedelta(hours=72), timedelta(hours=24), 0, timedelta(days=7), 50)
RULES = [
    AccountRule(
        "*@studio.io",
        plan_warning=timedelta(days=14),
        min_credits=500,
        labels=(("owner", 'a "b"\\c'), ("team", "studio")),
    ),
    AccountRule("bot@x.io", ignore=True),
]
Key = tuple[str, tuple[tuple[str, str], ...]]


def samples(body: bytes) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = sample.value
    return out


def body() -> bytes:
    accounts = [
        Account("s@studio.io", "1", "s", NOW + 100 * 3600, ExpirySource.EXPIRE_TIME, 6),
        Account("a@x.io", "2", "a", NOW + 100 * 3600, ExpirySource.EXPIRE_TIME, 4),
        Account("bot@x.io", "3", "b", NOW + 100 * 3600, ExpirySource.EXPIRE_TIME, 4),
        Account("new@x.io", "4", "n", None, ExpirySource.NONE, 4),
    ]
    policy = Policy(RULES, TH)
    evaluation = evaluate(accounts, None, TH, AccountLabel.EMAIL, NOW, policy=policy)
    plans = PlanSnapshot(
        subscription=Subscription(
            False,
            datetime(2025, 4, 5, tzinfo=UTC).timestamp(),
            1,
            3,
            {
                "PixVerse API": ServiceAccounts(3, 2, 1),
                'Odd "API"': ServiceAccounts(None, 1, 0),
            },
            {},
        ),
        plans={
            "s@studio.io": Plan(
                'Premium "Monthly"',
                {CreditKind.DAILY: 0, CreditKind.MONTHLY: 12450, CreditKind.PACKAGE: 2.5},
                NOW + 30 * 86400,
                5,
                False,
            ),
            "a@x.io": Plan(None, {}, None, None, True),
            "bot@x.io": Plan("Pro", {CreditKind.DAILY: 1}, NOW, 1, False),  # ignored
        },
        unknown_plans=frozenset({"new@x.io"}),
        requests_total={
            (Endpoint.FEATURES, Outcome.SUCCESS): 7,
            (Endpoint.ACCOUNT, Outcome.TIMEOUT): 2,
        },
        last_success_unix={Endpoint.FEATURES: NOW - 5},
        refreshes={"s@studio.io": 3, "bot@x.io": 9},
    )
    source = SourceSnapshot("s1", evaluation, True, Outcome.SUCCESS, NOW, 0.1, {}, NOW, plans)
    return MetricsRenderer(InternalMetrics(process=False)).render(Snapshot((source,), NOW), NOW)


def test_every_subscription_and_plan_family() -> None:
    got = samples(body())
    s = (("source", "s1"),)
    assert got[("pixverse_useapi_subscription_active", s)] == 0
    assert got[("pixverse_useapi_subscription_renewed_timestamp_seconds", s)] == 1743811200
    for state, value in (("total", 3), ("active", 2), ("error", 1)):
        key = (*s[:0], ("service", "PixVerse API"), ("source", "s1"), ("state", state))
        assert got[("pixverse_useapi_accounts", key)] == value
    odd = [
        k for k in got if k[0] == "pixverse_useapi_accounts" and ("service", 'Odd "API"') in k[1]
    ]
    assert len(odd) == 2  # total unknown: left out
    studio = (("account", "s@studio.io"), ("source", "s1"))
    assert got[("pixverse_account_plan_expiry_timestamp_seconds", studio)] == NOW + 30 * 86400
    assert (
        got[
            (
                "pixverse_account_plan_info",
                (*studio[:1], ("plan", 'Premium "Monthly"'), *studio[1:]),
            )
        ]
        == 1
    )
    for kind, left in (("daily", 0), ("monthly", 12450), ("package", 2.5)):
        assert got[("pixverse_account_credits", (*studio[:1], ("kind", kind), *studio[1:]))] == left
    assert got[("pixverse_account_plan_concurrency", studio)] == 5
    assert got[("pixverse_account_plan_lapsed", studio)] == 0
    assert got[("pixverse_account_plan_warning_seconds", studio)] == 14 * 86400
    assert got[("pixverse_account_min_credits", studio)] == 500
    assert got[("pixverse_account_token_refreshes_total", studio)] == 3
    a = (("account", "a@x.io"), ("source", "s1"))
    assert got[("pixverse_account_plan_lapsed", a)] == 1
    assert got[("pixverse_account_plan_warning_seconds", a)] == 7 * 86400  # the global one
    assert got[("pixverse_account_min_credits", a)] == 50
    assert got[("pixverse_account_token_refreshes_total", a)] == 0
    for name in ("plan_expiry_timestamp_seconds", "plan_concurrency"):
        assert (f"pixverse_account_{name}", a) not in got  # unknown: absent
    assert not [
        k for k in got if k[0] == "pixverse_account_credits" and ("account", "a@x.io") in k[1]
    ]
    # An account /features does not know has no plan series at all, but its refreshes.
    new = (("account", "new@x.io"), ("source", "s1"))
    assert [k[0] for k in got if ("account", "new@x.io") in k[1] and "plan" in k[0]] == []
    assert got[("pixverse_account_token_refreshes_total", new)] == 0
    # An ignored account is not exported at all.
    assert not [k for k in got if ("account", "bot@x.io") in k[1]]
    # Requests: every endpoint and outcome from 0.
    requests = {k: v for k, v in got.items() if k[0] == "pixverse_monitor_requests_total"}
    assert len(requests) == 4 * 8
    assert (
        requests[
            (
                "pixverse_monitor_requests_total",
                (("endpoint", "features"), ("outcome", "success"), ("source", "s1")),
            )
        ]
        == 7
    )
    assert (
        requests[
            (
                "pixverse_monitor_requests_total",
                (("endpoint", "account"), ("outcome", "timeout"), ("source", "s1")),
            )
        ]
        == 2
    )
    assert sum(requests.values()) == 9
    last = "pixverse_monitor_endpoint_last_success_timestamp_seconds"
    assert got[(last, (("endpoint", "features"), ("source", "s1")))] == NOW - 5
    assert (last, (("endpoint", "account"), ("source", "s1"))) not in got


def test_the_interval_of_each_endpoint_that_is_on() -> None:
    """What PixverseMonitorEndpointFailing compares the age of the last success with: the
    configured intervals, for the endpoints a source has on, and nothing without criteria."""
    accounts = [Account("a@x.io", "", "", NOW + 3600, ExpirySource.EXPIRE_TIME, 4)]
    evaluation = evaluate(accounts, None, TH, AccountLabel.EMAIL, NOW)
    both = SourceSnapshot("both", evaluation, True, Outcome.SUCCESS, NOW, 0.1, {}, NOW)
    off = PlanSnapshot(features_endpoint=False)
    account_only = SourceSnapshot("acct", evaluation, True, Outcome.SUCCESS, NOW, 0.1, {}, NOW, off)
    criteria = Criteria(
        0, 900.0, account_interval_seconds=7200.0, features_interval_seconds=21600.0
    )
    got = samples(MetricsRenderer().render(Snapshot((both, account_only), NOW, criteria), NOW))
    name = "pixverse_monitor_endpoint_interval_seconds"
    intervals = {k[1]: v for k, v in got.items() if k[0] == name}
    assert intervals == {
        (("endpoint", "account"), ("source", "both")): 7200.0,
        (("endpoint", "features"), ("source", "both")): 21600.0,
        (("endpoint", "account"), ("source", "acct")): 7200.0,
    }
    unlimited = samples(MetricsRenderer().render(Snapshot((both,), NOW), NOW))
    assert name not in {k[0] for k in unlimited}


def test_policy_labels_ride_on_pixverse_account_info() -> None:
    got = samples(body())
    (studio,) = [
        dict(k[1])
        for k in got
        if k[0] == "pixverse_account_info" and ("account", "s@studio.io") in k[1]
    ]
    assert studio["team"] == "studio"
    assert studio["owner"] == 'a "b"\\c'
    (plain,) = [
        dict(k[1]) for k in got if k[0] == "pixverse_account_info" and ("account", "a@x.io") in k[1]
    ]
    assert set(plain) == {"source", "account", "account_id", "username", "expiry_source"}


def test_a_source_without_subscription_or_plan_data_shows_only_its_counters() -> None:
    accounts = [Account("a@x.io", "", "", NOW + 3600, ExpirySource.EXPIRE_TIME, 4)]
    evaluation = evaluate(accounts, None, TH, AccountLabel.EMAIL, NOW)
    source = SourceSnapshot("s1", evaluation, True, Outcome.SUCCESS, NOW, 0.1, {}, NOW)
    got = samples(MetricsRenderer().render(Snapshot((source,), NOW), NOW))
    names = {k[0] for k in got}
    assert "pixverse_useapi_subscription_active" not in names
    assert "pixverse_account_plan_info" not in names
    assert "pixverse_monitor_endpoint_last_success_timestamp_seconds" not in names
    assert (
        got[("pixverse_account_token_refreshes_total", (("account", "a@x.io"), ("source", "s1")))]
        == 0
    )
    assert "pixverse_monitor_requests_total" in names


def test_promtool_finds_nothing_to_lint() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=body(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, b"")
