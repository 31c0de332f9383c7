"""What the status page shows, as plain rows: the snapshot, the firing alerts, the recent
deliveries and a few facts of the configuration, at `now`. Pure: no I/O, time passed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from monitor.alerts import DeliveryRecord, FiringAlert
from monitor.config import Severity
from monitor.evaluate import AccountState, AccountStatus
from monitor.snapshot import Snapshot, SourceSnapshot
from monitor.timefmt import format_time_left, readable_utc
from monitor.upstream import Plan, format_credits
from monitor.web.statuspage.rows import (
    AlertRow,
    DeliveryRow,
    SourceView,
    alert_row,
    delivery_row,
    label_pairs,
    source_view,
)

# Past this many accounts the page shows the most urgent and says how many more there are;
# /api/v1/status always has them all.
MAX_ROWS = 200
# Most urgent first; then the soonest expiry.
URGENCY = (
    AccountState.EXPIRED,
    AccountState.CRITICAL,
    AccountState.WARNING,
    AccountState.UNKNOWN,
    AccountState.OK,
)
_RANK = {state: rank for rank, state in enumerate(URGENCY)}
_FAR = float("inf")


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What the page says of the monitor itself, from its configuration."""

    version: str
    external_url: str  # where people reach the monitor; the page's links start here
    sinks: tuple[str, ...] = ()  # configured sink names, in order
    account_label: str = "email"  # what the account column holds


class PageInputs(NamedTuple):
    """What the page shows beyond the snapshot, as the daemon holds it at a request."""

    firing: Sequence[FiringAlert]
    deliveries: Mapping[str, Sequence[DeliveryRecord]]  # by sink, newest first
    facts: PageFacts


class AccountEntry(NamedTuple):
    """One account with what the page and its JSON twin need beyond its evaluation."""

    source: str
    status: AccountStatus
    plan: Plan | None
    plan_error: str | None  # why there is no plan, when known


class AccountRow(NamedTuple):
    account: str
    source: str
    state: str  # the word; also its colour's class
    expiry_unix: float | None
    expires_at: str  # "2026-12-07 06:00 UTC", or "unknown"
    time_left: str  # "2d 3h", "expired 3h 5m ago", "unknown"
    max_jobs: int
    jobs: str  # executing/available, "-" without scheduler data
    plan: str
    plan_ends: str
    credits: str
    labels: str  # "team=studio, tier=gold"


@dataclass(frozen=True, slots=True)
class StatusView:
    facts: PageFacts
    generated_at: str
    status: str  # ok | warning | critical | unknown: the worst of what the page shows
    headline: str
    sources: tuple[SourceView, ...]
    entries: tuple[AccountEntry, ...]  # every account, most urgent first
    accounts: tuple[AccountRow, ...]  # the rows of the MAX_ROWS most urgent
    total_accounts: int
    more_accounts: int  # not shown
    alerts: tuple[AlertRow, ...]
    sinks: tuple[tuple[str, tuple[DeliveryRow, ...]], ...]


def ordered_accounts(snapshot: Snapshot) -> list[AccountEntry]:
    """Every account of every source, most urgent first, then the soonest expiry."""
    entries = [
        AccountEntry(source.name, status, *_plan_of(source, status))
        for source in snapshot.sources
        if source.evaluation is not None
        for status in source.evaluation.accounts
    ]
    entries.sort(
        key=lambda e: (
            _RANK[e.status.state],
            e.status.account.expiry_unix if e.status.account.expiry_unix is not None else _FAR,
            e.source,
            e.status.label,
        )
    )
    return entries


def _plan_of(source: SourceSnapshot, status: AccountStatus) -> tuple[Plan | None, str | None]:
    email = status.account.email
    plan = source.plans.plans.get(email)
    if plan is None and email in source.plans.unknown_plans:
        return None, "unknown account"
    return plan, None


def firing_order(firing: Sequence[FiringAlert]) -> list[FiringAlert]:
    """Critical first, then the oldest."""
    return sorted(
        firing,
        key=lambda f: (
            -f.alert.severity.rank,
            f.starts_at_unix,
            f.alert.name.value,
            f.alert.source,
            f.alert.account,
        ),
    )


class AccountTable(NamedTuple):
    """The accounts of a snapshot as the page shows them at any moment: every entry, most
    urgent first, and the rows of the MAX_ROWS most urgent, their time left still to fill."""

    entries: tuple[AccountEntry, ...]
    rows: tuple[AccountRow, ...]
    states: frozenset[AccountState]


