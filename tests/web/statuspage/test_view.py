"""The status page's view model, pure: a snapshot, the firing alerts, the recent deliveries and
the configuration's facts at `now`, to plain rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from monitor.alerts import DeliveryRecord, FiringAlert, Subject
from monitor.alerts.alert import Alert, AlertName
from monitor.config import AccountLabel, AccountRule, Policy, Severity, Thresholds
from monitor.errors import DeliveryFailure, DeliveryOutcome, Outcome
from monitor.evaluate import evaluate
from monitor.snapshot import Criteria, PerSnapshot, PlanSnapshot, Snapshot, SourceSnapshot
from monitor.upstream import CreditKind, Plan, ServiceAccounts, Subscription
from monitor.upstream.parse import Account, AccountCapacity, ExpirySource
from monitor.web.statuspage import (
    MAX_ROWS,
    PageFacts,
    PageInputs,
    StatusView,
    account_table,
    build_view,
)

NOW = 1_800_000_000.0
HOUR = 3600.0
DAY = 86400.0
THRESHOLDS = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)
STALE_AFTER = 900.0
FACTS = PageFacts("9.9.9", "https://monitor.example", ("ops", "chat"))


def account(email: str, ttl: float | None, max_jobs: int = 4) -> Account:
    expiry = NOW + ttl if ttl is not None else None
    source = ExpirySource.EXPIRE_TIME if ttl is not None else ExpirySource.NONE
    return Account(email, "", "", expiry, source, max_jobs)


def source(
    name: str,
    accounts: Sequence[Account] = (),
    *,
    capacity: dict[str, AccountCapacity] | None = None,
    plans: PlanSnapshot | None = None,
    rules: tuple[AccountRule, ...] = (),
    last_outcome: Outcome | None = Outcome.SUCCESS,
    up: bool = True,
    success_age: float | None = 60.0,
) -> SourceSnapshot:
    policy = Policy(rules, THRESHOLDS)
    evaluation = (
        evaluate(accounts, capacity, THRESHOLDS, AccountLabel.EMAIL, NOW, policy=policy)
        if success_age is not None
        else None
    )
    return SourceSnapshot(
        name,
        evaluation,
        up,
        last_outcome,
        NOW - success_age if success_age is not None else None,
        0.2,
        plans=plans or PlanSnapshot(),
        # The snapshots below are taken at NOW and monotonic 0.
        last_success_mono=-success_age if success_age is not None else None,
    )


def view(
    *sources: SourceSnapshot,
    firing: Sequence[FiringAlert] = (),
    deliveries: dict[str, tuple[DeliveryRecord, ...]] | None = None,
    min_usable_capacity: int = 0,
) -> StatusView:
    snapshot = Snapshot(tuple(sources), NOW, Criteria(min_usable_capacity, STALE_AFTER))
    return build_view(snapshot, PageInputs(firing, deliveries or {}, FACTS), NOW)


def test_accounts_are_ordered_by_urgency_then_soonest_expiry_across_sources() -> None:
    got = view(
        source(
            "a",
            [
                account("ok-far@x.io", 30 * DAY),
                account("unknown@x.io", None),
                account("warn@x.io", 2 * DAY),
                account("expired-long@x.io", -5 * DAY),
                account("ok-near@x.io", 4 * DAY),
            ],
        ),
        source(
            "b",
            [
                account("crit@x.io", 5 * HOUR),
                account("expired-just@x.io", -HOUR),
                account("crit-sooner@x.io", HOUR),
                account("unknown@x.io", None),
            ],
        ),
    )
    assert [(r.state, r.account, r.source) for r in got.accounts] == [
        ("expired", "expired-long@x.io", "a"),
        ("expired", "expired-just@x.io", "b"),
        ("critical", "crit-sooner@x.io", "b"),
        ("critical", "crit@x.io", "b"),
        ("warning", "warn@x.io", "a"),
        ("unknown", "unknown@x.io", "a"),
        ("unknown", "unknown@x.io", "b"),
        ("ok", "ok-near@x.io", "a"),
        ("ok", "ok-far@x.io", "a"),
    ]
    assert (got.total_accounts, got.more_accounts) == (9, 0)


@pytest.mark.parametrize(
    ("count", "shown", "more"), [(0, 0, 0), (MAX_ROWS, MAX_ROWS, 0), (250, MAX_ROWS, 50)]
)
def test_past_200_accounts_the_most_urgent_are_shown_and_the_rest_counted(
    count: int, shown: int, more: int
) -> None:
    # Every tenth is expired: those must all be among the rows shown.
    accounts = [
        account(f"u{i:04d}@x.io", -HOUR - i if i % 10 == 0 else 10 * DAY + i) for i in range(count)
    ]
    got = view(source("main", accounts))
    assert (len(got.accounts), got.more_accounts, got.total_accounts) == (shown, more, count)
    assert len(got.entries) == count  # the JSON twin has them all
    expired = [r for r in got.accounts if r.state == "expired"]
    assert len(expired) == (count + 9) // 10
    assert got.accounts[: len(expired)] == tuple(expired)


@pytest.mark.parametrize(
    ("last_outcome", "up", "success_age", "health", "stale", "last_success"),
    [
        (None, False, None, "waiting for the first poll", False, "never"),
        (Outcome.SUCCESS, True, 65.0, "up", False, "1m 5s ago (2027-01-15 07:58 UTC)"),
        (Outcome.SUCCESS, True, STALE_AFTER, "up", False, "15m 0s ago (2027-01-15 07:45 UTC)"),
        (Outcome.SUCCESS, True, STALE_AFTER + 1, "up", True, "15m 1s ago (2027-01-15 07:44 UTC)"),
        (
            Outcome.TIMEOUT,
            False,
            300.0,
            "down (timeout)",
            False,
            "5m 0s ago (2027-01-15 07:55 UTC)",
        ),
        (Outcome.UNAUTHORIZED, False, None, "down (unauthorized)", True, "never"),
        (Outcome.CAPACITY_UNAVAILABLE, True, 10.0, "up", False, "10s ago (2027-01-15 07:59 UTC)"),
    ],
)
def test_a_source_says_up_or_down_and_is_stale_past_stale_after(
    last_outcome: Outcome | None,
    up: bool,
    success_age: float | None,
    health: str,
    stale: bool,
    last_success: str,
) -> None:
    got = view(source("main", [], last_outcome=last_outcome, up=up, success_age=success_age))
    (shown,) = got.sources
    assert (shown.health, shown.stale, shown.last_success) == (health, stale, last_success)
    assert bool(shown.stale_note) == stale
    if stale:
        assert shown.stale_note == "no successful poll for over 15m 0s"
        assert got.status == "critical" and "source down: main" in got.headline


@pytest.mark.parametrize(
    ("ttl", "expires_at", "time_left"),
    [
        (2 * DAY + 3 * HOUR + 59, "2027-01-17 11:00 UTC", "2d 3h"),
        (5 * HOUR + 12 * 60, "2027-01-15 13:12 UTC", "5h 12m"),
        (42.0, "2027-01-15 08:00 UTC", "42s"),
        (-(3 * HOUR + 5 * 60), "2027-01-15 04:55 UTC", "expired 3h 5m ago"),
        (None, "unknown", "unknown"),
    ],
)
def test_expiry_and_time_left_in_words(ttl: float | None, expires_at: str, time_left: str) -> None:
    (row,) = view(source("main", [account("a@x.io", ttl)])).accounts
    assert (row.expires_at, row.time_left) == (expires_at, time_left)


PREMIUM = Plan(
    "Premium", {CreditKind.DAILY: 10.0, CreditKind.MONTHLY: 2.5}, NOW + 20 * DAY, 8, False
)
LAPSED = Plan(None, {}, NOW - DAY, None, True)


@pytest.mark.parametrize(
    ("plans", "plan", "plan_ends", "credits"),
    [
        (PlanSnapshot(), "-", "-", "-"),  # not read yet (or /features is off)
        (PlanSnapshot(unknown_plans=frozenset({"a@x.io"})), "unknown account", "-", "-"),
        (PlanSnapshot(plans={"a@x.io": PREMIUM}), "Premium", "2027-02-04", "12.5"),
        (PlanSnapshot(plans={"a@x.io": LAPSED}), "?", "2027-01-14 (lapsed)", "-"),
    ],
)
def test_the_plan_columns(plans: PlanSnapshot, plan: str, plan_ends: str, credits: str) -> None:
    (row,) = view(source("main", [account("a@x.io", 10 * DAY)], plans=plans)).accounts
    assert (row.plan, row.plan_ends, row.credits) == (plan, plan_ends, credits)


def test_capacity_and_policy_labels_of_an_account() -> None:
    rules = (AccountRule("*@studio.io", labels=(("team", "studio"), ("tier", "gold"))),)
    got = view(
        source(
            "main",
            [account("a@studio.io", 10 * DAY, max_jobs=5), account("b@x.io", 10 * DAY)],
            capacity={"a@studio.io": AccountCapacity(2, 3)},
            rules=rules,
        ),
        min_usable_capacity=10,
    )
    rows = {r.account: r for r in got.accounts}
    assert (rows["a@studio.io"].jobs, rows["a@studio.io"].labels) == (
        "2/3",
        "team=studio, tier=gold",
    )
    assert (rows["b@x.io"].jobs, rows["b@x.io"].labels) == ("-", "")
    (shown,) = got.sources
    assert (shown.usable_capacity, shown.free_capacity, shown.capacity_low) == (9, 3, True)
    assert got.status == "warning"


def test_the_subscription_header_puts_pixverse_first() -> None:
    subscription = Subscription(
        True,
        NOW - 10 * DAY,
        1,
        3,
        {
            "MiniMax API": ServiceAccounts(1, 1, 0),
            "PixVerse API": ServiceAccounts(4, 3, 1),
        },
        {},
    )
    got = view(source("main", [], plans=PlanSnapshot(subscription=subscription)))
    (shown,) = got.sources
    assert shown.subscription_text == "active, renewed 2027-01-05"
    assert [tuple(s) for s in shown.services] == [
        ("PixVerse API", "4", "3", "1"),
        ("MiniMax API", "1", "1", "0"),
    ]


def firing(name: AlertName, severity: Severity, account: str, since: float) -> FiringAlert:
    alert = Alert(
        name, severity, "main", account, f"{name.value} {account}", "", {}, (("team", "t"),)
    )
    return FiringAlert(alert, NOW - since, NOW, severity)


def test_firing_alerts_critical_first_then_oldest() -> None:
    got = view(
        source("main", []),
        firing=[
            firing(AlertName.EXPIRY_UNKNOWN, Severity.WARNING, "u@x.io", 7200),
            firing(AlertName.EXPIRED, Severity.CRITICAL, "b@x.io", 60),
            firing(AlertName.SOURCE_DOWN, Severity.CRITICAL, "", 3 * HOUR + 300),
        ],
    )
    assert [(a.alertname, a.account, a.duration) for a in got.alerts] == [
        ("PixverseSourceDown", "", "3h 5m"),
        ("PixverseTokenExpired", "b@x.io", "1m 0s"),
        ("PixverseTokenExpiryUnknown", "u@x.io", "2h 0m"),
    ]
    first = got.alerts[0]
    assert first.since == "2027-01-15 04:55 UTC"
    assert dict(first.labels) == {
        "alertname": "PixverseSourceDown",
        "severity": "critical",
        "source": "main",
        "team": "t",
    }
    assert first.policy_labels == "team=t"
    assert got.status == "critical"
    assert got.headline == "CRITICAL: no accounts, 3 alerts firing"


def test_recent_deliveries_per_configured_sink_in_words() -> None:
    one = Subject("firing", "PixverseTokenExpired", "critical", "main", "a@x.io")
    many = Subject("resend", "", "critical", "main", "", alerts=3)
    down = Subject("resolved", "PixverseSourceDown", "critical", "main", "")
    records = (
        DeliveryRecord(
            NOW - 5, "ops", one, DeliveryOutcome.RETRIED, DeliveryFailure.HTTP_5XX, "HTTP 503"
        ),
        DeliveryRecord(NOW - 65, "ops", many, DeliveryOutcome.DELIVERED, None, None),
        DeliveryRecord(
            NOW - 70, "ops", down, DeliveryOutcome.DROPPED, DeliveryFailure.HTTP_4XX, None
        ),
    )
    got = view(source("main", []), deliveries={"ops": records, "gone": records})
    assert [name for name, _ in got.sinks] == ["ops", "chat"]  # the configured ones, in order
    ops = got.sinks[0][1]
    assert [(d.what, d.outcome, d.why, d.ago) for d in ops] == [
        ("PixverseTokenExpired (critical) a@x.io: firing", "retried", "http_5xx: HTTP 503", "5s"),
        ("re-send of 3 firing alerts", "delivered", "", "1m 5s"),
        ("PixverseSourceDown (critical) source main: resolved", "dropped", "http_4xx", "1m 10s"),
    ]
    assert ops[0].at == "2027-01-15 07:59:55 UTC"
    assert got.sinks[1] == ("chat", ())


@pytest.mark.parametrize(
    ("sources", "status", "headline"),
    [
        ((source("main", [account("a@x.io", 10 * DAY)]),), "ok", "OK: 1 ok"),
        ((source("main", [account("a@x.io", None)]),), "unknown", "UNKNOWN: 1 unknown"),
        (
            (source("main", [], last_outcome=None, up=False, success_age=None),),
            "unknown",
            "UNKNOWN: no accounts",
        ),
        ((source("main", [account("a@x.io", 2 * DAY)]),), "warning", "WARNING: 1 warning"),
        (
            (
                source(
                    "main", [account("a@x.io", 10 * DAY)], last_outcome=Outcome.TIMEOUT, up=False
                ),
            ),
            "warning",
            "WARNING: 1 ok, source down: main",
        ),
        (
            (source("main", [account("a@x.io", -1), account("b@x.io", 2 * DAY)]),),
            "critical",
            "CRITICAL: 1 expired, 1 warning",
        ),
    ],
)
def test_the_status_word_is_the_worst_of_what_the_page_shows(
    sources: tuple[SourceSnapshot, ...], status: str, headline: str
) -> None:
    got = view(*sources)
    assert (got.status, got.headline) == (status, headline)


def test_the_account_table_is_made_once_per_snapshot_and_the_time_left_at_each_render() -> None:
    snapshot = Snapshot((source("main", [account("a@x.io", HOUR + 30)]),), NOW, None)
    tables = PerSnapshot(account_table)
    table = tables.of(snapshot)
    assert tables.of(snapshot) is table
    inputs = PageInputs((), {}, FACTS)
    (now,) = build_view(snapshot, inputs, NOW, table).accounts
    (later,) = build_view(snapshot, inputs, NOW + 60, table).accounts
    assert (now.time_left, later.time_left) == ("1h 0m", "59m 30s")
    assert now._replace(time_left="") == later._replace(time_left="")
    polled = Snapshot(snapshot.sources, NOW + 60, None)  # a poll: a new snapshot object
    assert tables.of(polled) is not table


def test_staleness_is_judged_on_the_monotonic_clock_as_readyz_judges_it() -> None:
    """A step of the wall clock makes the last success look a day old (or in the future);
    the page says stale only when /readyz does: by the monotonic clock."""
    stepped = replace(source("main", [], success_age=60.0), last_success_unix=NOW - 86_400)
    (shown,) = view(stepped).sources
    assert not shown.stale
    late = replace(source("main", [], success_age=60.0), last_success_mono=-STALE_AFTER - 1)
    (shown,) = view(late).sources
    assert shown.stale
