"""Each account's lines of the per-account families (its token's and its plan's), kept from
one snapshot to the next: a poll changes few accounts, so most lines of a new snapshot are the
last one's, reused rather than formatted again (at 10,000 accounts, formatting them all made
a new snapshot's first scrape thirteen times as slow as a later one: bench_cycle.py)."""

from __future__ import annotations

from typing import NamedTuple

from monitor.config import AccountSettings
from monitor.evaluate import STATES, AccountStatus
from monitor.exposition.account_families import (
    AVAILABLE,
    EXECUTING,
    EXPIRY,
    INFO,
    MAX_JOBS,
    STATE,
    TTL,
)
from monitor.exposition.plan_families import PlanLines, plan_lines
from monitor.exposition.textformat import escape_label, format_value
from monitor.snapshot import Snapshot
from monitor.upstream import Account, Plan


class Lines(NamedTuple):
    """One account's lines, encoded, one field per family in /metrics order; b"" where the
    account has no sample (no expiry, no scheduler data, no plan). The TTL line, formatted
    at each scrape, is kept as its `<name>{<labels>} ` prefix and the expiry instead (None
    without expiry)."""

    expiry: bytes
    ttl: tuple[str, float] | None
    state: bytes
    max_jobs: bytes
    executing: bytes
    available: bytes
    info: bytes
    plan: PlanLines  # the per-account families of plan_families.py


# What an account's lines were made from (the status, its token refreshes, its plan), and them.
_Kept = tuple[AccountStatus, int, Plan | None, Lines]
_STATE_SUFFIXES = tuple((s, f',state="{s.value}"}} ') for s in STATES)


class AccountLines:
    """The lines of every account of the last snapshot rendered, by source and `account`
    label, with what they were made from. They are reused for an account whose rendered values
    are all equal to those and of the same types (the parser hands out the same Account for
    an unchanged entry, the policy the same settings, the plan reads the same Plan until the
    next read: then only their identity is checked); anything else is formatted anew, so a
    changed value never shows a stale line. Nothing here depends on the time: the state is
    part of the status, and the TTL is formatted at scrape time from the expiry. Only the
    accounts of the last snapshot are kept."""

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[str, dict[str, _Kept]] = {}

    def rows(self, snapshot: Snapshot) -> list[Lines]:
        """The lines of every account of every source, in /metrics order."""
        kept: dict[str, dict[str, _Kept]] = {}
        rows: list[Lines] = []
        for source in snapshot.sources:
            if source.evaluation is None:
                continue
            src = f'source="{escape_label(source.name)}"'
            before = self._kept.get(source.name, {}).get
            after = kept.setdefault(source.name, {})
            refreshes, plans = source.plans.refreshes.get, source.plans.plans.get
            for status in source.evaluation.accounts:
                email = status.account.email
                refreshed, plan = refreshes(email, 0), plans(email)
                old = before(status.label)
                if old is not None and _reusable(old, status, refreshed, plan):
                    lines = old[3]
                else:
                    lines = _lines(src, status, refreshed, plan)
                after[status.label] = (status, refreshed, plan, lines)
                rows.append(lines)
        self._kept = kept
        return rows


def _reusable(old: _Kept, status: AccountStatus, refreshes: int, plan: Plan | None) -> bool:
    # Inlined rather than calls to _same_int: this runs for every account of every snapshot.
    was, was_refreshes, was_plan, _ = old
    executing, available = status.executing, status.available
    return (
        was_plan is plan
        and was.state is status.state
        and was.label == status.label
        and was_refreshes == refreshes
        and was.executing == executing
        and was.available == available
        and type(was_refreshes) is type(refreshes)
        and type(was.executing) is type(executing)
        and type(was.available) is type(available)
        and _same_account(was.account, status.account)
        and _same_settings(was.settings, status.settings)
    )


def _same_account(a: Account, b: Account) -> bool:
    """True when the two render alike: the same object, or the same rendered values."""
    return a is b or (
        a.account_id == b.account_id
        and a.username == b.username
        and a.expiry_source is b.expiry_source
        and _same_int(a.max_jobs, b.max_jobs)
        and _same_number(a.expiry_unix, b.expiry_unix)
    )


def _same_settings(a: AccountSettings, b: AccountSettings) -> bool:
    return a is b or (
        a.labels == b.labels
        and _same_int(a.min_credits, b.min_credits)
        and _same_number(a.plan_warning_seconds, b.plan_warning_seconds)
    )


def _same_int(a: int | None, b: int | None) -> bool:
    # 1 == True, but they are written differently.
    return a == b and type(a) is type(b)


def _same_number(a: float | None, b: float | None) -> bool:
    # 1 == 1.0 and 0.0 == -0.0, but each is written differently.
    return a is b or (
        a is not None
        and b is not None
        and type(a) is type(b)
        and format_value(a) == format_value(b)
    )


def _lines(src: str, status: AccountStatus, refreshes: int, plan: Plan | None) -> Lines:
    account = status.account
    ids = f'{src},account="{escape_label(status.label)}"'
    expiry = b""
    ttl = None
    if account.expiry_unix is not None:
        expiry = f"{EXPIRY.name}{{{ids}}} {format_value(account.expiry_unix)}\n".encode()
        ttl = (f"{TTL.name}{{{ids}}} ", account.expiry_unix)
    current = status.state
    state = "".join(
        f"{STATE.name}{{{ids}{suffix}{1 if s is current else 0}\n" for s, suffix in _STATE_SUFFIXES
    )
    executing = available = b""
    if status.executing is not None:
        executing = f"{EXECUTING.name}{{{ids}}} {status.executing}\n".encode()
        available = f"{AVAILABLE.name}{{{ids}}} {status.available}\n".encode()
    # [[accounts]] labels (team, owner) ride along, to route and group by.
    extra = "".join(f',{k}="{escape_label(v)}"' for k, v in status.settings.labels)
    info = (
        f'{INFO.name}{{{ids},account_id="{escape_label(account.account_id)}",'
        f'username="{escape_label(account.username)}",'
        f'expiry_source="{account.expiry_source.value}"{extra}}} 1\n'
    )
    return Lines(
        expiry,
        ttl,
        state.encode(),
        f"{MAX_JOBS.name}{{{ids}}} {account.max_jobs}\n".encode(),
        executing,
        available,
        info.encode(),
        plan_lines(ids, status, refreshes, plan),
    )
