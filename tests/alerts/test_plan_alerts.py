"""The subscription and plan alerts on a fake clock: subscription, accounts in error, plan end,
credits, maxJobs above the plan; policy labels and thresholds; restart safety; crossings on time."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from monitor.alerts.engine import (
    AlertEvent,
    AlertStatus,
    Reason,
    next_wake,
)
from monitor.alerts.outbox import Notification
from monitor.alerts.statefile import FILE_NAME, StateFile
from monitor.config.model import AccountRule, Severity
from monitor.snapshot import PlanSnapshot
from monitor.upstream.features import CreditKind, Plan
from monitor.upstream.parse import Account, ExpirySource
from monitor.upstream.subscription import ServiceAccounts, Subscription
from tests.helpers.world import SETTINGS, START, THRESHOLDS, H, World

DAY = 24 * H


def account(email: str, max_jobs: int = 4) -> Account:
    return Account(email, "", "", START + 100 * DAY, ExpirySource.EXPIRE_TIME, max_jobs)


def plan(
    ends: float | None = START + 30 * DAY,
    *,
    credits: dict[CreditKind, float] | None = None,
    concurrency: int | None = 8,
    lapsed: bool | None = False,
) -> Plan:
    if credits is None:
        credits = {CreditKind.MONTHLY: 1000}
    return Plan("Pro", credits, ends, concurrency, lapsed)


def subscription(active: bool | None = True, error: int | None = 0) -> Subscription:
    services = {
        "PixVerse API": ServiceAccounts(3, 3, error),
        "MiniMax API": ServiceAccounts(3, 3, 9),
    }
    return Subscription(active, START - 10 * DAY, 1, 3, services, {})


def one_source(accounts: list[Account], rules: list[AccountRule] | None = None) -> World:
    """One source, its subscription active and none of its accounts in error."""
    return World(accounts, rules, plans=PlanSnapshot(subscription()))


def summary(events: list[AlertEvent]) -> list[tuple[str, str, str, str]]:
    return sorted(
        (e.status.value, e.alert.name.value, e.alert.severity.value, e.alert.account)
        for e in events
    )


def test_a_healthy_source_raises_nothing() -> None:
    world = one_source([account("a@x.io"), account("b@x.io", max_jobs=8)])
    world.with_plans(a=plan(), b=plan())
    assert world.step() == []


def test_subscription_inactive_fires_critical_and_resolves() -> None:
    world = one_source([account("a@x.io")])
    world.plans = PlanSnapshot(subscription(active=False))
    (event,) = world.step()
    alert = event.alert
    assert (alert.name.value, alert.severity, alert.account) == (
        "PixverseUseapiSubscriptionInactive",
        Severity.CRITICAL,
        "",
    )
    assert alert.labels == {
        "alertname": "PixverseUseapiSubscriptionInactive",
        "severity": "critical",
        "source": "main",
    }
    assert "inactive" in alert.summary
    assert alert.annotations["renewed_at"] == "2027-01-05T08:00:00Z"
    # Unknown (field absent) is not inactive.
    world.plans = PlanSnapshot(subscription(active=None))
    assert summary(world.step()) == [
        ("resolved", "PixverseUseapiSubscriptionInactive", "critical", "")
    ]


def test_accounts_in_error_counts_only_pixverse() -> None:
    world = one_source([account("a@x.io")])
    world.plans = PlanSnapshot(subscription(error=2))
    (event,) = world.step()
    assert (event.alert.name.value, event.alert.severity) == (
        "PixverseUseapiAccountsInError",
        Severity.WARNING,
    )
    assert event.alert.annotations["error"] == "2"
    assert "2 PixVerse account(s)" in event.alert.summary
    world.plans = PlanSnapshot(subscription(error=0))
    assert summary(world.step()) == [("resolved", "PixverseUseapiAccountsInError", "warning", "")]
    world.plans = PlanSnapshot(subscription(error=None))  # unusable count: no verdict of error
    assert world.step() == []


def test_subscription_alerts_hold_without_account_data() -> None:
    world = one_source([account("a@x.io")])
    world.has_data = False
    world.plans = PlanSnapshot(subscription(active=False))
    assert summary(world.step()) == [
        ("firing", "PixverseUseapiSubscriptionInactive", "critical", "")
    ]


def test_a_plan_walks_into_its_warning_window_lapses_and_is_renewed() -> None:
    ends = START + 10 * DAY
    world = one_source([account("a@x.io")])
    world.with_plans(a=plan(ends))
    assert world.step() == []
    world.clock.set(ends - 7 * DAY)  # plan_warning: exactly at the boundary
    (event,) = world.step()
    assert (event.alert.name.value, event.alert.severity) == (
        "PixversePlanExpiringSoon",
        Severity.WARNING,
    )
    assert event.alert.summary == "PixVerse plan of a@x.io ends in 7d 0h"
    assert event.alert.annotations["plan_expires_at"] == "2027-01-25T08:00:00Z"
    assert event.alert.annotations["plan"] == "Pro"
    world.clock.set(ends)  # the plan ends
    (event,) = world.step()
    assert (event.reason.value, event.alert.severity) == ("severity_changed", Severity.CRITICAL)
    assert event.alert.summary == "PixVerse plan of a@x.io has lapsed"
    world.with_plans(a=plan(ends + 30 * DAY))  # renewed
    assert summary(world.step()) == [("resolved", "PixversePlanExpiringSoon", "critical", "a@x.io")]


def test_expired_member_is_critical_whatever_the_end_date() -> None:
    world = one_source([account("a@x.io"), account("b@x.io")])
    world.with_plans(a=plan(START + 300 * DAY, lapsed=True), b=plan(None, lapsed=True))
    assert world.firing() == {}
    world.step()
    assert world.firing() == {
        ("PixversePlanExpiringSoon", "a@x.io"): Severity.CRITICAL,
        ("PixversePlanExpiringSoon", "b@x.io"): Severity.CRITICAL,
    }


@pytest.mark.parametrize(
    ("credits", "minimum", "fires"),
    [
        ({CreditKind.MONTHLY: 40, CreditKind.DAILY: 20, CreditKind.PACKAGE: 0}, 100, True),
        ({CreditKind.MONTHLY: 40, CreditKind.DAILY: 60}, 100, False),  # 100 is not below 100
        ({CreditKind.PACKAGE: 0.5}, 1, True),
        ({CreditKind.MONTHLY: 0}, 0, False),  # 0 is off
        ({}, 100, False),  # no credits known: no verdict
    ],
)
def test_credits_low_sums_every_kind(
    credits: dict[CreditKind, float], minimum: int, fires: bool
) -> None:
    world = one_source([account("a@x.io")])
    world.thresholds = replace(THRESHOLDS, min_credits=minimum)
    world.with_plans(a=plan(credits=credits))
    events = world.step()
    assert bool(events) is fires
    if fires:
        (event,) = events
        assert (event.alert.name.value, event.alert.severity) == (
            "PixverseCreditsLow",
            Severity.WARNING,
        )
        assert event.alert.annotations["min_credits"] == str(minimum)


@pytest.mark.parametrize(
    ("max_jobs", "concurrency", "fires"),
    [(6, 4, True), (4, 4, False), (2, 4, False), (8, None, False), (0, 0, False)],
)
def test_max_jobs_above_plan(max_jobs: int, concurrency: int | None, fires: bool) -> None:
    world = one_source([account("a@x.io", max_jobs=max_jobs)])
    world.with_plans(a=plan(concurrency=concurrency))
    events = world.step()
    assert bool(events) is fires
    if fires:
        (event,) = events
        assert event.alert.name.value == "PixverseMaxJobsAbovePlan"
        assert event.alert.annotations == {
            "summary": "maxJobs of a@x.io (6) is above what its plan allows (4)",
            "description": event.alert.description,
            "plan": event.alert.details["plan"],
            "max_jobs": "6",
            "plan_concurrency": "4",
        }
    world.accounts = [account("a@x.io", max_jobs=min(max_jobs, concurrency or 8))]  # fixed
    assert all(e.status.value == "resolved" for e in world.step())
    assert world.book == {}


def test_policy_overrides_thresholds_and_labels_every_alert_of_the_account() -> None:
    rules = [
        AccountRule(
            "*@studio.io",
            warning=timedelta(hours=200),
            plan_warning=timedelta(days=40),
            min_credits=5000,
            labels=(("team", "studio"),),
        ),
        AccountRule("bot@x.io", ignore=True),
    ]
    studio = Account("s@studio.io", "", "", START + 150 * H, ExpirySource.EXPIRE_TIME, 9)
    world = one_source([studio, account("bot@x.io"), account("a@x.io")], rules)
    world.plans = PlanSnapshot(
        subscription(active=False),
        {e: plan() for e in ("s@studio.io", "bot@x.io", "a@x.io")},
    )
    world.step()
    assert world.firing() == {
        ("PixverseUseapiSubscriptionInactive", ""): Severity.CRITICAL,
        ("PixverseTokenExpiringSoon", "s@studio.io"): Severity.WARNING,  # 150h < 200h
        ("PixversePlanExpiringSoon", "s@studio.io"): Severity.WARNING,  # 30d < 40d
        ("PixverseCreditsLow", "s@studio.io"): Severity.WARNING,  # 1000 < 5000
        ("PixverseMaxJobsAbovePlan", "s@studio.io"): Severity.WARNING,  # 9 > 8
    }
    for firing in world.book.values():
        alert = firing.alert
        if alert.account:
            assert alert.labels["team"] == "studio"
            assert alert.extra_labels == (("team", "studio"),)
        else:
            assert "team" not in alert.labels


def test_ignoring_an_account_resolves_its_alerts() -> None:
    world = one_source([account("a@x.io", max_jobs=9)])
    world.with_plans(a=plan())
    world.step()
    assert ("PixverseMaxJobsAbovePlan", "a@x.io") in world.firing()
    world.rules = [AccountRule("A@X.IO", ignore=True)]
    assert summary(world.step()) == [("resolved", "PixverseMaxJobsAbovePlan", "warning", "a@x.io")]


def test_an_unknown_email_at_features_resolves_its_plan_alerts_and_raises_none() -> None:
    world = one_source([account("a@x.io", max_jobs=9), account("b@x.io")])
    world.with_plans(a=plan(lapsed=True), b=plan())
    world.step()
    assert len(world.book) == 2
    world.with_plans(a=None, b=plan())
    assert summary(world.step()) == [
        ("resolved", "PixverseMaxJobsAbovePlan", "warning", "a@x.io"),
        ("resolved", "PixversePlanExpiringSoon", "critical", "a@x.io"),
    ]


def test_after_a_restart_plan_alerts_wait_for_their_own_data() -> None:
    world = one_source([account("a@x.io", max_jobs=9), account("b@x.io", max_jobs=9)])
    world.plans = PlanSnapshot(subscription(active=False, error=1))
    world.with_plans(a=plan(), b=plan())
    world.step()
    assert len(world.book) == 4
    book = world.book
    # A restart: the book comes back from the state file, no plan or subscription read yet.
    restarted = one_source(world.accounts)
    restarted.book = book
    restarted.plans = PlanSnapshot()
    assert restarted.step() == []
    assert restarted.book == book  # carried over, not resolved
    # a@x.io's plan is read (fixed), b@x.io's not yet; the subscription is fine again.
    restarted.accounts = [account("a@x.io", max_jobs=2), account("b@x.io", max_jobs=9)]
    restarted.plans = PlanSnapshot(subscription(), {"a@x.io": plan()})
    assert summary(restarted.step()) == [
        ("resolved", "PixverseMaxJobsAbovePlan", "warning", "a@x.io"),
        ("resolved", "PixverseUseapiAccountsInError", "warning", ""),
        ("resolved", "PixverseUseapiSubscriptionInactive", "critical", ""),
    ]
    assert restarted.firing() == {("PixverseMaxJobsAbovePlan", "b@x.io"): Severity.WARNING}
    # An account that is gone is judged with the accounts list, its plan unread or not.
    restarted.accounts = [account("a@x.io", max_jobs=2)]
    assert summary(restarted.step()) == [
        ("resolved", "PixverseMaxJobsAbovePlan", "warning", "b@x.io")
    ]


def test_endpoints_turned_off_resolve_what_they_fed() -> None:
    world = one_source([account("a@x.io", max_jobs=9)])
    world.plans = PlanSnapshot(subscription(active=False), {"a@x.io": plan()})
    world.step()
    assert len(world.book) == 2
    world.plans = PlanSnapshot(account_endpoint=False, features_endpoint=False)
    assert len(world.step()) == 2
    assert world.book == {}


@pytest.mark.parametrize("offset", [7 * DAY, 0.0])
@pytest.mark.parametrize("rule", [None, AccountRule("*", plan_warning=timedelta(days=2))])
def test_plan_crossings_are_notified_on_time(offset: float, rule: AccountRule | None) -> None:
    """As the daemon does: after each evaluation it wakes at next_wake(); a plan's end (and
    the start of its warning window) must be notified at that moment, not at a poll."""
    ends = START + 20 * DAY + 123.4
    world = one_source([account("a@x.io")], [rule] if rule else None)
    world.with_plans(a=plan(ends))
    if rule is not None and offset:
        offset = 2 * DAY
    crossing_at = ends - offset
    poll_every = H
    next_poll = START
    notified_at = None
    while notified_at is None and world.clock.time() < ends + H:
        now = world.clock.time()
        if now >= next_poll:
            next_poll += poll_every
        if any(e.at_unix >= crossing_at for e in world.step()):
            notified_at = now
            break
        wake = next_wake(world.snapshot(), world.book, SETTINGS, None, now)
        world.clock.set(min(w for w in (wake, next_poll) if w is not None))
    assert notified_at is not None
    assert 0 <= notified_at - crossing_at < 1.0


def test_a_change_of_labels_alone_is_an_event_naming_the_alert_as_it_was() -> None:
    """A reload moves an account to another team: the engine says so, with the old alert,
    so that Alertmanager can be told to end it; the repeat schedule does not move."""
    studio = [AccountRule("*", plan_warning=timedelta(days=40), labels=(("team", "studio"),))]
    world = World([account("a@x.io", max_jobs=4)], studio)
    world.with_plans(a=plan())
    (started,) = world.step()
    world.clock.advance(60)
    world.rules = [replace(studio[0], labels=(("team", "ops"),))]
    (moved,) = world.step()
    assert (moved.status, moved.reason) == (AlertStatus.FIRING, Reason.LABELS_CHANGED)
    assert moved.alert.labels["team"] == "ops"
    assert moved.replaces is not None and moved.replaces.labels["team"] == "studio"
    (firing,) = world.book.values()
    assert firing.notified_unix == started.at_unix  # not notified: the repeat stays due
    world.clock.advance(60)
    assert world.step() == []  # nothing changed since
    world.rules = [replace(studio[0], labels=(("team", "ops"),), plan_warning=None)]
    assert [e.reason for e in world.step()] == [Reason.RESOLVED]


def test_policy_labels_survive_the_state_file(tmp_path: Path) -> None:
    world = one_source(
        [account("a@x.io", max_jobs=9)], [AccountRule("*", labels=(("team", "studio"),))]
    )
    world.plans = PlanSnapshot(subscription(active=False), {"a@x.io": plan()})
    events = world.step()
    state = StateFile(tmp_path)
    state.prepare()
    state.save(world.book, [Notification(e.id, "ops", (e,)) for e in events])
    book, outbox = StateFile(tmp_path).load()
    assert book == world.book
    assert [n.events for n in outbox] == [(e,) for e in events]
    labelled = next(f.alert for f in book.values() if f.alert.account)
    assert labelled.labels["team"] == "studio"


def test_a_state_file_from_before_policy_labels_loads(tmp_path: Path) -> None:
    world = one_source([account("a@x.io", max_jobs=9)])
    world.with_plans(a=plan())
    world.step()
    state = StateFile(tmp_path)
    state.prepare()
    state.save(world.book, [])
    document = orjson.loads((tmp_path / FILE_NAME).read_bytes())
    for item in document["alerts"]:
        del item["alert"]["labels"]
    (tmp_path / FILE_NAME).write_bytes(orjson.dumps(document))
    book, _ = StateFile(tmp_path).load()
    assert book == world.book


def test_each_resolution_says_what_happened() -> None:
    world = one_source([account("a@x.io", max_jobs=9), account("b@x.io", max_jobs=9)])
    world.thresholds = replace(THRESHOLDS, min_credits=5000)
    world.plans = PlanSnapshot(subscription(active=False, error=2))
    world.with_plans(a=plan(START + 3 * DAY), b=plan(lapsed=True))
    world.step()
    assert len(world.book) == 8
    # The subscription is renewed and fixed; a@x.io's plan renewed, topped up, maxJobs
    # lowered; b@x.io's plan is no longer known to /features.
    world.plans = PlanSnapshot(subscription())
    world.accounts = [account("a@x.io", max_jobs=4), account("b@x.io", max_jobs=9)]
    a_plan = plan(START + 60 * DAY, credits={CreditKind.MONTHLY: 9000})
    world.with_plans(a=a_plan, b=None)
    said = {(e.alert.name.value, e.alert.account): e.alert.summary for e in world.step()}
    assert said == {
        ("PixverseUseapiSubscriptionInactive", ""): "useapi.net subscription of source main "
        "is active again",
        ("PixverseUseapiAccountsInError", ""): "useapi.net marks no PixVerse account of source "
        "main as in error",
        ("PixversePlanExpiringSoon", "a@x.io"): "PixVerse plan of a@x.io renewed until "
        "2027-03-16T08:00:00Z",
        ("PixverseCreditsLow", "a@x.io"): "PixVerse account a@x.io has 9000 credits left again",
        ("PixverseMaxJobsAbovePlan", "a@x.io"): "maxJobs of a@x.io (4) is within its plan (8) "
        "again",
        ("PixversePlanExpiringSoon", "b@x.io"): "PixVerse plan of b@x.io is no longer known",
        ("PixverseCreditsLow", "b@x.io"): "PixVerse plan of b@x.io is no longer known",
        ("PixverseMaxJobsAbovePlan", "b@x.io"): "PixVerse plan of b@x.io is no longer known",
    }
    # An account that is gone says so.
    world.with_plans(a=plan(START + 3 * DAY))
    world.step()
    world.accounts = []
    gone = {e.alert.summary for e in world.step()}
    assert gone == {"PixVerse account a@x.io is no longer watched in source main"}
