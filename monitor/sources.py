"""What the daemon keeps per source between polls: the last results, counters and memo, and
how that becomes the source's part of a snapshot."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from monitor.config import AccountLabel, SourceConfig, Thresholds
from monitor.errors import Outcome
from monitor.evaluate import evaluate, next_crossing
from monitor.parse import AccountMemo
from monitor.poll import PollResult
from monitor.polllog import MismatchKey
from monitor.snapshot import SourceSnapshot
from monitor.upstream import UpstreamClient


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