def account_table(snapshot: Snapshot) -> AccountTable:
    entries = ordered_accounts(snapshot)
    return AccountTable(
        tuple(entries),
        tuple(account_row(e) for e in entries[:MAX_ROWS]),
        frozenset(e.status.state for e in entries),
    )


def build_view(
    snapshot: Snapshot, inputs: PageInputs, now: float, table: AccountTable | None = None
) -> StatusView:
    """`table` is the snapshot's account table, when already made."""
    firing, deliveries, facts = inputs
    table = table or account_table(snapshot)
    # The monotonic clock at `now`: the snapshot's reading of it, moved on as much as `now`.
    now_mono = snapshot.taken_at_mono + (now - snapshot.taken_at_unix)
    sources = tuple(source_view(s, snapshot.criteria, now, now_mono) for s in snapshot.sources)
    alerts = tuple(alert_row(f, now) for f in firing_order(firing))
    status = _worst(sources, table.states, alerts)
    return StatusView(
        facts=facts,
        generated_at=readable_utc(now, seconds=True),
        status=status,
        headline=_headline(status, sources, alerts),
        sources=sources,
        entries=table.entries,
        accounts=tuple(
            row._replace(
                time_left=format_time_left(
                    row.expiry_unix - now if row.expiry_unix is not None else None
                )
            )
            for row in table.rows
        ),
        total_accounts=len(table.entries),
        more_accounts=max(0, len(table.entries) - MAX_ROWS),
        alerts=alerts,
        sinks=tuple(
            (sink, tuple(delivery_row(r, now) for r in deliveries.get(sink, ())))
            for sink in facts.sinks
        ),
    )


def account_row(entry: AccountEntry) -> AccountRow:
    """The row of an account, but for its time left."""
    status = entry.status
    expiry = status.account.expiry_unix
    plan = entry.plan
    return AccountRow(
        account=status.label,
        source=entry.source,
        state=status.state.value,
        expiry_unix=expiry,
        expires_at=readable_utc(expiry) if expiry is not None else "unknown",
        time_left="",
        max_jobs=status.account.max_jobs,
        jobs=f"{status.executing}/{status.available}" if status.executing is not None else "-",
        plan=_plan_name(plan, entry.plan_error),
        plan_ends=_plan_ends(plan),
        credits=_credits(plan),
        labels=label_pairs(status.settings.labels),
    )


def _plan_name(plan: Plan | None, error: str | None) -> str:
    if plan is None:
        return error or "-"
    return plan.name or "?"


def _plan_ends(plan: Plan | None) -> str:
    if plan is None:
        return "-"
    ends = readable_utc(plan.expires_unix)[:10] if plan.expires_unix is not None else "-"
    return f"{ends} (lapsed)" if plan.lapsed else ends


def _credits(plan: Plan | None) -> str:
    left = plan.credits_left if plan is not None else None
    if left is None:
        return "-"
    return format_credits(left)


def _worst(
    sources: Sequence[SourceView], states: frozenset[AccountState], alerts: Sequence[AlertRow]
) -> str:
    """Critical over warning over unknown over ok, as `check` ranks them. A source counts as
    critical once stale (its alert fires then), a single failed poll as a warning."""
    severities = {a.severity for a in alerts}
    if (
        any(s.stale for s in sources)
        or states & {AccountState.EXPIRED, AccountState.CRITICAL}
        or Severity.CRITICAL.value in severities
    ):
        return "critical"
    if (
        AccountState.WARNING in states
        or severities
        or any(s.capacity_low or (s.polled and not s.up) for s in sources)
    ):
        return "warning"
    if AccountState.UNKNOWN in states or not all(s.polled for s in sources):
        return "unknown"
    return "ok"


def _headline(status: str, sources: Sequence[SourceView], alerts: Sequence[AlertRow]) -> str:
    """ "2 expired, 1 critical; 3 alerts firing; source b down"."""
    counts = dict.fromkeys(URGENCY, 0)
    for source in sources:
        for state, n in source.by_state.items():
            counts[state] += n
    parts = [f"{counts[s]} {s.value}" for s in URGENCY[:4] if counts[s]]
    if not parts:
        ok = counts[AccountState.OK]
        parts.append(f"{ok} ok" if ok else "no accounts")
    if alerts:
        parts.append(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} firing")
    down = [s.name for s in sources if s.stale or (s.polled and not s.up)]
    if down:
        parts.append("source down: " + ", ".join(down))
    return f"{status.upper()}: " + ", ".join(parts)
