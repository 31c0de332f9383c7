"""States, capacity totals, labels and the next threshold crossing, at an injected `now`."""

from __future__ import annotations

from datetime import timedelta

import pytest

import monitor.evaluate as evaluation_module
from monitor.config.model import AccountLabel, AccountRule, Thresholds
from monitor.config.policy import Policy
from monitor.evaluate import (
    AccountState,
    account_labels,
    classify,
    email_hash,
    evaluate,
    first_crossing,
    next_crossing,
)
from monitor.upstream.parse import Account, AccountCapacity, ExpirySource, parse_capacity

NOW = 1_800_000_000.0
H = 3600.0
TH = Thresholds(timedelta(hours=72), timedelta(hours=24), 0)


def acct(
    email: str, ttl: float | None, max_jobs: int = 5, username: str = "", account_id: str = ""
) -> Account:
    expiry = None if ttl is None else NOW + ttl
    source = ExpirySource.NONE if ttl is None else ExpirySource.EXPIRE_TIME
    return Account(email, account_id, username, expiry, source, max_jobs)


@pytest.mark.parametrize(
    ("ttl", "state"),
    [
        (73 * H, AccountState.OK),
        (72 * H + 0.001, AccountState.OK),
        (72 * H, AccountState.WARNING),  # ttl <= warning
        (24 * H + 1, AccountState.WARNING),
        (24 * H, AccountState.CRITICAL),  # ttl <= critical
        (0.001, AccountState.CRITICAL),
        (0, AccountState.EXPIRED),  # ttl <= 0
        (-5 * H, AccountState.EXPIRED),
        (None, AccountState.UNKNOWN),
    ],
)
def test_state_boundaries(ttl: float | None, state: AccountState) -> None:
    expiry = None if ttl is None else NOW + ttl
    assert classify(expiry, NOW, 72 * H, 24 * H) is state
    (status,) = evaluate([acct("a@x", ttl)], None, TH, AccountLabel.EMAIL, NOW).accounts
    assert status.state is state


def test_evaluate_judges_by_classify(monkeypatch: pytest.MonkeyPatch) -> None:
    """`classify` is the rule production runs: a change to it is a change to every state."""
    monkeypatch.setattr(evaluation_module, "classify", lambda *_: AccountState.EXPIRED)
    (status,) = evaluate([acct("a@x", 100 * H)], None, TH, AccountLabel.EMAIL, NOW).accounts
    assert status.state is AccountState.EXPIRED


def test_totals_and_free_capacity() -> None:
    accounts = [
        acct("ok@x", 100 * H, 8),
        acct("warn@x", 48 * H, 3),
        acct("crit@x", 2 * H, 2),
        acct("gone@x", -H, 5),
        acct("what@x", None, 4),
    ]
    capacity = {
        "ok@x": AccountCapacity(2, 6),
        "warn@x": AccountCapacity(3, 0),
        "crit@x": AccountCapacity(0, 2),
        "gone@x": AccountCapacity(0, 5),  # expired: contributes nothing
        "what@x": AccountCapacity(0, 4),  # unknown: contributes nothing
    }
    evaluation = evaluate(accounts, capacity, TH, AccountLabel.EMAIL, NOW)
    totals = evaluation.totals
    assert totals.accounts_by_state == {s: 1 for s in AccountState}
    assert totals.capacity_by_state == {
        AccountState.OK: 8,
        AccountState.WARNING: 3,
        AccountState.CRITICAL: 2,
        AccountState.EXPIRED: 5,
        AccountState.UNKNOWN: 4,
    }
    assert totals.usable_capacity == 13
    assert totals.free_capacity == 8
    assert [(s.executing, s.available) for s in evaluation.accounts][0] == (2, 6)


def test_no_scheduler_data_means_no_free_capacity() -> None:
    evaluation = evaluate([acct("a@x", 100 * H)], None, TH, AccountLabel.EMAIL, NOW)
    assert evaluation.totals.free_capacity is None
    assert evaluation.accounts[0].executing is None
    partial = evaluate(
        [acct("a@x", 100 * H), acct("b@x", 100 * H)],
        {"a@x": AccountCapacity(1, 4)},
        TH,
        AccountLabel.EMAIL,
        NOW,
    )
    assert partial.totals.free_capacity == 4
    assert partial.accounts[1].available is None


def test_live_capacity_is_joined_to_accounts_without_regard_to_case() -> None:
    """[[accounts]] matches emails without regard to case; the capacity join did not, and an
    account listed as Ann@X.io lost its live capacity to the scheduler's ann@x.io."""
    capacity = parse_capacity(
        {"available": [{"email": "ann@x.io", "maxJobs": 5, "executing": 1, "available": 4}]}
    )
    evaluation = evaluate(
        [acct("Ann@X.io", 100 * H)], capacity.by_email, TH, AccountLabel.EMAIL, NOW
    )
    assert (evaluation.accounts[0].executing, evaluation.accounts[0].available) == (1, 4)
    assert evaluation.totals.free_capacity == 4


