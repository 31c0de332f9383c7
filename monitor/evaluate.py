"""Accounts plus `now` to states, labels and capacity totals. Pure: no I/O, time is passed in."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple

from monitor.config import AccountLabel, AccountSettings, Policy, Thresholds
from monitor.upstream import Account, AccountCapacity, capacity_of


class AccountState(StrEnum):
    """Where an account's token stands; the `state` label."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


STATES: tuple[AccountState, ...] = tuple(AccountState)
# States whose capacity useapi.net can still use.
USABLE_STATES = frozenset({AccountState.OK, AccountState.WARNING, AccountState.CRITICAL})


class AccountStatus(NamedTuple):
    """One account, evaluated at a moment."""

    account: Account
    label: str  # the `account` label value
    state: AccountState
    executing: int | None  # None without scheduler data for this account
    available: int | None
    settings: AccountSettings  # thresholds and labels in force for it ([[accounts]])


class SourceTotals(NamedTuple):
    accounts_by_state: Mapping[AccountState, int]  # every state present
    capacity_by_state: Mapping[AccountState, int]  # sum of maxJobs, every state present
    usable_capacity: int
    free_capacity: int | None  # None without scheduler data


class Evaluation(NamedTuple):
    """The accounts of one source, evaluated at `at_unix`."""

    accounts: tuple[AccountStatus, ...]
    totals: SourceTotals
    at_unix: float


def classify(
    expiry_unix: float | None, now_unix: float, warning_seconds: float, critical_seconds: float
) -> AccountState:
    """The state of a token expiring at `expiry_unix` (None: unknown), judged at `now_unix`;
    each bound belongs to the more urgent state. `evaluate` judges every account by it."""
    if expiry_unix is None:
        return AccountState.UNKNOWN
    ttl = expiry_unix - now_unix
    if ttl <= 0:
        return AccountState.EXPIRED
    if ttl <= critical_seconds:
        return AccountState.CRITICAL
    if ttl <= warning_seconds:
        return AccountState.WARNING
    return AccountState.OK


def evaluate(
    accounts: Sequence[Account],
    capacity: Mapping[str, AccountCapacity] | None,
    thresholds: Thresholds,
    label_mode: AccountLabel,
    now_unix: float,
    *,
    policy: Policy | None = None,
) -> Evaluation:
    """States, labels and totals of one source's accounts at `now_unix`. `policy` holds the
    [[accounts]] rules (with `thresholds` as their defaults); an ignored account is left out
    entirely, as if upstream had not listed it."""
    policy = policy or Policy((), thresholds)
    if policy.rules:
        accounts = [a for a in accounts if not policy.settings(a.email).ignore]
    labels = account_labels(accounts, label_mode)
    accounts_by_state = dict.fromkeys(STATES, 0)
    capacity_by_state = dict.fromkeys(STATES, 0)
    free = 0
    statuses = []
    # Without rules every account has the global settings: no lookup per account.
    settings = policy.default
    per_account = bool(policy.rules)
    for account, label in zip(accounts, labels, strict=True):
        if per_account:
            settings = policy.settings(account.email)
        state = classify(
            account.expiry_unix, now_unix, settings.warning_seconds, settings.critical_seconds
        )
        accounts_by_state[state] += 1
        capacity_by_state[state] += account.max_jobs
        live = capacity_of(capacity, account.email) if capacity is not None else None
        if live is None:
            executing = available = None
        else:
            executing, available = live
            if state in USABLE_STATES:
                free += available
        # tuple.__new__ skips the generated keyword-handling __new__: half the cost.
        statuses.append(
            _new_tuple(AccountStatus, (account, label, state, executing, available, settings))
        )
    usable = sum(capacity_by_state[s] for s in USABLE_STATES)
    totals = SourceTotals(
        accounts_by_state, capacity_by_state, usable, free if capacity is not None else None
    )
    return Evaluation(tuple(statuses), totals, now_unix)


_new_tuple = tuple.__new__


def next_crossing(
    accounts: Sequence[Account],
    thresholds: Thresholds,
    now_unix: float,
    *,
    policy: Policy | None = None,
) -> float | None:
    """The earliest moment after `now_unix` at which some account changes state."""
    policy = policy or Policy((), thresholds)
    settings = policy.settings
    return first_crossing(
        (
            (expiry - s.warning_seconds, expiry - s.critical_seconds, expiry)
            for account in accounts
            if (expiry := account.expiry_unix) is not None
            and not (s := settings(account.email)).ignore
        ),
        now_unix,
    )


def first_crossing(crossings: Iterable[Sequence[float]], now_unix: float) -> float | None:
    """The earliest moment after `now_unix` at which something crosses a threshold: the
    loop behind every next crossing (token states, plan ends). Each item holds one thing's
    crossings in time order (its warning, then critical, then the end itself), so only its
    first one still ahead is looked at; None when none is ahead."""
    soonest: float | None = None
    for moments in crossings:
        for moment in moments:
            if moment > now_unix:
                if soonest is None or moment < soonest:
                    soonest = moment
                break
    return soonest


def account_labels(accounts: Sequence[Account], mode: AccountLabel) -> list[str]:
    """The `account` label of each account. Missing or clashing values fall back to the hash,
    so two accounts never share a series."""
    if mode is AccountLabel.EMAIL:
        return [a.email for a in accounts]
    if mode is AccountLabel.HASH:
        return [email_hash(a.email) for a in accounts]
    field = "username" if mode is AccountLabel.USERNAME else "account_id"
    labels = [getattr(a, field) or email_hash(a.email) for a in accounts]
    clashes = {label for label, count in Counter(labels).items() if count > 1}
    if clashes:
        labels = [
            email_hash(a.email) if label in clashes else label
            for a, label in zip(accounts, labels, strict=True)
        ]
    return labels


def email_hash(email: str) -> str:
    """12 hex digits of the SHA-256 of the email: stable, not reversible by reading."""
    return hashlib.sha256(email.encode()).hexdigest()[:12]
