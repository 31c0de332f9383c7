"""What the daemon keeps per source between polls: the last results, counters and memo, and
how that becomes the source's part of a snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from monitor.config import AccountLabel, SourceConfig, Thresholds
from monitor.errors import Outcome
from monitor.evaluate import Evaluation, evaluate, next_crossing
from monitor.snapshot import SourceSnapshot
from monitor.upstream import AccountMemo, PollResult, UpstreamClient


@dataclass
class SourceState:
    """Mutable bookkeeping of one source, owned by the daemon's event loop."""

    config: SourceConfig
    client: UpstreamClient
    since_unix: float  # when this run started watching it
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one poll at a time
    last: PollResult | None = None
    last_good: PollResult | None = None  # kept across failed polls
    last_success_unix: float | None = None
    polls_total: dict[Outcome, int] = field(default_factory=dict)
    mismatches_logged: set[MismatchKey] = field(default_factory=set)
    memo: AccountMemo = field(default_factory=AccountMemo)

    def record(self, result: PollResult) -> None:
        self.last = result
        self.polls_total[result.outcome] = self.polls_total.get(result.outcome, 0) + 1
        if result.outcome.has_fresh_data:
            self.last_good = result
            self.last_success_unix = result.finished_unix

    def snapshot(
        self, thresholds: Thresholds, label_mode: AccountLabel, now: float
    ) -> tuple[SourceSnapshot, float | None]:
        """The source evaluated at `now` (its last good data), and its next threshold
        crossing."""
        evaluation = None
        crossing = None
        good = self.last_good
        if good is not None and good.accounts is not None:
            capacity = good.capacity.by_email if good.capacity is not None else None
            accounts = good.accounts.accounts
            evaluation = evaluate(accounts, capacity, thresholds, label_mode, now)
            crossing = next_crossing(accounts, thresholds, now)
        last = self.last
        snapshot = SourceSnapshot(
            name=self.config.name,
            evaluation=evaluation,
            up=last is not None and last.outcome.has_fresh_data,
            last_outcome=last.outcome if last else None,
            last_success_unix=self.last_success_unix,
            poll_duration_seconds=last.duration_seconds if last else None,
            polls_total=dict(self.polls_total),
            monitored_since_unix=self.since_unix,
        )
        return snapshot, crossing


log = structlog.get_logger("monitor.daemon")

MismatchKey = tuple[str, tuple[float, ...]]


def log_poll(
    name: str,
    result: PollResult,
    evaluation: Evaluation | None,
    last_success_unix: float | None,
    mismatches_logged: set[MismatchKey],
) -> set[MismatchKey]:
    """Log one poll; returns the expiry mismatches now known (to pass to the next call)."""
    if result.accounts is None or evaluation is None:
        log.warning(
            "poll.failed",
            source=name,
            outcome=result.outcome.value,
            error=result.error,
            duration_seconds=round(result.duration_seconds, 3),
            last_success_unix=last_success_unix,
        )
        return mismatches_logged
    states = {s.value: n for s, n in evaluation.totals.accounts_by_state.items()}
    log.info(
        "poll.completed",
        source=name,
        outcome=result.outcome.value,
        accounts=len(evaluation.accounts),
        states=states,
        usable_capacity=evaluation.totals.usable_capacity,
        duration_seconds=round(result.duration_seconds, 3),
        capacity_error=result.error,
    )
    invalid = dict(result.accounts.invalid)
    if result.capacity is not None and result.capacity.invalid:
        invalid["capacity_row"] = result.capacity.invalid
    if invalid:
        log.warning("poll.invalid_values", source=name, counts=invalid)
    return _log_mismatches(name, evaluation, mismatches_logged)


def _log_mismatches(
    name: str, evaluation: Evaluation, logged: set[MismatchKey]
) -> set[MismatchKey]:
    seen: set[MismatchKey] = set()
    for status in evaluation.accounts:
        account = status.account
        if not account.mismatch:
            continue
        key = (account.email, tuple(unix for _, unix in account.mismatch))
        seen.add(key)
        if key in logged:
            continue
        log.warning(
            "expiry_mismatch",
            source=name,
            account=status.label,
            used=account.expiry_source.value,
            values={
                origin.value: datetime.fromtimestamp(unix, UTC).isoformat()
                for origin, unix in account.mismatch
            },
        )
    # Accounts gone or fixed are forgotten, so the set stays as small as the list.
    return seen