def test_empty_source_has_every_state_at_zero() -> None:
    totals = evaluate([], {}, TH, AccountLabel.EMAIL, NOW).totals
    assert totals.accounts_by_state == dict.fromkeys(AccountState, 0)
    assert totals.usable_capacity == 0
    assert totals.free_capacity == 0


def test_labels_by_mode() -> None:
    accounts = [
        acct("a@x", 1, username="neo", account_id="11"),
        acct("b@x", 1, username="", account_id="22"),
    ]
    assert account_labels(accounts, AccountLabel.EMAIL) == ["a@x", "b@x"]
    assert account_labels(accounts, AccountLabel.ACCOUNT_ID) == ["11", "22"]
    # A missing username falls back to the hash, never to the email.
    assert account_labels(accounts, AccountLabel.USERNAME) == ["neo", email_hash("b@x")]
    assert account_labels(accounts, AccountLabel.HASH) == [email_hash("a@x"), email_hash("b@x")]
    assert len(email_hash("a@x")) == 12
    assert all(c in "0123456789abcdef" for c in email_hash("a@x"))


def test_clashing_labels_fall_back_to_the_hash() -> None:
    accounts = [
        acct("a@x", 1, username="twin"),
        acct("b@x", 1, username="twin"),
        acct("c@x", 1, username="solo"),
    ]
    labels = account_labels(accounts, AccountLabel.USERNAME)
    assert labels == [email_hash("a@x"), email_hash("b@x"), "solo"]
    assert len(set(labels)) == 3


@pytest.mark.parametrize(
    ("ttls", "expected_offset"),
    [
        ([100 * H], 100 * H - 72 * H),  # next: entering warning
        ([48 * H], 48 * H - 24 * H),  # next: entering critical
        ([2 * H], 2 * H),  # next: expiry
        ([-H, None], None),  # expired and unknown never change by themselves
        ([100 * H, 25 * H, 3 * H], H),  # the soonest of all accounts
        ([72 * H], 72 * H - 24 * H),  # exactly at warning now: the next is critical
    ],
)
def test_next_crossing(ttls: list[float | None], expected_offset: float | None) -> None:
    accounts = [acct(f"{i}@x", ttl) for i, ttl in enumerate(ttls)]
    crossing = next_crossing(accounts, TH, NOW)
    assert crossing == (None if expected_offset is None else NOW + expected_offset)


@pytest.mark.parametrize(
    ("crossings", "expected"),
    [
        ([], None),
        ([(NOW - 2, NOW - 1)], None),  # all behind
        ([(NOW, NOW + 5)], NOW + 5),  # now itself is no longer ahead
        ([(NOW + 9, NOW + 1)], NOW + 9),  # only the first ahead of each thing counts
        ([(NOW - 1, NOW + 7), (NOW + 3,), (NOW + 4, NOW + 5)], NOW + 3),  # the soonest of all
    ],
)
def test_first_crossing(crossings: list[tuple[float, ...]], expected: float | None) -> None:
    """The one loop behind the token and the plan crossings."""
    assert first_crossing(crossings, NOW) == expected


def test_state_changes_exactly_at_the_crossing() -> None:
    accounts = [acct("a@x", 24 * H + 30)]
    crossing = next_crossing(accounts, TH, NOW)
    assert crossing is not None
    before = evaluate(accounts, None, TH, AccountLabel.EMAIL, crossing - 0.001)
    at = evaluate(accounts, None, TH, AccountLabel.EMAIL, crossing)
    assert before.accounts[0].state is AccountState.WARNING
    assert at.accounts[0].state is AccountState.CRITICAL


def test_policy_ignores_accounts_and_overrides_thresholds_per_account() -> None:
    policy = Policy(
        [
            AccountRule("*@studio", warning=timedelta(hours=200), critical=timedelta(hours=100)),
            AccountRule("bot-*", ignore=True),
        ],
        TH,
    )
    accounts = [
        acct("a@studio", 150 * H, 4),  # warning by its rule, ok by the globals
        acct("b@studio", 90 * H, 2),  # critical by its rule
        acct("c@plain", 150 * H, 8),
        acct("bot-1@x", -H, 5),  # expired, but ignored: not evaluated, not counted
    ]
    evaluation = evaluate(accounts, None, TH, AccountLabel.EMAIL, NOW, policy=policy)
    states = {s.account.email: s.state for s in evaluation.accounts}
    assert states == {
        "a@studio": AccountState.WARNING,
        "b@studio": AccountState.CRITICAL,
        "c@plain": AccountState.OK,
    }
    totals = evaluation.totals
    assert sum(totals.accounts_by_state.values()) == 3
    assert totals.accounts_by_state[AccountState.EXPIRED] == 0
    assert totals.usable_capacity == 14
    assert evaluation.accounts[0].settings.rule == 0
    assert evaluation.accounts[2].settings == policy.default
    # The next crossing follows each account's own thresholds: a@studio turns critical at
    # 100h before expiry, 50h from now; c@plain warns at 72h before, 78h from now.
    assert next_crossing(accounts, TH, NOW, policy=policy) == NOW + 50 * H
    # An ignored account's crossings are none of our business.
    only_bot = [acct("bot-1@x", 73 * H)]
    assert next_crossing(only_bot, TH, NOW, policy=policy) is None
